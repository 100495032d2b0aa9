"""Detect tab: boxes with labels and scores; closed-set detectors or zero-shot from typed queries.

The model runs once per click and keeps every box down to a low score floor in
``gr.State``; moving the threshold slider only re-filters and re-draws.
"""

from __future__ import annotations

from html import escape

import gradio as gr

from tlweb.catalog import DETECTION, ZERO_SHOT_DETECTION
from tlweb.config import Settings, get_settings
from tlweb.engine.detect import Box, count_by_label, default_threshold, is_zero_shot
from tlweb.engine.images import load_image
from tlweb.engine.inference import task
from tlweb.engine.listing import resolve
from tlweb.errors import TlwebError
from tlweb.ui import model_state
from tlweb.ui.components import (
    TabHandle,
    for_session,
    image_examples,
    image_input,
    intro,
    model_choices,
    model_input,
    need_image,
    nothing_yet,
    other_model_box,
    picked_model,
    report_download,
    user_errors,
    wire_report,
)
from tlweb.ui.failures import error_html, replace_on_error
from tlweb.viz import cards
from tlweb.viz.common import message_figure
from tlweb.viz.detect import COUNT_HEADERS, box_colors, count_rows, counts_figure, draw_boxes, summary_html

INTRO = (
    "**What you see:** a detector pretrained on COCO (80 everyday object classes) boxes each object it finds, with "
    "its label and confidence. *Zero-shot* detectors (OWLv2, OWL-ViT) learned to match image regions with text, so "
    "they look for whatever you type — transfer from language to vision. The threshold hides boxes scored below it."
)
SCORE_FLOOR = 0.01  # boxes kept for the slider (the slider cannot go lower)
STATE_SIDE = 1600
DISPLAY_MIN = 960  # smaller pictures are enlarged to this for display, so they fill the panel


def detector_choices(settings: Settings) -> list[tuple[str, str]]:
    return model_choices(DETECTION, settings) + model_choices(ZERO_SHOT_DETECTION, settings)


def _zero_shot_choice(choice: str | None, custom: str | None, settings: Settings) -> bool | None:
    """Whether the picked model reads text queries (None when it cannot be told before loading)."""
    name = (custom or "").strip() or choice
    if not name:
        return None
    try:
        spec = resolve(name, task=DETECTION, settings=settings)
    except TlwebError:
        return None
    if spec.source == "hub":
        return True if "owl" in spec.hub_id.lower() else None
    return is_zero_shot(spec)


def make_state(image, result) -> dict:
    s = min(1.0, STATE_SIDE / max(image.size))
    display = image if s >= 1.0 else image.resize((max(1, round(image.width * s)), max(1, round(image.height * s))))
    spec = result.spec
    return {
        "image": display,
        "scale": s,
        "boxes": [b.as_dict() for b in result.boxes],
        "colors": box_colors(result.boxes),
        "name": spec.key if spec.source != "hub" else spec.hub_id,
        "zero_shot": result.zero_shot,
        "queries": list(result.queries),
        "facts": result.summary(size=f"{result.width}×{result.height}"),
    }


def _boxes(state: dict, threshold: float, display: bool = False) -> list[Box]:
    s = state["scale"] if display else 1.0
    return [Box(b["label"], b["score"], tuple(v * s for v in b["xyxy"]), b["label_id"]) for b in state["boxes"]
            if b["score"] >= threshold]


def render(state: dict | None, threshold: float):
    """(image with boxes, count rows, chart, summary HTML) from the stored result; no model runs."""
    if not state:
        return None, [], message_figure("Upload an image and press Detect"), ""
    threshold = float(threshold)
    kept = _boxes(state, threshold, display=True)
    img = draw_boxes(state["image"], kept, colors=state["colors"], min_side=DISPLAY_MIN)
    rows = count_rows(count_by_label(kept))
    all_boxes = _boxes(state, 0.0)
    fig = counts_figure(all_boxes, threshold, colors=state["colors"],
                        title=f"{state['name']} · {len(kept)} of {len(all_boxes)} candidate boxes kept")
    summary = summary_html(all_boxes, threshold)
    hidden = img.info.get("hidden_labels", 0)
    if hidden:
        summary += (f"<div class='tl-note' style='font-size:0.85em;opacity:0.75'>{hidden} label{'s' if hidden != 1 else ''}"
                    " left off where they would overlap: the box colours match the table and the chart.</div>")
    return img, rows, fig, summary


def facts_html(state: dict) -> str:
    f = state["facts"]
    kind = ("zero-shot: looks for " + ", ".join(f"“{q}”" for q in state["queries"]) if state["zero_shot"]
            else "closed set: the classes it was trained on")
    rows = [
        ("latency", cards.latency(f["latency_ms"], f["device"], f["dtype"])),
        ("model", cards.Html(f"<code>{escape(state['name'])}</code> ({escape(f['family'])})")),
        ("kind", kind),
        ("parameters", cards.parameters(f["params"])),
        ("pretrained on", f["pretrained_on"] or "see the model card"),
        ("image", f["size"] + " px (boxes in these pixels)"),
        ("licence", f["license"]),
    ]
    return cards.facts_card(rows, notes=cards.model_notes(f["source"] == "demo", f["evicted"], noise="boxes"),
                            compact=True)


def empty_outputs(sentence: str):
    """What a failed run leaves: no boxes, counts or facts; the sentence where the summary goes."""
    return None, None, [], message_figure("No result: " + sentence), error_html(sentence), ""


