"""Classify tab: one image, any backbone, top-k chart, latency and model facts."""

from __future__ import annotations

from html import escape

import gradio as gr

from tlweb.catalog import CLASSIFICATION, ZERO_SHOT_CLASSIFICATION, ModelSpec
from tlweb.config import Settings, get_settings
from tlweb.engine.inference import task
from tlweb.engine.listing import list_for_pickers, resolve
from tlweb.engine.zeroshot import is_zero_shot
from tlweb.errors import TlwebError
from tlweb.ui import model_state
from tlweb.ui.components import (
    TabHandle,
    for_session,
    image_input,
    intro,
    model_picker,
    need_image,
    picked_model,
    user_errors,
)
from tlweb.ui.failures import error_html, replace_on_error
from tlweb.viz import cards
from tlweb.viz.classify import topk_bar
from tlweb.viz.common import message_figure
from tlweb.viz.uncertainty import synthetic_backbone_note

REUSE = ("This is the knowledge that transfer learning reuses: the *Fine-tune* tab swaps the head for your own "
         "classes.")
INTRO = ("**What you see:** a pretrained model used exactly as downloaded — no training on your data. The bars are "
         "its top guesses among the classes it learned. " + REUSE)


def intro_for(spec: ModelSpec | None) -> str:
    """The intro for the selected model: what it was (or was not) pretrained on."""
    if spec is None:
        return INTRO
    name = f"*{spec.key}*"
    if spec.task == ZERO_SHOT_CLASSIFICATION:
        return (f"**What you see:** {name} learned from pictures paired with their captions, so it scores the picture "
                "against whatever labels you type: zero-shot classification, no training on your classes"
                + (" (this demo copy has random weights: its scores are noise)." if spec.random_weights else "."))
    if spec.random_weights:
        return (f"**What you see:** {name} is a tiny demo model with **random weights**: it was never trained, so "
                "its bars are noise — it only shows how the page works. Pick a model marked ✓ cached (or download "
                "one) to see what pretraining buys.")
    if spec.source == "demo":
        return (f"**What you see:** {name} is a tiny model pretrained here on {spec.pretrained_on}. It knows only "
                "those shapes, so on a photo it names the shape that looks most alike. " + REUSE)
    if spec.source == "run":
        return (f"**What you see:** {name} was fine-tuned in this app (Fine-tune tab): its bars are its guesses "
                "among the classes you trained it on.")
    if spec.source == "catalog":
        on = spec.pretrained_on or "its training data"
        classes = "the 1,000 ImageNet classes" if "ImageNet" in on else "the classes"
        return (f"**What you see:** {name}, pretrained on {on}, used exactly as downloaded — no training on your "
                f"data. The bars are its top guesses among {classes} it learned. " + REUSE)
    return (f"**What you see:** `{spec.hub_id}` used exactly as it was saved — no training on your data. The bars "
            "are its top guesses among the classes it was trained on.")


def classify_choices(settings: Settings) -> list[tuple[str, str]]:
    """Classifiers and zero-shot classifiers (CLIP, SigLIP) in one list: the catalog first, then the
    demo models, then the runs fine-tuned here as their own group."""
    order = {"catalog": 0, "demo": 1, "run": 3}
    specs = list_for_pickers(CLASSIFICATION, settings) + list_for_pickers(ZERO_SHOT_CLASSIFICATION, settings)
    return model_state.labelled_choices(sorted(specs, key=lambda s: order.get(s.source, 2)), settings)


def picked_model_or_none(choice, custom):
    return (custom or "").strip() or choice


def facts_markdown(result) -> str:
    """Top-1, latency and model facts as a compact card (HTML inside Markdown)."""
    spec = result.spec
    top = result.predictions[0]
    latency = cards.latency(result.latency_ms, result.device, result.dtype, digits=1)
    if result.cold_latency_ms is not None:  # this call loaded the model: both timings, labelled
        latency = cards.Html(f"{latency} warm · first call {result.cold_latency_ms:,.1f} ms "
                             "<span style='opacity:.7'>(cold: one-time set-up)</span>")
    rows = [
        ("latency", latency),
        ("model", spec.hub_id if spec.source in ("catalog", "hub") else spec.key),
        ("family", spec.family),
        ("parameters", cards.parameters(result.params)),
        ("input size", f"{spec.input_size or '?'} px"),
        ("pretrained on", spec.pretrained_on or "see the model card"),
        ("licence", spec.license),
    ]
    notes = cards.model_notes(spec.random_weights, result.evicted)
    if spec.source == "demo" and not spec.random_weights:
        # a photo from the user is never one of the generated shapes this backbone learned
        shapes = synthetic_backbone_note(spec.pretrained_on, data_is_generated=False)
        notes.insert(0, "ℹ️ " + (shapes or f"Tiny demo model pretrained on {spec.pretrained_on}: "
                                           "it only knows those classes."))
    headline = f"<div class='tl-top1'>{escape(top.label)} <span>{top.score * 100:.1f}%</span></div>"
    return headline + "\n<div class='tl-tech'>" + cards.facts_card(rows, code=("model",), notes=notes) + "</div>"


