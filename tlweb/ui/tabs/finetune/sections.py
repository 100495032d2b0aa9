"""The Fine-tune tab's sections, one builder each: data, backbone + strategy, train, results, the
strategy comparison (ladder and data-efficiency curve) and runs. Each returns a small dataclass of
its components; :func:`tlweb.ui.tabs.finetune.build` wires them to the handlers."""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from tlweb.catalog import CLASSIFICATION
from tlweb.config import Settings
from tlweb.ui import model_state
from tlweb.ui.components import SafeImage, model_input, model_picker, report_download
from tlweb.ui.tabs.finetune.helpers import (
    BATCH_CHOICES,
    EPOCH_CHOICES,
    FIRST_SLOTS,
    LR_CHOICES,
    N_SLOTS,
    SHOTS,
    SOURCES,
    status_html,
    strategy_choices,
)
from tlweb.viz import training as tv
from tlweb.viz.common import message_figure


def section(num: int, title: str, text: str) -> None:
    """A step's numbered badge, title and one-sentence explanation (styled by :mod:`tlweb.ui.style`)."""
    gr.HTML(f"<div class='ft-sec'><span class='ft-num'>{num}</span><div><h3>{title}</h3><p>{text}</p></div></div>")


def _default_model(choices: list[tuple[str, str]], settings: Settings) -> str | None:
    values = [v for _, v in choices]
    if settings.demo:  # the one demo backbone really pretrained (on other shapes): transfer shows
        for key in ("demo-resnet-shapes", "demo-vit", "demo-resnet"):
            if key in values:
                return key
    for key in ("vit-base", "dinov2-small-linear"):
        if key in values:
            return key
    return values[0] if values else None


# ----------------------------------------------------------------------------------------------
# 1. data


@dataclass
class DataSection:
    source: gr.Radio
    zip_file: gr.File
    hub_id: gr.Textbox
    image_column: gr.Textbox
    label_column: gr.Textbox
    slot_names: list
    slot_files: list
    slot_rows: list
    shown: gr.State
    add_class: gr.Button
    capture: gr.Image
    capture_to: gr.Dropdown
    capture_btn: gr.Button
    zip_box: gr.Group
    hub_box: gr.Group
    classes_box: gr.Column
    load_btn: gr.Button
    counts_plot: gr.Plot
    notes: gr.HTML

    @property
    def inputs(self) -> list:
        """The widgets that say which data, in the order prepare_data takes them."""
        return [self.source, self.zip_file, self.hub_id, self.image_column, self.label_column,
                *self.slot_names, *self.slot_files]

    @staticmethod
    def input_names() -> list[str]:
        return (["source", "zip_file", "hub_id", "image_column", "label_column"]
                + [f"class_{i + 1}_name" for i in range(N_SLOTS)] + [f"class_{i + 1}_images" for i in range(N_SLOTS)])


def _class_slots():
    """The Teachable-Machine style class slots and the webcam capture."""
    gr.Markdown("Name each class and drop a few images into it (5–20 per class is plenty for a linear "
                "probe).", elem_classes=["ft-notes"])
    shown = gr.State(FIRST_SLOTS)
    rows, names, files = [], [], []
    for i in range(N_SLOTS):
        with gr.Row(visible=i < FIRST_SLOTS, equal_height=False) as row:
            names.append(gr.Textbox(label=f"Class {i + 1} name", value="", max_lines=1, scale=2,
                                    placeholder=["e.g. cats", "e.g. dogs"][i] if i < 2 else "",
                                    elem_id=f"ft-class-{i + 1}-name"))
            files.append(gr.File(label=f"Class {i + 1} images", file_count="multiple", file_types=["image"],
                                 value=[], height=120, scale=5, elem_id=f"ft-class-{i + 1}-files"))
        rows.append(row)
    add_class = gr.Button("+ Add a class", size="sm", elem_id="ft-add-class")
    with gr.Accordion("Capture with the webcam", open=False):
        capture = SafeImage(label="Snapshot", sources=["webcam"], height=220, elem_id="ft-capture")
        with gr.Row():
            capture_to = gr.Dropdown([(f"Class {i + 1}", i) for i in range(N_SLOTS)], value=0,
                                     label="Add the snapshot to", scale=2)
            capture_btn = gr.Button("Add snapshot", size="sm", scale=1)
    return shown, rows, names, files, add_class, capture, capture_to, capture_btn


