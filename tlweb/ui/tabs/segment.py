"""Segment tab: every pixel gets a class; colour overlay, legend with area shares, two models side by side.

The models run once per click; the raw result (display-sized label maps, class shares) stays
in ``gr.State`` so moving the opacity slider, ticking classes on and off or switching to the
panoptic view only re-draws the overlay.
"""

from __future__ import annotations

from html import escape

import gradio as gr

from tlweb.catalog import SEGMENTATION
from tlweb.config import Settings, get_settings
from tlweb.engine.images import load_image
from tlweb.engine.inference import task
from tlweb.ui import components as ui
from tlweb.ui import model_state
from tlweb.ui.failures import error_html, replace_on_error
from tlweb.viz import cards
from tlweb.viz.common import message_figure
from tlweb.viz.segment import assign_colors, color_list, downscale_pair, legend_html, overlay, share_bar

INTRO = (
    "**What you see:** a segmentation model gives *every pixel* one of the classes it learned (ADE20k: 150 kinds of "
    "scenes and objects — wall, sky, person, car …), painted over your photo, with each class's share of the image. "
    "Its backbone was pretrained on image classification and reused with a segmentation head: transfer learning at "
    "the pixel level. A second model shows two architectures side by side."
)
VIEW_CLASSES = "classes"
VIEW_PANOPTIC = "panoptic segments"
STATE_SIDE = 1280  # label maps kept for re-drawing at most this large (the engine keeps full size)
DISPLAY_MIN = 960  # smaller pictures are enlarged to this for display, so they fill the panel
NONE_CHOICE = ("— none —", "")


def _model_name(result) -> str:
    spec = result.spec
    return spec.key if spec.source != "hub" else spec.hub_id


def make_state(image, results) -> dict:
    """What re-drawing needs, at display size: the photo, each model's label map and classes."""
    models = []
    display = None
    for r in results:
        display, lm = downscale_pair(image, r.label_map, STATE_SIDE, DISPLAY_MIN)
        pan = None
        if r.panoptic_map is not None:
            _, pan = downscale_pair(image, r.panoptic_map, STATE_SIDE, DISPLAY_MIN)
        models.append({
            "name": _model_name(r),
            "label_map": lm,
            "classes": [(c.id, c.name, c.share) for c in r.classes],
            "segments": None if r.segments is None else [(s.id, s.label, s.score, s.share) for s in r.segments],
            "panoptic": pan,
            "facts": r.summary(num_classes=len(r.class_names), size=f"{r.width}×{r.height}"),
        })
    order: dict[str, float] = {}
    for m in models:
        for _, name, share in m["classes"]:
            order[name] = max(order.get(name, 0.0), share)
    names = sorted(order, key=lambda n: -order[n])
    return {"image": display, "models": models, "colors": assign_colors(names), "class_order": names}


def _panoptic_view(state: dict, m: dict, opacity: float):
    segs = m["segments"] or []
    cols = color_list(max(1, len(segs)))
    colors = {sid: cols[i] for i, (sid, *_rest) in enumerate(segs)}
    img = overlay(state["image"], m["panoptic"], colors, opacity)
    rows = [(f"{label} #{i + 1} ({score:.2f})", cols[i], share, True) for i, (_, label, score, share) in enumerate(segs)]
    note = None if segs else "No confident segments (score ≥ 0.5): this model's panoptic head found no object."
    return img, rows, note


def render_views(state: dict | None, opacity: float, shown, view: str = VIEW_CLASSES):
    """(overlay A, overlay B or None, legend HTML) from the stored result; no model runs."""
    if not state:
        return None, None, legend_html([], note="Run a model first.")
    shown_set = set(shown) if shown is not None else set(state["class_order"])
    images, legends = [], []
    for m in state["models"]:
        if view == VIEW_PANOPTIC and m["segments"] is not None:
            img, rows, note = _panoptic_view(state, m, opacity)
            title = f"{m['name']} · panoptic segments"
        else:
            colors = {cid: state["colors"][name] for cid, name, _ in m["classes"]}
            visible = {cid for cid, name, _ in m["classes"] if name in shown_set}
            img = overlay(state["image"], m["label_map"], colors, opacity, visible=visible)
            rows = [(name, state["colors"][name], share, name in shown_set) for _, name, share in m["classes"]]
            hidden = sum(1 for r in rows if not r[3])
            note = f"{hidden} class{'es' if hidden != 1 else ''} hidden." if hidden else None
            title = m["name"] if len(state["models"]) > 1 else None
        images.append(img)
        legends.append(legend_html(rows, title=title, note=note))
    html = "".join(f"<div style='flex:1 1 320px;min-width:0'>{lg}</div>" for lg in legends)
    return images[0], images[1] if len(images) > 1 else None, f"<div style='display:flex;gap:18px;flex-wrap:wrap'>{html}</div>"


