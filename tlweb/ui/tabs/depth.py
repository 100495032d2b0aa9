"""Depth tab: how far away each pixel is, as a depth model guesses it from one picture.

A colour-mapped depth picture (near = bright) beside the photo, the same map as a 3-D surface, and the
model's facts. The task runs through its record (``task(DEPTH).run(...)``, :mod:`tlweb.engine.inference`).
"""

from __future__ import annotations

import gradio as gr

from tlweb.assets import scene_images
from tlweb.catalog import DEPTH
from tlweb.config import Settings, get_settings
from tlweb.engine.images import load_image
from tlweb.engine.inference import task
from tlweb.ui import components as ui
from tlweb.ui import model_state
from tlweb.viz import cards
from tlweb.viz.common import message_figure
from tlweb.viz.depth import depth_picture, depth_surface

INTRO = (
    "**What you see:** a depth model guesses *how far away every pixel is* from a single photo — no second "
    "camera, no laser. Near things are painted bright, far things dark, and the 3-D surface lifts the near parts "
    "toward you. DPT and Depth Anything reuse a ViT backbone pretrained on images with a new depth head: transfer "
    "learning from recognising things to placing them in space. The demo model learned on generated scenes whose "
    "depth is known (the scene examples below); try it on a photo too, and see what it did not learn."
)
DISPLAY_SIDE = 960  # the depth picture is shown at most this large (the engine keeps the image's size)


def facts_html(result) -> str:
    """The model's facts and what its numbers mean."""
    f = result.summary()
    out = result.output
    meaning = out.axis_title + ("" if out.unit else ", in the model's own units") + (f" — {out.note}" if out.note else "")
    rows = [
        ("latency", cards.latency(f["latency_ms"], f["device"], f["dtype"])),
        ("family", f["family"]),
        ("parameters", cards.parameters(f["params"])),
        ("values", meaning),
        ("range", f"{result.depth_min:.3g} … {result.depth_max:.3g}" + (f" {out.unit}" if out.unit else "")),
        ("image", f"{result.width}×{result.height} px (depth map at full size)"),
        ("pretrained on", f["pretrained_on"] or "see the model card"),
        ("licence", f["license"]),
    ]
    return cards.facts_card(rows, notes=cards.model_notes(result.spec.random_weights, f["evicted"], noise="depths"))


def _examples(image: gr.Image) -> None:
    scenes = [str(p) for p in scene_images()]
    if scenes:
        gr.Examples(examples=[[p] for p in scenes], inputs=[image], label="Generated scenes (depth known)",
                    examples_per_page=6, elem_id="depth-scene-examples")
    ui.image_examples(image)


def build(settings: Settings | None = None) -> ui.TabHandle:
    settings = settings or get_settings()
    ui.intro(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            image = ui.image_input("depth-image", height=250, examples=False)
            choices = ui.model_choices(DEPTH, settings)
            with gr.Row(equal_height=True):
                model = ui.model_input(gr.Dropdown(choices=choices, value=model_state.first_ready(choices),
                                                   label="Depth model", elem_id="depth-model", filterable=True,
                                                   scale=4))
                button = gr.Button("Estimate depth", variant="primary", elem_id="depth-btn", scale=0, min_width=140)
            state_html, download = model_state.state_row("depth")
            custom = ui.other_model_box(settings, "depth-custom-model", "depth-anything/Depth-Anything-V2-Small-hf")
            _examples(image)
        with gr.Column(scale=7):
            picture = gr.Image(label="Depth (bright = near)", type="pil", format="png", interactive=False,
                               elem_id="depth-output", height=360, buttons=["download", "fullscreen"])
            surface = gr.Plot(value=message_figure("Upload an image and press Estimate depth"),
                              label="Depth as a 3-D surface", elem_id="depth-plot")
            facts = gr.HTML(elem_id="depth-facts", elem_classes=["tl-tech"])

    @ui.user_errors
    def run(image_path, choice, custom_id, progress=gr.Progress()):
        ui.need_image(image_path)
        img = load_image(image_path, settings)
        name = ui.picked_model(choice, custom_id)
        model_state.build_demo_models([name], DEPTH, settings, progress)
        result = task(DEPTH).run(img, name, settings=settings)
        return depth_picture(result, max_side=DISPLAY_SIDE), depth_surface(result), facts_html(result)

    gr.on([button.click, image.upload], run, inputs=[image, model, custom], outputs=[picture, surface, facts],
          api_name="depth")
    model_state.wire([model], custom, DEPTH, settings, "depth", state_html, download,
                     [(model, lambda: ui.model_choices(DEPTH, settings))])
    return ui.TabHandle(button=button, image=image, model=model, custom_model=custom,
                        outputs={"picture": picture, "plot": surface, "facts": facts})


if __name__ == "__main__":
    from tlweb.ui.serving import launch_single

    launch_single("depth", build)
