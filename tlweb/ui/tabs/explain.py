"""Explain tab: where a classifier looks — Grad-CAM, attention and rollout, occlusion, feature maps — one
small map per layer, the random-weights sanity check, and the same picture before and after fine-tuning.

The model runs once per click; the result (small grids) stays in ``gr.State`` so the opacity slider only
re-draws. :func:`preset` fills the tab from another tab ("Explain this image" on Classify or on a run's
mistakes gallery): wire a button to it with the handle's :data:`PRESET_PORTS` as outputs and select the tab.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from tlweb.catalog import CLASSIFICATION
from tlweb.config import Settings, get_settings
from tlweb.engine.explain import (
    all_methods,
    before_after,
    before_after_methods,
    describe,
    explain,
    find_method,
    get_method,
)
from tlweb.engine.images import load_image
from tlweb.engine.listing import run_specs
from tlweb.engine.runs import short_model
from tlweb.ui import model_state
from tlweb.ui.components import (
    TabHandle,
    for_session,
    image_input,
    intro,
    lenient,
    model_choices,
    model_input,
    model_picker,
    need_image,
    nothing_yet,
    picked_model,
    refresh_choices,
    report_download,
    user_errors,
    wire_report,
)
from tlweb.viz.classify import topk_bar
from tlweb.viz.common import message_figure
from tlweb.viz.explain import (
    before_after_figure,
    channel_grid,
    facts_html,
    layer_strip,
    overlay,
    pca_image,
    side_by_side,
)

TITLE = "Explain"
INTRO = (
    "**What you see:** *where* a classifier looks when it decides — as a heat map over your picture (red = "
    "important), and one small map per layer so you can watch what the backbone computes from the pixels up. "
    "Pretrained backbones already know edges, textures and parts; fine-tuning reuses them. Tick *randomize weights* "
    "to check that a map shows what the model learned rather than the picture's edges, and open *Before / after "
    "fine-tuning* to see what training on your images changed about where the model looks."
)
SANITY_HELP = "Same architecture, random weights (Adebayo et al., 2018): a faithful map changes."
BEFORE_AFTER_INTRO = (
    "Pick a model you fine-tuned in the *Fine-tune* tab: the same picture goes through the model it started from "
    "and through the fine-tuned one, side by side, each explaining its own top class. The correlation of the two "
    "maps says how much fine-tuning moved where the model looks (1 = not at all)."
)
MEAN_HEADS = "mean of the heads"
TOP1 = "top-1"
STATE_SIDE = 1280  # the photo kept for re-drawing at most this large


@dataclass
class ExplainTab:
    """The tab's own components (``TabHandle.parts``: the tab's wiring and tests; other tabs use the handle)."""

    image: gr.Image
    model: gr.Dropdown
    custom: gr.Textbox
    method: gr.Radio
    layer: gr.Slider
    auto_layer: gr.Checkbox
    head: gr.Dropdown
    target: gr.Dropdown
    opacity: gr.Slider
    random_weights: gr.Checkbox
    button: gr.Button
    overlay: gr.Image
    strip: gr.Image
    channels: gr.Image
    pca: gr.Image
    top5: gr.Plot
    facts: gr.HTML
    run: gr.Dropdown
    ba_method: gr.Radio
    ba_button: gr.Button
    ba_view: gr.Image
    ba_plot: gr.Plot
    ba_facts: gr.HTML


PRESET_PORTS = ("image", "model", "custom_model", "inputs.run")  # what :func:`preset` fills


def preset(handle: TabHandle, image, model=None, custom=None, run=None) -> dict:
    """Updates that put ``image`` and ``model`` into this tab (another tab's "Explain this image" button),
    keyed by ``handle``'s components (its :data:`PRESET_PORTS`).

    ``model`` is a dropdown value (catalog/demo key or a fine-tuned run's key); ``custom`` a typed Hub id
    or folder; ``run`` (a fine-tuned run) also preselects the before/after picker — give a run's key as
    ``model`` and ``run`` from a mistakes gallery. The lists are refreshed, so a run made after the page
    loaded is accepted; the model and the run picker are left as they are when not given."""
    settings = get_settings()
    values = {handle.image: gr.update(value=image), handle.custom_model: gr.update(value=custom or "")}
    if model:
        values[handle.model] = gr.update(value=model, choices=model_choices(CLASSIFICATION, settings))
    if run:
        values[handle.inputs["run"]] = gr.update(value=run, choices=_run_choices(settings))
    return values


def _choices(records) -> list[tuple[str, str]]:
    """(label, key) of Explain methods, as a Radio lists them: the engine's records, in their order."""
    return [(m.label, m.key) for m in records]


def _method_help(key) -> str:
    record = find_method(key)
    return record.help if record else ""


def _default_model(settings: Settings) -> str | None:
    keys = [value for _, value in model_choices(CLASSIFICATION, settings)]
    for key in ("demo-vit-shapes", "vit-base"):
        if key in keys:
            return key
    return keys[0] if keys else None


def _run_choices(settings: Settings) -> list[tuple[str, str]]:
    return [(spec.label, spec.key) for spec in run_specs(settings) if spec.task == CLASSIFICATION]


def render(state: dict | None, opacity: float):
    """(overlay, strip, channels, PCA) from the stored result; no model runs."""
    if not state:
        return None, None, gr.update(), gr.update()
    res, img = state["result"], state["image"]
    main = overlay(img, res.map, opacity)
    strip = layer_strip(img, res.strip, opacity, selected=res.layer) if res.strip else None
    hidden = gr.update(value=None, visible=False)
    channels = gr.update(value=channel_grid(res.channels), visible=True) if res.channels else hidden
    pca = (gr.update(value=pca_image(res.pca, res.width, res.height, max_side=480), visible=True)
           if res.pca is not None else hidden)
    return main, strip, channels, pca


def _layer_update(n_layers: int, value: int | None = None):
    top = max(1, n_layers - 1)
    return gr.update(minimum=0, maximum=top, value=top if value is None else value, interactive=n_layers > 1)


def _head_update(heads: int | None, value=None):
    if not heads:
        return gr.update(choices=[MEAN_HEADS], value=MEAN_HEADS, interactive=False)
    choices = [MEAN_HEADS] + [f"head {i}" for i in range(heads)]
    return gr.update(choices=choices, value=value if value in choices else MEAN_HEADS, interactive=True)


def _head_value(choice) -> int | None:
    return int(str(choice).split()[-1]) if choice and str(choice).startswith("head ") else None


def _pickers(settings: Settings):
    """Model and method side by side, at the top of the results column (in view at 1366×768, presenter mode too)."""
    with gr.Row(equal_height=False):
        with gr.Column(min_width=240):
            model, custom = model_picker(CLASSIFICATION, settings, "explain", label="Classifier",
                                         value=_default_model(settings),
                                         info="demo-vit-shapes and demo-resnet-shapes learned six generated shapes; "
                                              "the other demo models are random.")
        method = gr.Radio(_choices(all_methods()), value="gradcam", label="Method", elem_id="explain-method")
    return model, custom, method


def _settings_rows():
    """Layer, head, class, opacity and the sanity check, under the picture (the method's explanation first)."""
    method_help = gr.Markdown(get_method("gradcam").help, elem_id="explain-method-help", elem_classes=["tl-intro"])
    with gr.Row():
        # its bounds follow the picked model; any number passes (ignored on "default layer", else checked by the engine)
        layer = lenient(gr.Slider(0, 11, value=11, step=1, label="Layer (0 = nearest the pixels)",
                                  elem_id="explain-layer", scale=3))
        auto_layer = gr.Checkbox(True, label="method's default layer", elem_id="explain-auto-layer", scale=1,
                                 min_width=120)
    with gr.Row():
        head = gr.Dropdown([MEAN_HEADS], value=MEAN_HEADS, label="Attention head", elem_id="explain-head",
                           interactive=False)
        target = gr.Dropdown([TOP1], value=TOP1, label="Class to explain", elem_id="explain-target",
                             allow_custom_value=True, info="The model's top-5 after a run, or type a class.")
    with gr.Row():
        opacity = gr.Slider(0.0, 1.0, value=0.55, step=0.05, label="Map opacity", elem_id="explain-opacity", scale=3)
        random_weights = gr.Checkbox(False, label="randomize weights (sanity check)", elem_id="explain-random",
                                     info=SANITY_HELP, scale=2)
    return method_help, layer, auto_layer, head, target, opacity, random_weights


def _before_after_section(settings: Settings):
    with gr.Accordion("Before / after fine-tuning", open=False, elem_id="explain-ba"):
        gr.Markdown(BEFORE_AFTER_INTRO, elem_classes=["tl-intro"])
        with gr.Row():
            runs = _run_choices(settings)
            run = model_input(gr.Dropdown(runs, value=runs[0][1] if runs else None, label="Fine-tuned run",
                                          elem_id="explain-run", filterable=True, allow_custom_value=True, scale=3,
                                          info="Models fine-tuned in this app (the Fine-tune tab)."))
            ba_method = gr.Radio(_choices(before_after_methods()), value="gradcam",
                                 label="Method", elem_id="explain-ba-method", scale=2)
            ba_button = gr.Button("Compare before / after", elem_id="explain-ba-btn", scale=1)
        ba_view = gr.Image(label="Base model → fine-tuned model", type="pil", format="png", interactive=False,
                           elem_id="explain-ba-view", height=360, buttons=["download", "fullscreen"])
        ba_plot = gr.Plot(value=message_figure("Pick a run and press Compare", height=220), label="Top-3 of each model",
                          elem_id="explain-ba-plot")
        ba_facts = gr.HTML(elem_id="explain-ba-facts")
    return run, ba_method, ba_button, ba_view, ba_plot, ba_facts


def build(settings: Settings | None = None) -> TabHandle[ExplainTab]:
    settings = settings or get_settings()
    intro(INTRO)
    state = gr.State(None)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            image = image_input("explain-image", height=240)
            method_help, layer, auto_layer, head, target, opacity, random_weights = _settings_rows()
        with gr.Column(scale=7):
            model, custom, method = _pickers(settings)
            button = gr.Button("Explain", variant="primary", elem_id="explain-btn")
            out = gr.Image(label="Map over the picture (ring: the peak)", type="pil", format="png", interactive=False,
                           elem_id="explain-overlay", height=420, buttons=["download", "fullscreen"])
            facts = gr.HTML(elem_id="explain-facts")
    strip = gr.Image(label="Layer by layer (input side first; framed: the layer above)", type="pil", format="png",
                     interactive=False, elem_id="explain-strip", buttons=["download", "fullscreen"])
    with gr.Row(equal_height=False):
        channels = gr.Image(label="Most active channels", type="pil", format="png", interactive=False,
                            elem_id="explain-channels", visible=False)
        pca = gr.Image(label="PCA of the features as RGB", type="pil", format="png", interactive=False,
                       elem_id="explain-pca", visible=False)
    top5 = gr.Plot(value=message_figure("Upload an image and press Explain", height=240), label="The model's top-5",
                   elem_id="explain-top5")
    report_btn, report_file = report_download("explain")
    run, ba_method, ba_button, ba_view, ba_plot, ba_facts = _before_after_section(settings)
    parts = ExplainTab(image, model, custom, method, layer, auto_layer, head, target, opacity, random_weights, button,
                       out, strip, channels, pca, top5, facts, run, ba_method, ba_button, ba_view, ba_plot, ba_facts)
    _wire(parts, state, method_help, settings)

    def report(st):
        from tlweb.viz.report import report_for_explain

        if not st:
            raise nothing_yet("explain a picture")
        return report_for_explain(st["result"], st["image"], settings)

    wire_report(report_btn, report_file, report, [state], "explain_report")
    return TabHandle(button=button, image=image, model=model, custom_model=custom, parts=parts,
                     outputs={"overlay": out, "strip": strip, "top5": top5, "facts": facts},
                     inputs={"run": run, "method": method})


def _wire(h: ExplainTab, state, method_help, settings: Settings) -> None:
    @user_errors
    def run_explain(image_path, choice, custom_id, method, layer, auto, head, target, random_weights, opacity,
                    progress=gr.Progress()):
        need_image(image_path)
        img = load_image(image_path, settings)
        name = picked_model(choice, custom_id)
        model_state.build_demo_models([name], CLASSIFICATION, settings, progress)
        record = get_method(method)  # an unknown method is a sentence before a model is prepared
        progress(0.3, desc=f"{record.name} with {name}: {record.cost}…")
        res = explain(img, name, method, layer=None if auto else int(layer),
                      head=_head_value(head), target=None if target in (None, "", TOP1) else target,
                      random_weights=bool(random_weights), strip=True, settings=settings)
        st = {"result": res, "image": img if max(img.size) <= STATE_SIDE else _shrink(img)}
        main, strip, channels, pca = render(st, opacity)
        name = res.spec.key if res.spec.source != "catalog" else res.spec.hub_id
        labels = [p.label for p in res.predictions]
        chosen = TOP1 if target in (None, "", TOP1) else target
        title = f"Top-{len(labels)} · {name}" + (" · random weights" if res.random_weights else "")
        return (st, main, strip, channels, pca, topk_bar(res.predictions, title=title), facts_html(res),
                _layer_update(len(res.layers), res.layer) if res.layers else gr.update(),
                _head_update(res.num_heads, head), gr.update(choices=[TOP1, *labels], value=chosen))

    gr.on([h.button.click, h.image.upload], run_explain,
          inputs=[h.image, h.model, h.custom, h.method, h.layer, h.auto_layer, h.head, h.target, h.random_weights,
                  h.opacity],
          outputs=[state, h.overlay, h.strip, h.channels, h.pca, h.top5, h.facts, h.layer, h.head, h.target],
          api_name="explain")
    h.opacity.change(render, inputs=[state, h.opacity], outputs=[h.overlay, h.strip, h.channels, h.pca],
                     api_name="explain_render", show_progress="hidden", trigger_mode="always_last")
    h.layer.release(lambda: False, outputs=[h.auto_layer], api_name="explain_layer_picked", queue=False)
    h.method.change(_method_help, inputs=[h.method], outputs=[method_help],
                    api_name="explain_method_help", queue=False)

    def on_model(choice, custom_id):
        """Layer slider and head list for the picked model (quietly nothing when it cannot load yet)."""
        try:
            info = describe(picked_model(choice, custom_id), settings)
        except Exception:  # noqa: BLE001 - the Explain button reports the error in a sentence
            return gr.update(), gr.update(), gr.update(value=TOP1), True
        return (_layer_update(len(info["layers"])) if info["layers"] else gr.update(), _head_update(info["heads"]),
                gr.update(choices=[TOP1, *info["labels"][:50]], value=TOP1), True)

    gr.on([h.model.change, h.custom.submit], for_session(on_model), inputs=[h.model, h.custom],
          outputs=[h.layer, h.head, h.target, h.auto_layer], api_name="explain_model_info")
    h.model.focus(lambda: refresh_choices(CLASSIFICATION, settings), outputs=[h.model], api_name="explain_models",
                  queue=False)
    h.run.focus(for_session(lambda: gr.update(choices=_run_choices(settings))), outputs=[h.run], api_name="explain_runs",
                queue=False)

    @user_errors
    def run_before_after(image_path, run, method, opacity):
        need_image(image_path)
        if not run:
            raise gr.Error("Fine-tune a model in the Fine-tune tab first, then pick it here.")
        img = load_image(image_path, settings)
        ba = before_after(img, run, method, settings=settings)
        small = img if max(img.size) <= STATE_SIDE else _shrink(img)
        view = side_by_side(overlay(small, ba.base.map, opacity), overlay(small, ba.tuned.map, opacity),
                            (f"before · {ba.base.target} · {short_model(ba.base_model)}",
                             f"after · {ba.tuned.target} · {_run_name(ba.run, settings)}"))
        return view, before_after_figure(ba), _before_after_facts(ba)

    h.ba_button.click(run_before_after, inputs=[h.image, h.run, h.ba_method, h.opacity],
                      outputs=[h.ba_view, h.ba_plot, h.ba_facts], api_name="explain_before_after")


def _run_name(run_id: str, settings: Settings) -> str:
    """A run's short readable name ("demo-resnet-shapes · linear · 14:02") for captions; its id stays in the facts."""
    from tlweb.engine.runs import find_run, run_title

    folder = find_run(run_id, settings)
    return run_title(folder) if folder is not None else run_id


def _shrink(img):
    from PIL import Image

    s = STATE_SIDE / max(img.size)
    return img.resize((max(1, round(img.size[0] * s)), max(1, round(img.size[1] * s))), Image.Resampling.BILINEAR,
                      reducing_gap=3.0)


def _before_after_facts(ba) -> str:
    from html import escape

    sim = "— (a map is flat)" if ba.similarity is None else f"<b>{ba.similarity:.2f}</b>"
    rows = [("method", escape(get_method(ba.tuned.method).name)),
            ("map correlation", f"{sim} <span style='opacity:.7'>(1 = fine-tuning did not move where it looks)</span>"),
            ("before", f"{escape(ba.base_model)} explains <b>{escape(ba.base.target)}</b>"
                       + (f" · {escape(ba.base.layer_info.label)}" if ba.base.layer_info else "")),
            ("after", f"{escape(ba.run)} explains <b>{escape(ba.tuned.target)}</b>"
                      + (f" · {escape(ba.tuned.layer_info.label)}" if ba.tuned.layer_info else ""))]
    cells = "".join(f"<div class='k'>{k}</div><div class='v'>{v}</div>" for k, v in rows)
    notes = "".join(f"<p class='tl-note'>ℹ️ {escape(n)}</p>" for n in dict.fromkeys(ba.base.notes + ba.tuned.notes))
    return f"<div class='tl-facts'>{cells}</div>{notes}"


if __name__ == "__main__":
    from tlweb.ui.serving import launch_single

    launch_single(TITLE, build)