def facts_html(state: dict, pending: str | None = None) -> str:
    """Each model's facts side by side (a column per model; ``pending``: a second model still running)."""
    facts = [m["facts"] for m in state["models"]]
    keys = [
        ("latency", lambda f: cards.latency(f["latency_ms"], f["device"], f["dtype"])),
        ("family", lambda f: f["family"]),
        ("parameters", lambda f: cards.parameters(f["params"])),
        ("classes known", lambda f: str(f["num_classes"])),
        ("pretrained on", lambda f: f["pretrained_on"] or "see the model card"),
        ("image", lambda f: f["size"] + " px (mask at full size)"),
        ("licence", lambda f: f["license"]),
    ]
    columns = [m["name"] for m in state["models"]]
    running = []
    if pending:
        columns.append(cards.Html(f"<span style='opacity:.6'>{escape(pending)} …</span>"))
        running = [cards.Html("<span style='opacity:.6'>running…</span>")]
    rows = [(label, [fn(f) for f in facts] + running) for label, fn in keys]
    notes = cards.model_notes(any(f["source"] == "demo" for f in facts), [e for f in facts for e in f["evicted"]],
                              noise="masks")
    return cards.facts_card(rows, columns=columns, notes=notes)


def share_figure(state: dict):
    series = [(m["name"], [(name, share) for _, name, share in m["classes"]]) for m in state["models"]]
    title = "Share of the image per class" + (" · both models" if len(series) > 1 else "")
    return share_bar(series, state["colors"], title=title)


def empty_outputs(sentence: str):
    """What a failed run leaves: no overlays, no legend or classes, the sentence in their place."""
    return (None, gr.update(value=None, label="Segmentation"), gr.update(value=None, visible=False),
            legend_html([], note=sentence), gr.update(choices=[], value=[]), gr.update(visible=False),
            message_figure("No result: " + sentence), error_html(sentence))


def _picker(settings: Settings):
    """The model dropdown, the Segment button beside it (in view without scrolling) and the
    free-text box folded away."""
    choices = ui.model_choices(SEGMENTATION, settings)
    with gr.Row(equal_height=True):
        model = ui.model_input(gr.Dropdown(choices=choices, value=model_state.first_ready(choices),
                                           label="Segmentation model", elem_id="segment-model", filterable=True,
                                           scale=4))
        button = gr.Button("Segment", variant="primary", elem_id="segment-btn", scale=0, min_width=104)
    model_b = ui.model_input(gr.Dropdown(choices=[NONE_CHOICE, *choices], value="", label="Compare with (optional)",
                                         elem_id="segment-model-b", filterable=True))
    state_html, download = model_state.state_row("segment")
    custom = ui.other_model_box(settings, "segment-custom-model", "nvidia/segformer-b0-finetuned-ade-512-512")
    return model, button, model_b, custom, state_html, download


