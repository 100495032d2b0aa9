"""Classify tab: one image, any backbone, top-k chart, latency and model facts."""

from __future__ import annotations

from html import escape

import gradio as gr

from tlweb.catalog import CLASSIFICATION, ZERO_SHOT_CLASSIFICATION
from tlweb.config import Settings, get_settings
from tlweb.engine.classify import classify
from tlweb.engine.zeroshot import classify_labels, is_zero_shot
from tlweb.ui.components import (
    TabHandle,
    for_session,
    image_input,
    intro,
    model_choices,
    model_picker,
    picked_model,
    user_errors,
)
from tlweb.viz import cards
from tlweb.viz.classify import topk_bar
from tlweb.viz.common import message_figure

INTRO = (
    "**What you see:** a model pretrained on ImageNet, used exactly as downloaded — no training on your data. "
    "The bars are its top guesses among the 1,000 ImageNet classes it learned. This is the knowledge that "
    "transfer learning reuses: the *Fine-tune* tab swaps the head for your own classes."
)


def picked_model_or_none(choice, custom):
    return (custom or "").strip() or choice


def facts_markdown(result) -> str:
    """Top-1, latency and model facts as a compact card (HTML inside Markdown)."""
    spec = result.spec
    top = result.predictions[0]
    rows = [
        ("latency", cards.latency(result.latency_ms, result.device, result.dtype, digits=1)),
        ("model", spec.hub_id if spec.source in ("catalog", "hub") else spec.key),
        ("family", spec.family),
        ("parameters", cards.parameters(result.params)),
        ("input size", f"{spec.input_size or '?'} px"),
        ("pretrained on", spec.pretrained_on or "see the model card"),
        ("licence", spec.license),
    ]
    notes = cards.model_notes(spec.random_weights, result.evicted)
    if spec.source == "demo" and not spec.random_weights:
        notes.insert(0, f"ℹ️ Tiny demo model pretrained on {spec.pretrained_on}: it only knows those classes.")
    headline = f"<div class='tl-top1'>{escape(top.label)} <span>{top.score * 100:.1f}%</span></div>"
    return headline + "\n" + cards.facts_card(rows, code=("model",), notes=notes)


def build(settings: Settings | None = None) -> TabHandle:
    settings = settings or get_settings()
    intro(INTRO)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            image = image_input("classify-image", height=340)
        with gr.Column(scale=6):
            with gr.Row():
                model, custom = model_picker(CLASSIFICATION, settings, "classify", label="Backbone")
                model.choices = model.choices + model_choices(ZERO_SHOT_CLASSIFICATION, settings)  # CLIP, SigLIP
            labels = gr.Textbox(label="Labels for this zero-shot model, comma-separated (softmax for CLIP, a sigmoid "
                                "per label for SigLIP)", value="", placeholder="e.g. cat, dog, car", max_lines=1,
                                elem_id="classify-labels", visible=False)
            with gr.Row():
                k = gr.Slider(1, 20, value=5, step=1, label="Top-k", elem_id="classify-topk", scale=3)
                button = gr.Button("Classify", variant="primary", elem_id="classify-btn", scale=1)
            plot = gr.Plot(value=message_figure("Upload an image and press Classify"), label="Top-k predictions",
                           elem_id="classify-plot")
            facts = gr.Markdown(elem_id="classify-facts")

    @user_errors
    def run(image_path, choice, custom_id, top_k, label_text=None):
        if image_path is None:
            raise gr.Error("Upload, paste or capture an image first (or click an example).")
        name = picked_model(choice, custom_id)
        if is_zero_shot(name, settings):
            result = classify_labels(image_path, name, label_text, top_k=int(top_k), settings=settings)
        else:
            result = classify(image_path, name, int(top_k), settings)
        name = result.spec.key if result.spec.source != "catalog" else result.spec.hub_id
        return topk_bar(result.predictions, title=f"Top-{len(result.predictions)} · {name}"), facts_markdown(result)

    gr.on([button.click, image.upload], run, inputs=[image, model, custom, k, labels], outputs=[plot, facts],
          api_name="classify")
    model.focus(for_session(lambda: gr.update(choices=model_choices(CLASSIFICATION, settings)
                                              + model_choices(ZERO_SHOT_CLASSIFICATION, settings))),
                outputs=[model], api_name="classify_models", queue=False)
    gr.on([model.change, custom.change], lambda c, t: gr.update(visible=is_zero_shot(picked_model_or_none(c, t), settings)),
          inputs=[model, custom], outputs=[labels], api_name="classify_zero_shot", queue=False)
    return TabHandle(button=button, image=image, model=model, custom_model=custom, outputs={"plot": plot, "facts": facts})


if __name__ == "__main__":
    from tlweb.ui.app import launch_single

    launch_single("classify", build)