def data_section() -> DataSection:
    section(1, "Your data", "Pick where the images come from, then <b>Load data</b> to check the classes "
            "and how many images each has before training.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            source = gr.Radio(SOURCES, value="sample", label="Data source", elem_id="ft-source",
                              info="The built-in sample works offline with no typing.")
            with gr.Group(visible=False) as zip_box:
                zip_file = gr.File(label="Zip of class folders (train/ and test/ subfolders are used when present)",
                                   file_types=[".zip"], elem_id="ft-zip")
            with gr.Group(visible=False) as hub_box:
                hub_id = gr.Textbox(label="Hugging Face dataset id", placeholder="e.g. beans, cifar10, food101",
                                    elem_id="ft-hub-id", max_lines=1)
                with gr.Row():
                    image_column = gr.Textbox(label="Image column (optional)", placeholder="auto-detected",
                                              max_lines=1, elem_id="ft-image-column")
                    label_column = gr.Textbox(label="Label column (optional)", placeholder="auto-detected",
                                              max_lines=1, elem_id="ft-label-column")
            with gr.Column(visible=False) as classes_box:
                shown, rows, names, files, add_class, capture, capture_to, capture_btn = _class_slots()
            load_btn = gr.Button("Load data", variant="primary", elem_id="ft-load-btn")
        with gr.Column(scale=6):
            counts_plot = gr.Plot(value=message_figure("Press Load data to see images per class", height=320),
                                  label="Images per class", elem_id="ft-counts-plot", show_label=False)
            notes = gr.HTML(elem_id="ft-data-notes")
    return DataSection(source, zip_file, hub_id, image_column, label_column, names, files, rows, shown, add_class,
                       capture, capture_to, capture_btn, zip_box, hub_box, classes_box, load_btn, counts_plot, notes)


# ----------------------------------------------------------------------------------------------
# 2. backbone + strategy


@dataclass
class ModelSection:
    model: gr.Dropdown
    custom: gr.Textbox
    strategy: gr.Radio
    strategy_info: gr.Markdown
    epochs: gr.Dropdown
    batch_size: gr.Dropdown
    lr: gr.Dropdown
    per_class: gr.Number
    next_btn: gr.Button  # the step's primary action: on to step 3
    state_html: gr.HTML  # what the picked backbone needs before it runs (a download) …
    download: gr.Button  # … and the button that fetches it


def model_section(settings: Settings) -> ModelSection:
    from tlweb.engine.train.strategies import get_strategy

    section(2, "Backbone and strategy", "The backbone brings what it learned elsewhere; the strategy decides "
            "how much of it is retrained on your images.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model, custom = model_picker(CLASSIFICATION, settings, "ft", label="Pretrained backbone",
                                         info="Its ImageNet head is replaced by a new one for your classes.")
            default = _default_model(list(model.choices), settings)
            if default:
                model.value = default
            state_html, download = model_state.state_row("ft")
            next_btn = gr.Button("Next: train ▶", variant="primary", elem_id="ft-model-next")
        with gr.Column(scale=6):
            strategy = gr.Radio(strategy_choices(), value="linear", label="Strategy", elem_id="ft-strategy")
            strategy_info = gr.Markdown(get_strategy("linear").explanation, elem_id="ft-strategy-info",
                                        elem_classes=["ft-notes"])
            with gr.Row():
                epochs = gr.Dropdown(EPOCH_CHOICES, value="auto", allow_custom_value=True, label="Epochs",
                                     elem_id="ft-epochs", min_width=100)
                batch_size = gr.Dropdown(BATCH_CHOICES, value="auto", allow_custom_value=True, label="Batch size",
                                         elem_id="ft-batch-size", min_width=100)
                lr = gr.Dropdown(LR_CHOICES, value="auto", allow_custom_value=True, label="Learning rate",
                                 elem_id="ft-lr", min_width=100)
                per_class = gr.Number(value=0, label="Images per class (0 = all)", precision=0, minimum=0,
                                      elem_id="ft-per-class", min_width=120)
    return ModelSection(model, custom, strategy, strategy_info, epochs, batch_size, lr, per_class, next_btn,
                        state_html, download)


# ----------------------------------------------------------------------------------------------
# 3. train, and its results