def build(settings: Settings | None = None) -> ui.TabHandle:
    settings = settings or get_settings()
    ui.intro(INTRO)
    state = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            image = ui.image_input("segment-image", height=250, examples=False)
            model, button, model_b, custom, state_html, download = _picker(settings)
            ui.image_examples(image)
        with gr.Column(scale=7):
            with gr.Row(equal_height=True):
                out_a = gr.Image(label="Segmentation", type="pil", format="png", interactive=False, elem_id="segment-output",
                                 height=440, buttons=["download", "fullscreen"])
                out_b = gr.Image(label="Second model", type="pil", format="png", interactive=False, elem_id="segment-output-b",
                                 height=440, visible=False, buttons=["download", "fullscreen"])
            with gr.Row():
                opacity = gr.Slider(0.0, 1.0, value=0.55, step=0.05, label="Mask opacity", elem_id="segment-opacity",
                                    scale=3)
                view = gr.Radio([VIEW_CLASSES, VIEW_PANOPTIC], value=VIEW_CLASSES, label="Colour by",
                                elem_id="segment-view", visible=False, scale=2)
            legend = gr.HTML(legend_html([], note="Upload an image and press Segment."), elem_id="segment-legend")
            shown = ui.lenient_choices(gr.CheckboxGroup(choices=[], value=[], label="Classes shown (untick to hide one)",
                                                     elem_id="segment-classes", elem_classes=["tl-tech"]))
            plot = gr.Plot(value=message_figure("Upload an image and press Segment"), label="Area per class",
                           elem_id="segment-plot")
            facts = gr.HTML(elem_id="segment-facts", elem_classes=["tl-tech"])
            report_btn, report_file = ui.report_download("segment")

    def _outputs(st, opacity_value, pending=None):
        a, b, lg = render_views(st, opacity_value, None, VIEW_CLASSES)
        names = st["class_order"]
        has_pan = any(m["segments"] is not None for m in st["models"])
        two = len(st["models"]) > 1 or pending is not None
        return (
            st,
            gr.update(value=a, label=st["models"][0]["name"]),
            gr.update(value=b, visible=two, label=st["models"][1]["name"] if len(st["models"]) > 1 else (pending or "")),
            lg,
            gr.update(choices=names, value=names),
            gr.update(visible=has_pan, value=VIEW_CLASSES),
            share_figure(st),
            facts_html(st, pending),
        )

    @ui.user_errors(toast=False)
    def run(image_path, choice, custom_id, choice_b, opacity_value, progress=gr.Progress()):
        ui.need_image(image_path)
        img = load_image(image_path, settings)
        first = ui.picked_model(choice, custom_id)
        second = (choice_b or "").strip() or None
        model_state.build_demo_models([first] + ([second] if second else []), SEGMENTATION, settings, progress)
        results = [task(SEGMENTATION).run(img, first, settings=settings)]
        st = make_state(img, results)
        if second:
            yield _outputs(st, opacity_value, pending=second)
            results.append(task(SEGMENTATION).run(img, second, settings=settings))
            st = make_state(img, results)
        st["report"] = {"results": results, "image": img}  # what the report draws (full size)
        yield _outputs(st, opacity_value)

    @ui.user_errors
    def rerender(st, opacity_value, shown_names, view_value):
        if not st:
            return gr.skip(), gr.skip(), gr.skip()
        a, b, lg = render_views(st, opacity_value, shown_names, view_value)
        return a, gr.update(value=b) if b is not None else gr.skip(), lg

    outputs = [state, out_a, out_b, legend, shown, view, plot, facts]
    event = gr.on([button.click, image.upload], run, inputs=[image, model, custom, model_b, opacity],
                  outputs=outputs, api_name="segment")
    replace_on_error(event, run, outputs, empty_outputs, api_name="segment_failed")
    gr.on([opacity.change, shown.input, view.input], rerender, inputs=[state, opacity, shown, view],
          outputs=[out_a, out_b, legend], api_name="segment_render", show_progress="hidden",
          trigger_mode="always_last")
    model.focus(lambda: ui.refresh_choices(SEGMENTATION, settings), outputs=[model], api_name="segment_models",
                queue=False)  # segmenters fine-tuned since the page loaded appear in the list
    model_state.wire([model, model_b], custom, SEGMENTATION, settings, "segment", state_html, download,
                     [(model, lambda: ui.model_choices(SEGMENTATION, settings)),
                      (model_b, lambda: [NONE_CHOICE, *ui.model_choices(SEGMENTATION, settings)])])

    def report(st):
        from tlweb.viz.report import report_for_segment

        if not st or "report" not in st:
            raise ui.nothing_yet("segment a picture")
        return report_for_segment(st["report"]["results"], st["report"]["image"], settings)

    ui.wire_report(report_btn, report_file, report, [state], "segment_report")
    return ui.TabHandle(button=button, image=image, model=model, custom_model=custom, state=state,
                     outputs={"overlay": out_a, "overlay_b": out_b, "legend": legend, "plot": plot, "facts": facts})


if __name__ == "__main__":
    from tlweb.ui.serving import launch_single

    launch_single("segment", build)
