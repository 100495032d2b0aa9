"""Compare tab: the same images through 2–6 backbones; accuracy signals, cost and agreement."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from tlweb.catalog import CLASSIFICATION
from tlweb.config import Settings, get_settings
from tlweb.engine.compare import MAX_MODELS, MIN_MODELS, PRESETS, iter_compare, parse_models, preset_models
from tlweb.errors import clip
from tlweb.ui import model_state
from tlweb.ui.components import (
    TabHandle,
    example_copies,
    example_images,
    intro,
    model_choices,
    model_input,
    nothing_yet,
    refresh_choices,
    report_download,
    user_errors,
    wire_report,
)
from tlweb.ui.failures import error_html, replace_on_error
from tlweb.viz.common import message_figure
from tlweb.viz.compare import agreement_heatmap, confidence_bars, latency_vs_params

INTRO = (
    "**What you see:** the same images through several pretrained backbones at once, each model classifying the "
    "whole set in one batch: what each predicts, how sure it is, whether the models agree — and what each costs: "
    "parameters, GFLOPs per image (torch's FLOP counter), latency per image (median of warm runs) and peak memory."
)

COLUMNS = ["model", "family", "params (M)", "GFLOPs / image", "latency ms / image", "batch ms",
           "prep ms / image", "peak MB", "input px", "top-1 per image", "error"]
WIDTHS = ["11%", "8%", "7%", "8%", "8%", "6%", "7%", "6%", "6%", "20%", "13%"]


def _num(x, nd: int = 2):
    return None if x is None else round(float(x), nd)


def _sig(x, digits: int = 3):
    if x is None:
        return None
    x = float(x)
    return round(x, 2) if x >= 10 else float(f"{x:.{digits}g}")


def _first_sentence(text: str) -> str:
    """The table shows an error's first sentence; the status line above it has the whole message."""
    text = text.strip()
    for i, ch in enumerate(text):
        if ch in ".!?" and (i + 1 == len(text) or text[i + 1] == " ") and not text[max(0, i - 3):i].endswith(("e.g", "i.e")):
            return text[: i + 1]
    return text


def table_rows(result: dict) -> list[list]:
    """The results table: one row per model (failed ones keep their row with the error)."""
    images = result.get("images", [])
    rows = []
    for m in result.get("models", []):
        tops = []
        for image, preds in zip(images, m.get("predictions") or []):
            if preds:
                tops.append(f"{image}: {preds[0]['label']} {preds[0]['score'] * 100:.0f}%")
        rows.append([
            m.get("name") or m["model"],
            m.get("family") or "",
            None if m.get("params") is None else _sig(m["params"] / 1e6),
            _sig(m.get("gflops")),
            _num(m.get("latency_ms")),
            _num(m.get("batch_ms")),
            _num(m.get("preprocess_ms")),
            _num(m.get("peak_memory_mb"), 1),
            m.get("input_size"),
            "; ".join(tops),
            _first_sentence(m.get("error") or ""),
        ])
    return rows


def table_value(result: dict | None):
    import pandas as pd

    return pd.DataFrame(table_rows(result) if result else [], columns=COLUMNS)


def agreement_markdown(result: dict) -> str:
    per_image = (result.get("agreement") or {}).get("per_image") or []
    ok = len((result.get("agreement") or {}).get("models") or [])
    if ok < 2 or not per_image:
        return ""
    lines = ["**Who agrees on each image** (top-1 label):", ""]
    for item in per_image:
        groups = item.get("groups") or []
        if not groups:
            continue
        if item.get("all_agree"):
            lines.append(f"- **{item['image']}**: all {ok} models say *{groups[0]['label']}*")
            continue
        parts = [f"*{g['label']}* ({', '.join(g['models'])})" for g in groups]
        lead = groups[0]
        head = (f"{len(lead['models'])} of {ok} agree on *{lead['label']}*" if len(lead["models"]) > 1
                else f"no two of the {ok} models agree")
        lines.append(f"- **{item['image']}**: {head} — " + "; ".join(parts))
    return "\n".join(lines)