def _spec(choice, custom, settings: Settings) -> ModelSpec | None:
    try:
        return resolve(picked_model(choice, custom), task=CLASSIFICATION, settings=settings)
    except TlwebError:
        return None


def empty_outputs(sentence: str):
    """What a failed run leaves: the sentence in place of the chart and the facts."""
    return message_figure("No result: " + sentence), error_html(sentence)


def build(settings: Settings | None = None) -> TabHandle:
    settings = settings or get_settings()
    choices = classify_choices(settings)
    first = model_state.first_ready(choices)
    intro_md = intro(intro_for(_spec(first, "", settings)))
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            image = image_input("classify-image", height=340)
        with gr.Column(scale=6):
            with gr.Row():
                model, custom = model_picker(CLASSIFICATION, settings, "classify", label="Backbone", value=first)
                model.choices = choices  # with the zero-shot models (CLIP, SigLIP), in their groups
            state_html, download = model_state.state_row("classify")
            labels = gr.Textbox(label="Labels for this zero-shot model, comma-separated (softmax for CLIP, a sigmoid "
                                "per label for SigLIP)", value="", placeholder="e.g. cat, dog, car", max_lines=1,
                                elem_id="classify-labels", visible=False)
            with gr.Row():
                k = gr.Slider(1, 20, value=5, step=1, label="Top-k", elem_id="classify-topk", scale=3)
                button = gr.Button("Classify", variant="primary", elem_id="classify-btn", scale=1)
            plot = gr.Plot(value=message_figure("Upload an image and press Classify"), label="Top-k predictions",
                           elem_id="classify-plot")
            facts = gr.Markdown(elem_id="classify-facts")

    @user_errors(toast=False)
    def run(image_path, choice, custom_id, top_k, label_text=None, progress=gr.Progress()):
        need_image(image_path)
        name = picked_model(choice, custom_id)
        model_state.build_demo_models([name], CLASSIFICATION, settings, progress)
        if is_zero_shot(name, settings):
            result = task(ZERO_SHOT_CLASSIFICATION).run(image_path, name, settings=settings, labels=label_text,
                                                        top_k=int(top_k))
        else:
            result = task(CLASSIFICATION).run(image_path, name, settings=settings, top_k_n=int(top_k))
        name = result.spec.key if result.spec.source != "catalog" else result.spec.hub_id
        return topk_bar(result.predictions, title=f"Top-{len(result.predictions)} · {name}"), facts_markdown(result)

    event = gr.on([button.click, image.upload], run, inputs=[image, model, custom, k, labels], outputs=[plot, facts],
                  api_name="classify")
    replace_on_error(event, run, [plot, facts], empty_outputs, api_name="classify_failed")
    model.focus(for_session(lambda: gr.update(choices=classify_choices(settings))), outputs=[model],
                api_name="classify_models", queue=False)
    gr.on([model.change, custom.change],
          for_session(lambda c, t: gr.update(visible=is_zero_shot(picked_model_or_none(c, t), settings))),
          inputs=[model, custom], outputs=[labels], api_name="classify_zero_shot", queue=False)
    gr.on([model.change, custom.blur, custom.submit], for_session(lambda c, t: intro_for(_spec(c, t, settings))),
          inputs=[model, custom], outputs=[intro_md], api_name="classify_intro", queue=False, show_progress="hidden")
    model_state.wire([model], custom, CLASSIFICATION, settings, "classify", state_html, download,
                     [(model, lambda: classify_choices(settings))])
    return TabHandle(button=button, image=image, model=model, custom_model=custom, outputs={"plot": plot, "facts": facts})


if __name__ == "__main__":
    from tlweb.ui.serving import launch_single

    launch_single("classify", build)