@dataclass
class TrainSection:
    start_btn: gr.Button
    stop_btn: gr.Button
    status: gr.HTML
    curves: gr.Plot
    task_start_btn: gr.Button  # segmentation / detection: its own button (and queue event), shown for those tasks


def train_section() -> TrainSection:
    section(3, "Train", "Curves update while the model trains; Stop ends it cleanly between steps and keeps the "
            "best model so far (picked on images held out from training; with fewer than 4 images per class, "
            "the latest).")
    with gr.Row():
        start_btn = gr.Button("▶ Start fine-tuning", variant="primary", elem_id="ft-start-btn", scale=3)
        task_start_btn = gr.Button("▶ Start fine-tuning", variant="primary", elem_id="ft-task-start-btn", scale=3,
                                   visible=False)
        stop_btn = gr.Button("■ Stop", variant="stop", elem_id="ft-stop-btn", scale=1)
    status = gr.HTML(status_html("Ready: load data (optional with the sample), pick a strategy, press Start.",
                                 None, "idle"), elem_id="ft-status")
    curves = gr.Plot(value=tv.training_curves([]), elem_id="ft-curves-plot", show_label=False)
    return TrainSection(start_btn, stop_btn, status, curves, task_start_btn)


@dataclass
class ResultsSection:
    metrics: gr.HTML
    hint: gr.HTML
    confusion: gr.Plot
    per_class_plot: gr.Plot
    mistakes: gr.Gallery
    open_btn: gr.Button  # the step's primary action: the run just trained, in the Classify tab