def status_markdown(message: str, result: dict, finished: bool, demo_rows: bool) -> str:
    lines = [f"**{message}**" if finished else f"Working… {message}"]
    failed = [m for m in result.get("models", []) if m.get("error")]
    if failed:
        lines.append(f"⚠️ {len(failed)} model(s) could not run (the others were compared):")
        lines.extend(f"&nbsp;&nbsp;• `{clip(m['model'])}`: {m['error']}" for m in failed)  # a name as typed, clipped
    evicted = result.get("evicted") or []
    if evicted:
        lines.append(f"ℹ️ Unloaded {', '.join(evicted)} to stay within the model memory budget "
                     "(TLWEB_MODEL_BUDGET_MB); they load again when needed.")
    if finished and result.get("models"):
        dev = next((m["device"] for m in result["models"] if m.get("device")), None)
        n = len(result.get("images", []))
        if dev:
            dtype = next((m["dtype"] for m in result["models"] if m.get("dtype")), "")
            lines.append(f"Latency: forward pass only, median of warm runs on **{dev}** ({dtype}), batch of {n} "
                         "image(s) divided by the number of images; preprocessing is timed separately. "
                         "GFLOPs (a multiply-add counts as 2; model cards often quote GMACs, half that) and peak "
                         "memory (weights + activations) are for one image.")
    cold = [m.get("name") or m["model"] for m in result.get("models", [])
            if finished and not m.get("error") and m.get("latency_warm") is False]
    if cold:
        lines.append(f"ℹ️ {', '.join(cold)}: one batch pass filled the timing budget, so its latency is that single "
                     "pass (after a one-image warm-up), not a median.")
    if demo_rows:
        lines.append("⚠️ *Demo models are tiny and (but for demo-resnet-shapes) carry random weights: their labels "
                     "and confidences say nothing about your images; the costs are real.*")
    return "  \n".join(lines)


def _default_models(settings: Settings, choices: list[tuple[str, str]] | None = None) -> list[str]:
    try:
        picks = preset_models("cnn-vs-vit", settings)
    except Exception:  # noqa: BLE001 - a default must never stop the app
        picks = []
    if len(picks) >= 5:
        picks = [picks[0], picks[1], picks[3], picks[4]]  # two CNNs, two ViTs
    choices = choices if choices is not None else model_choices(CLASSIFICATION, settings)
    ready = [value for label, value in choices if "· ✓" in label]
    if len(picks) < MIN_MODELS or (len(ready) >= MIN_MODELS and not set(picks) <= set(ready)):
        picks = (ready if len(ready) >= MIN_MODELS else [value for _, value in choices])[:4]
    return picks


def empty_outputs(sentence: str):
    """What a failed run leaves: the sentence, an empty table and charts that say why."""
    blank = message_figure("No result: " + sentence)
    return error_html(sentence), table_value(None), blank, blank, blank, ""


def _paths(files) -> list[str]:
    if not files:
        return []
    if isinstance(files, (str, Path)):
        files = [files]
    out = []
    for f in files:
        path = f if isinstance(f, (str, Path)) else getattr(f, "path", None) or getattr(f, "name", None)
        if isinstance(f, dict):
            path = f.get("path") or f.get("name")
        if path:
            out.append(str(path))
    return out


def _wire_images(images, preview, example_btn) -> None:
    """The preview strip follows the uploads; the example button fills in the example photos."""

    def show_preview(files):
        paths = _paths(files)
        return gr.update(value=paths, visible=bool(paths))

    images.change(show_preview, inputs=[images], outputs=[preview], api_name="compare_preview", queue=False)
    example_btn.click(example_copies, outputs=[images], api_name="compare_examples", queue=False)