def _controls(settings: Settings, choices, first, first_zs):
    """The detector dropdown with the Detect button beside it (in view without scrolling), the
    queries, the state row and the free-text box folded away."""
    with gr.Row(equal_height=True):
        model = model_input(gr.Dropdown(choices=choices, value=first, label="Detector", elem_id="detect-model",
                                        filterable=True, scale=4))
        button = gr.Button("Detect", variant="primary", elem_id="detect-btn", scale=0, min_width=104)
    queries = gr.Textbox(label="What to look for (zero-shot models only)", value="cat, remote control, person",
                         placeholder="comma-separated, e.g. cat, remote control, sofa",
                         elem_id="detect-queries", max_lines=2, interactive=first_zs is not False,
                         info=_queries_info(first_zs))
    state_html, download = model_state.state_row("detect")
    custom = other_model_box(settings, "detect-custom-model", "facebook/detr-resnet-50", "./my-detector")
    return model, button, queries, custom, state_html, download


def build(settings: Settings | None = None) -> TabHandle:
    settings = settings or get_settings()
    intro(INTRO)
    state = gr.State(None)
    choices = detector_choices(settings)
    first = model_state.first_ready(choices)
    first_zs = _zero_shot_choice(first, "", settings)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5, min_width=320):
            image = image_input("detect-image", height=250, examples=False)
            model, button, queries, custom, state_html, download = _controls(settings, choices, first, first_zs)
            image_examples(image)
        with gr.Column(scale=7):
            summary = gr.HTML(elem_id="detect-summary")
            output = gr.Image(label="Detections", type="pil", format="png", interactive=False, elem_id="detect-output",
                              height=460, buttons=["download", "fullscreen"])
            threshold = gr.Slider(SCORE_FLOOR, 1.0, value=default_threshold(bool(first_zs)), step=0.01,
                                  label="Score threshold (boxes below it are hidden)", elem_id="detect-threshold")
            table = gr.Dataframe(headers=COUNT_HEADERS, value=[], label="Boxes per label at this threshold",
                                 elem_id="detect-table", interactive=False, datatype=["str", "number", "number", "number"],
                                 elem_classes=["tl-tech"])
            plot = gr.Plot(value=message_figure("Upload an image and press Detect"), label="Counts and scores",
                           elem_id="detect-plot")
            facts = gr.HTML(elem_id="detect-facts", elem_classes=["tl-tech"])
            report_btn, report_file = report_download("detect")

    @user_errors(toast=False)
    def run(image_path, choice, custom_id, query_text, threshold_value, progress=gr.Progress()):
        need_image(image_path)
        img = load_image(image_path, settings)
        name = picked_model(choice, custom_id)
        model_state.build_demo_models([name], DETECTION, settings, progress)
        # one runner serves closed-set and zero-shot detectors (it tells them apart by the model)
        result = task(DETECTION).run(img, name, settings=settings, queries=query_text,
                                     threshold=float(threshold_value), min_score=SCORE_FLOOR)
        st = make_state(img, result)
        st["report"] = {"result": result, "image": img}  # what the report draws (full size)
        shown, rows, fig, head = render(st, threshold_value)
        return st, shown, rows, fig, head, facts_html(st)

    @user_errors
    def rerender(st, threshold_value):
        if not st:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip()
        return render(st, threshold_value)

    def model_changed(choice, custom_id):
        zs = _zero_shot_choice(choice, custom_id, settings)
        update_threshold = gr.skip() if zs is None else gr.update(value=default_threshold(zs))
        return gr.update(interactive=zs is not False, info=_queries_info(zs)), update_threshold

    outputs = [state, output, table, plot, summary, facts]
    event = gr.on([button.click, image.upload], run, inputs=[image, model, custom, queries, threshold],
                  outputs=outputs, api_name="detect")
    replace_on_error(event, run, outputs, empty_outputs, api_name="detect_failed")
    gr.on([threshold.change], rerender, inputs=[state, threshold], outputs=[output, table, plot, summary],
          api_name="detect_render", show_progress="hidden", trigger_mode="always_last")
    gr.on([model.change, custom.blur], for_session(model_changed), inputs=[model, custom], outputs=[queries, threshold],
          api_name="detect_model_kind", queue=False, show_progress="hidden")
    model.focus(for_session(lambda: gr.update(choices=detector_choices(settings))), outputs=[model],
                api_name="detect_models",
                queue=False)  # detectors fine-tuned since the page loaded appear in the list
    model_state.wire([model], custom, DETECTION, settings, "detect", state_html, download,
                     [(model, lambda: detector_choices(settings))])

    def report(st, threshold_value):
        from tlweb.viz.report import report_for_detect

        if not st or "report" not in st:
            raise nothing_yet("detect objects in a picture")
        return report_for_detect(st["report"]["result"], st["report"]["image"], float(threshold_value), settings)

    wire_report(report_btn, report_file, report, [state, threshold], "detect_report")
    return TabHandle(button=button, image=image, model=model, custom_model=custom, state=state,
                     outputs={"image": output, "table": table, "plot": plot, "summary": summary, "facts": facts},
                     inputs={"queries": queries, "threshold": threshold})


def _queries_info(zero_shot: bool | None) -> str:
    if zero_shot is False:
        return "This detector has a fixed set of classes; text queries need OWLv2 or OWL-ViT."
    return "Comma-separated phrases; the model scores every box against each one."


if __name__ == "__main__":
    from tlweb.ui.serving import launch_single

    launch_single("detect", build)