def results_section() -> ResultsSection:
    section(4, "Results", "The test set was never used for training or for picking the epoch: these numbers "
            "say how the model does on images it has not seen.")
    open_btn = gr.Button("Use this model in Classify ▶", variant="primary", elem_id="ft-open-classify")
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            metrics = gr.HTML(elem_id="ft-metrics")
            hint = gr.HTML(elem_id="ft-hint")
        with gr.Column(scale=6):
            confusion = gr.Plot(value=message_figure("The confusion matrix appears after training"),
                                elem_id="ft-confusion-plot", show_label=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            per_class_plot = gr.Plot(value=message_figure("Per-class precision and recall appear after training"),
                                     elem_id="ft-per-class-plot", show_label=False)
        with gr.Column(scale=5):
            mistakes = gr.Gallery(label="Most confident mistakes: true → predicted (confidence)", columns=3,
                                  height=320, elem_id="ft-mistakes", object_fit="contain")
    return ResultsSection(metrics, hint, confusion, per_class_plot, mistakes, open_btn)


# ----------------------------------------------------------------------------------------------
# 4. compare strategies


@dataclass
class CompareSection:
    status: gr.HTML
    ladder_strategies: gr.CheckboxGroup
    ladder_btn: gr.Button
    ladder_plot: gr.Plot
    eff_strategies: gr.CheckboxGroup
    eff_shots: gr.CheckboxGroup
    eff_btn: gr.Button
    eff_plot: gr.Plot
    curves: gr.Plot
    seeds: gr.Radio  # each run repeated with this many seeds: the charts show mean and spread
    ladder_report: tuple = ()  # ("Download report" button, its file)
    eff_report: tuple = ()
    zero_shot: gr.Dropdown | None = None  # the curve's zero-shot baseline (CLIP / SigLIP; "" = none)
    templates: gr.Textbox | None = None  # its prompt templates


SEED_CHOICES = [("1 (fast)", 1), ("3", 3), ("5", 5)]


def zero_shot_choices(settings: Settings) -> tuple[list[tuple[str, str]], str]:
    """(choices, default) of the curve's zero-shot baseline: "none", then every CLIP / SigLIP model
    (catalog, demo) with its state. The default is the first one already on disk with real weights
    (a few seconds for a meaningful line); otherwise none: a download would add minutes, and a demo
    model's random weights would only draw a second line near chance."""
    from tlweb.catalog import ZERO_SHOT_CLASSIFICATION
    from tlweb.engine.availability import model_states
    from tlweb.engine.listing import list_for_pickers

    specs = [s for s in list_for_pickers(ZERO_SHOT_CLASSIFICATION, settings) if s.source != "run"]
    states = model_states(specs, settings)
    choices = [("none", "")] + [(f"{spec.label} · {state.short()}", spec.key) for spec, state in zip(specs, states)]
    default = next((spec.key for spec, state in zip(specs, states) if state.ready and not spec.random_weights), "")
    return choices, default


def compare_section(settings: Settings | None = None) -> CompareSection:
    from tlweb.config import get_settings
    from tlweb.engine.train import DEFAULT_SEEDS
    from tlweb.engine.zeroshot import DEFAULT_TEMPLATES

    section(5, "Compare strategies", "Each strategy on the same split and budget, each run repeated with "
            "several seeds — the clearest picture of what pretraining is worth (data, backbone, settings: steps 1–2).")
    choices = strategy_choices()
    with gr.Row(equal_height=False):
        # each column opens with its button, so both stay in view at 1366×768 (presenter mode too)
        with gr.Column(scale=4, min_width=260):
            ladder_btn = gr.Button("Run the strategy ladder", variant="primary", elem_id="ft-ladder-btn")
            ladder_strategies = gr.CheckboxGroup(choices, value=[v for _, v in choices],
                                                 label="Strategy ladder: test accuracy and macro-F1 of each",
                                                 elem_id="ft-ladder-strategies")
        with gr.Column(scale=4, min_width=260):
            eff_btn = gr.Button("Draw the data-efficiency curve", variant="primary", elem_id="ft-efficiency-btn")
            eff_strategies = gr.CheckboxGroup(choices, value=["linear", "scratch"],
                                              label="Data efficiency: accuracy vs images per class",
                                              elem_id="ft-efficiency-strategies")
            eff_shots = gr.CheckboxGroup([str(s) for s in SHOTS], value=[str(s) for s in SHOTS],
                                         label="Images per class", elem_id="ft-efficiency-shots")
        with gr.Column(scale=3, min_width=220):
            seeds = gr.Radio(SEED_CHOICES, value=DEFAULT_SEEDS, label="Seeds per run", elem_id="ft-seeds",
                             info="One run can be lucky: with 3 seeds each point is a mean, drawn with its "
                                  "min–max spread.")
            zs_choices, zs_default = zero_shot_choices(settings or get_settings())
            zero_shot = model_input(gr.Dropdown(
                zs_choices, value=zs_default, label="Zero-shot baseline (CLIP / SigLIP, optional)",
                info="Classifies the same test images from the class names alone: a dashed "
                     "line on the curve (0 images per class).", elem_id="ft-zero-shot",
                allow_custom_value=True))  # any CLIP/SigLIP Hub id (API callers; checked by the engine)
            with gr.Accordion("Prompt templates of the zero-shot baseline", open=False, elem_classes=["tl-tech"]):
                templates = gr.Textbox(value="\n".join(DEFAULT_TEMPLATES), lines=3, max_lines=8, show_label=False,
                                       info="{} = the class name; one template per line, averaged",
                                       elem_id="ft-zero-shot-templates")
            status = gr.HTML(status_html("Run the ladder or the data-efficiency curve; progress shows here.", None,
                                         "idle"), elem_id="ft-compare-status")
    with gr.Row(equal_height=False):
        with gr.Column():
            ladder_plot = gr.Plot(value=tv.ladder_chart([]), elem_id="ft-ladder-plot", show_label=False)
            ladder_report = report_download("ft-ladder")
        with gr.Column():
            eff_plot = gr.Plot(value=tv.efficiency_curves([]), elem_id="ft-efficiency-plot", show_label=False)
            eff_report = report_download("ft-efficiency")
    with gr.Accordion("Live curves of the comparison runs", open=False):
        curves = gr.Plot(value=tv.training_curves([]), elem_id="ft-compare-curves", show_label=False)
    return CompareSection(status, ladder_strategies, ladder_btn, ladder_plot, eff_strategies, eff_shots, eff_btn,
                          eff_plot, curves, seeds, ladder_report, eff_report, zero_shot=zero_shot, templates=templates)


# ----------------------------------------------------------------------------------------------
# 5. runs


@dataclass
class RunsSection:
    refresh_btn: gr.Button
    run_pick: gr.Dropdown
    table: gr.Dataframe
    curves: gr.Plot
    details: gr.HTML
    export_btn: gr.Button
    export_file: gr.File
    delete_btn: gr.Button
    confirm_box: gr.Group
    confirm_text: gr.HTML
    confirm_yes: gr.Button
    confirm_no: gr.Button
    repo_id: gr.Textbox
    token: gr.Textbox
    private: gr.Checkbox
    push_btn: gr.Button
    push_result: gr.Markdown
    query: gr.Textbox  # filters the list and the table
    open_btn: gr.Button  # the step's primary action: the picked run's model in the Classify tab
    report: tuple = ()  # ("Download report" button, its file): the picked run or experiment
    note: gr.HTML | None = None  # under the action buttons: what was just done ("Deleted the run …")


def _run_actions():
    """Open in its tab (Classify, Segment or Detect), download, delete (with a confirm step); push to the Hub folded away."""
    with gr.Row():
        open_btn = gr.Button("Open in its tab ▶", variant="primary", elem_id="ft-run-open-classify", scale=2)
        export_btn = gr.Button("⬇ Download model (.zip)", elem_id="ft-export-btn", scale=2)
        # its bin is drawn by CSS (tlweb.ui.style.ICONS): an emoji needs a font the machine may not have
        delete_btn = gr.Button("Delete…", elem_id="ft-delete-btn", elem_classes=["tl-icon-trash"], scale=1,
                               min_width=90)
    with gr.Group(visible=False, elem_classes=["ft-confirm"]) as confirm_box:
        confirm_text = gr.HTML(elem_id="ft-delete-question")
        with gr.Row():
            confirm_yes = gr.Button("Yes, delete it", variant="stop", size="sm", elem_id="ft-delete-yes")
            confirm_no = gr.Button("Cancel", size="sm", elem_id="ft-delete-cancel")
    export_file = gr.File(label="Model zip (click the name to save it)", visible=False, height=70,
                          elem_id="ft-export-file", interactive=False)
    note = gr.HTML(elem_id="ft-runs-note")
    return open_btn, export_btn, export_file, delete_btn, confirm_box, confirm_text, confirm_yes, confirm_no, note


def _push():
    with gr.Accordion("Push to the Hugging Face Hub", open=False):
        repo_id = gr.Textbox(label="Repository id", placeholder="your-name/my-classifier", max_lines=1,
                             elem_id="ft-repo-id")
        token = gr.Textbox(label="Access token (write)", type="password", max_lines=1,
                           placeholder="hf_…  (used once, never stored or logged)", elem_id="ft-token")
        private = gr.Checkbox(value=True, label="Private repository")
        push_btn = gr.Button("Push to Hub", elem_id="ft-push-btn")
        push_result = gr.Markdown(elem_id="ft-push-result")
    return repo_id, token, private, push_btn, push_result


def runs_section() -> RunsSection:
    section(6, "Runs", "Every run is saved as a folder (config, events, metrics, model); a ladder or a "
            "data-efficiency curve is one experiment holding its runs (▸: pick it to see them). They survive "
            "restarts. Pick one to see its curves, open it in its tab (Classify, Segment or Detect), download it or "
            "delete it.")
    with gr.Row(equal_height=True):
        query = gr.Textbox(label="Filter", placeholder="e.g. ladder, linear, demo-vit, failed", max_lines=1,
                           elem_id="ft-runs-filter", scale=2)
        run_pick = gr.Dropdown(choices=[], value=None, label="Run or experiment", elem_id="ft-run", scale=4,
                               allow_custom_value=True)
        refresh_btn = gr.Button("↻ Refresh", size="sm", scale=0, min_width=110, elem_id="ft-runs-refresh")
    (open_btn, export_btn, export_file, delete_btn, confirm_box, confirm_text, confirm_yes, confirm_no,
     note) = _run_actions()
    table = gr.Dataframe(headers=tv.RUNS_HEADERS, value=[], interactive=False, elem_id="ft-runs-table",
                         max_height=300, wrap=True)
    with gr.Row(equal_height=False):
        with gr.Column(scale=6):
            curves = gr.Plot(value=message_figure("Pick a run to see its curves"), elem_id="ft-run-curves",
                             show_label=False)
        with gr.Column(scale=4):
            details = gr.HTML(elem_id="ft-run-metrics")
            repo_id, token, private, push_btn, push_result = _push()
            report = report_download("ft-run")
    return RunsSection(refresh_btn, run_pick, table, curves, details, export_btn, export_file, delete_btn, confirm_box,
                       confirm_text, confirm_yes, confirm_no, repo_id, token, private, push_btn, push_result, query,
                       open_btn, report, note)