def build(settings: Settings | None = None) -> TabHandle:
    settings = settings or get_settings()
    intro(INTRO)
    choices = model_choices(CLASSIFICATION, settings)
    with gr.Row(equal_height=False):
        with gr.Column(scale=6):
            models = model_input(gr.Dropdown(
                choices=choices,
                value=_default_models(settings, choices),
                multiselect=True,
                max_choices=MAX_MODELS,
                label=f"Backbones ({MIN_MODELS}–{MAX_MODELS})",
                info="✓ runs here now · ⬇ needs a download; demo models are tiny, most with random weights.",
                elem_id="compare-models",
                filterable=True,
            ))
            custom = gr.Textbox(
                label="…and/or Hugging Face model ids" + ("" if settings.shared else " or local folders")
                      + ", comma-separated",
                placeholder="e.g. google/vit-base-patch16-224" + ("" if settings.shared else ", ./my-model"),
                elem_id="compare-custom-models",
                max_lines=1,
                elem_classes=["tl-tech"],
            )
            state_html, download = model_state.state_row("compare")
            with gr.Row():
                preset_buttons = {
                    name: gr.Button(text, size="sm", elem_id=f"compare-preset-{name}")
                    for name, text in PRESETS.items()
                }
        with gr.Column(scale=5):
            images = gr.File(
                file_count="multiple",
                file_types=["image"],
                label=f"Images (one or more, up to {settings.max_images})",
                elem_id="compare-images",
                height=150,
            )
            with gr.Row(equal_height=True):
                example_btn = gr.Button("Use the example images", size="sm", elem_id="compare-examples-btn",
                                        visible=bool(example_images()))
            with gr.Row(equal_height=True):  # the main button stays in view without scrolling
                k = gr.Slider(1, 10, value=3, step=1, label="Top-k per image", elem_id="compare-topk", scale=3)
                button = gr.Button("Compare", variant="primary", elem_id="compare-btn", scale=1)
            preview = gr.Gallery(label="Images to compare", columns=6, height=120, rows=1, object_fit="cover",
                                 interactive=False, elem_id="compare-preview", show_label=False,
                                 allow_preview=False, visible=False)
    status = gr.Markdown(elem_id="compare-status")
    table = gr.Dataframe(value=table_value(None), label="Results (one row per model)", interactive=False,
                         wrap=True, line_breaks=True, elem_id="compare-table", max_height=900,
                         column_widths=WIDTHS, elem_classes=["tl-tech"])
    with gr.Row(equal_height=True):
        latency_plot = gr.Plot(value=message_figure("Pick backbones and images, then press Compare"),
                               label="Latency vs parameters", elem_id="compare-latency-plot")
        confidence_plot = gr.Plot(value=message_figure("Top-1 confidence appears here"),
                                  label="Top-1 confidence", elem_id="compare-confidence-plot")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3):
            agreement_plot = gr.Plot(value=message_figure("Agreement between models appears here"),
                                     label="Agreement", elem_id="compare-agreement-plot")
        with gr.Column(scale=2):
            agreement_text = gr.Markdown(elem_id="compare-agreement-text")
    state = gr.State(None)  # the last result and its pictures (the report reads them)
    report_btn, report_file = report_download("compare")

    @user_errors(toast=False)
    def run(files, chosen, custom_text, top_k, progress=gr.Progress()):
        paths = _paths(files)
        if not paths:
            raise gr.Error("Upload one or more images first (or press “Use the example images”).")
        names = parse_models(list(chosen or []) + parse_models(custom_text))
        model_state.build_demo_models(names, CLASSIFICATION, settings, progress)
        demo_rows = any(str(n).startswith("demo-") for n in names)
        for step in iter_compare(paths, names, int(top_k), settings):
            result = step.result.as_dict()
            confidence = confidence_bars(result)
            values = {status: status_markdown(step.message, result, step.finished, demo_rows),
                      table: table_value(result),
                      latency_plot: latency_vs_params(result, height=confidence.layout.height),  # same height
                      confidence_plot: confidence, agreement_plot: agreement_heatmap(result),
                      agreement_text: agreement_markdown(result)}
            yield {**values, state: {"result": result, "images": paths}} if step.finished else values

    shown = [status, table, latency_plot, confidence_plot, agreement_plot, agreement_text]
    event = button.click(run, inputs=[images, models, custom, k], outputs=[*shown, state], api_name="compare")
    replace_on_error(event, run, shown, empty_outputs, api_name="compare_failed")  # the last good result stays
    model_state.wire([models], custom, CLASSIFICATION, settings, "compare", state_html, download,
                     [(models, lambda: model_choices(CLASSIFICATION, settings))])

    _wire_images(images, preview, example_btn)

    for name, btn in preset_buttons.items():
        def pick(name=name):
            return preset_models(name, settings)

        btn.click(user_errors(pick), outputs=[models], api_name=f"compare_preset_{name.replace('-', '_')}",
                  queue=False)
    models.focus(lambda: refresh_choices(CLASSIFICATION, settings), outputs=[models], api_name="compare_models",
                 queue=False)

    def report(st):
        from tlweb.viz.report import report_for_compare

        if not st:
            raise nothing_yet("compare some backbones")
        return report_for_compare(st["result"], st["images"], settings)

    wire_report(report_btn, report_file, report, [state], "compare_report")
    return TabHandle(button=button, image=images, model=models, custom_model=custom, state=state,
                     outputs={"status": status, "table": table, "latency": latency_plot, "confidence": confidence_plot,
                              "agreement": agreement_plot})


if __name__ == "__main__":
    from tlweb.ui.serving import launch_single

    launch_single("compare", build)
