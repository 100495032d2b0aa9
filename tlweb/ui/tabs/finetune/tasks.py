"""The Fine-tune tab's task choice and its segmentation / detection sections.

Step 1 opens with "What should the model learn?" (classification, segmentation, detection). Classification
keeps the tab's own sections (:mod:`.sections`); segmentation and detection show the sections here instead,
one set serving both tasks (what differs — data sources' wording, models, strategies — follows the task):
their data (the built-in generated scenes, a zip, a Hugging Face dataset id) with a preview of masks over
images or boxes on images, their model and strategy, and their results (per-class IoU / AP, the worst test
images, before / after on one test image). Training (step 3) and the runs (step 6) are shared.
The handlers are in :mod:`.task_handlers`.
"""

from __future__ import annotations

from dataclasses import dataclass

import gradio as gr

from tlweb.config import Settings
from tlweb.ui.components import model_choices, model_input
from tlweb.ui.tabs.finetune.helpers import BATCH_CHOICES, EPOCH_CHOICES, LR_CHOICES
from tlweb.viz.common import message_figure

CLASSIFICATION = "image-classification"
SEGMENTATION = "image-segmentation"
DETECTION = "object-detection"
TASKS = [("Classification: one label per image", CLASSIFICATION),
         ("Segmentation: a class for every pixel", SEGMENTATION),
         ("Detection: boxes around objects", DETECTION)]
TASK_SOURCES = [("Built-in sample (offline)", "sample"), ("Upload a zip", "zip"), ("Hugging Face dataset id", "hub")]
# the demo models really pretrained on other shapes (transfer shows offline), then the catalog's first
DEFAULT_MODELS = {SEGMENTATION: ("demo-upernet-shapes", "segformer-b0-ade"), DETECTION: ("demo-rtdetr-shapes",)}
DEFAULT_STRATEGY = {SEGMENTATION: "decoder", DETECTION: "head"}
# short settings that finish in about a minute on 2 CPU cores with the demo models on the built-in samples
DEMO_EPOCHS = {SEGMENTATION: "15", DETECTION: "15"}
OPEN_LABEL = {SEGMENTATION: "Use this model in Segment ▶", DETECTION: "Use this model in Detect ▶"}
TEXTS = {
    SEGMENTATION: {
        "data": ("Your masks", "Pictures with masks: each mask pixel holds its class number (255 = ignore). "
                 "<b>Load data</b> shows masks over the pictures and how many images hold each class."),
        "zip": "Zip with images/ + masks/ (same file names; masks as PNG) and labels.txt (line i = class i); "
               "train/ and test/ subfolders are used when present",
        "hub": "e.g. a dataset with an image column and a mask column (annotation, label, semantic_map …)",
        "model": ("Segmenter and strategy", "The segmenter's encoder brings what it learned elsewhere; a new "
                  "head is trained for your classes. <i>decoder</i> keeps the encoder frozen."),
        "results": ("Results", "mIoU on test images the model never trained on; per-class IoU, the worst test "
                    "images (truth | prediction) and one test image before and after fine-tuning."),
    },
    DETECTION: {
        "data": ("Your boxes", "Pictures with boxes (COCO or YOLO). <b>Load data</b> shows the boxes on the "
                 "pictures and how many images hold each class."),
        "zip": "Zip of a COCO dataset (annotations.json or _annotations.coco.json, optionally train/ valid/ test/) "
               "or YOLO labels with classes.txt",
        "hub": "e.g. a dataset with an 'objects' column (bbox in COCO x, y, width, height; category)",
        "model": ("Detector and strategy", "The detector's backbone brings what it learned elsewhere; a new "
                  "class head is trained for your classes. <i>head</i> keeps the backbone frozen."),
        "results": ("Results", "mAP on test images the model never trained on (COCO's own evaluation); "
                    "per-class AP, the worst test images (truth | prediction) and one test image before and "
                    "after fine-tuning."),
    },
}


def header(num: int, title: str, text: str) -> str:
    return f"<div class='ft-sec'><span class='ft-num'>{num}</span><div><h3>{title}</h3><p>{text}</p></div></div>"


def task_picker() -> gr.Radio:
    # no label or info line: the choices say what each task learns, and step 1's Load button stays in view at
    # 1366x768 in presenter mode
    return gr.Radio(TASKS, value=CLASSIFICATION, label="What should the model learn?", show_label=False,
                    elem_id="ft-task", container=False)


def default_model(task: str, settings: Settings) -> tuple[list, str | None]:
    from tlweb.ui.model_state import first_ready

    choices = model_choices(task, settings)
    values = [v for _, v in choices]
    for key in DEFAULT_MODELS.get(task, ()):
        if key in values:
            return choices, key
    return choices, first_ready(choices)


def task_strategies(task: str) -> list[tuple[str, str]]:
    """(label, name) of the task's strategies in its ladder order (the pretrained ones first, scratch last)."""
    from tlweb.engine.train.strategies import get_strategy
    from tlweb.engine.train.tasks import train_task

    return [(get_strategy(n).label, n) for n in train_task(task).strategies]


def strategy_explanation(name: str | None) -> str:
    from tlweb.engine.train.strategies import get_strategy
    from tlweb.errors import TlwebError

    try:
        return get_strategy(name).explanation if name else ""
    except TlwebError:
        return ""


# ----------------------------------------------------------------------------------------------
# 1. data


@dataclass
class TaskDataSection:
    box: gr.Column  # the whole section (shown for segmentation and detection)
    title: gr.HTML
    source: gr.Radio
    zip_file: gr.File
    hub_id: gr.Textbox
    image_column: gr.Textbox
    mask_column: gr.Textbox
    zip_box: gr.Group
    hub_box: gr.Group
    load_btn: gr.Button
    counts_plot: gr.Plot
    notes: gr.HTML
    preview: gr.Gallery

    @property
    def inputs(self) -> list:
        return [self.source, self.zip_file, self.hub_id, self.image_column, self.mask_column]

    @staticmethod
    def input_names() -> list[str]:
        return ["source", "zip_file", "hub_id", "image_column", "mask_column"]


def task_data_section() -> TaskDataSection:
    title, text = TEXTS[SEGMENTATION]["data"]
    with gr.Column(visible=False) as box:
        head = gr.HTML(header(1, title, text), elem_id="ft-task-data-title")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                source = gr.Radio(TASK_SOURCES, value="sample", label="Data source", elem_id="ft-task-source",
                                  info="The built-in sample (generated circles, squares and triangles) works offline.")
                with gr.Group(visible=False) as zip_box:
                    zip_file = gr.File(label=TEXTS[SEGMENTATION]["zip"], file_types=[".zip"], elem_id="ft-task-zip")
                with gr.Group(visible=False) as hub_box:
                    hub_id = gr.Textbox(label="Hugging Face dataset id", placeholder=TEXTS[SEGMENTATION]["hub"],
                                        elem_id="ft-task-hub-id", max_lines=1)
                    with gr.Row():
                        image_column = gr.Textbox(label="Image column (optional)", placeholder="auto-detected",
                                                  max_lines=1, elem_id="ft-task-image-column")
                        mask_column = gr.Textbox(label="Mask column (optional)", placeholder="auto-detected",
                                                 max_lines=1, elem_id="ft-task-mask-column")
                load_btn = gr.Button("Load data", variant="primary", elem_id="ft-task-load-btn")
                notes = gr.HTML(elem_id="ft-task-data-notes")
            with gr.Column(scale=6):
                counts_plot = gr.Plot(value=message_figure("Press Load data to see images per class", height=280),
                                      elem_id="ft-task-counts-plot", show_label=False)
                preview = gr.Gallery(label="Preview: the first training images with their masks", columns=4,
                                     height=230, elem_id="ft-task-preview", object_fit="contain")
    return TaskDataSection(box, head, source, zip_file, hub_id, image_column, mask_column, zip_box, hub_box, load_btn,
                           counts_plot, notes, preview)


# ----------------------------------------------------------------------------------------------
# 2. model + strategy


@dataclass
class TaskModelSection:
    box: gr.Column
    title: gr.HTML
    model: gr.Dropdown
    strategy: gr.Radio
    strategy_info: gr.Markdown
    epochs: gr.Dropdown
    batch_size: gr.Dropdown
    lr: gr.Dropdown
    per_class: gr.Number
    next_btn: gr.Button


def task_model_section(settings: Settings) -> TaskModelSection:
    title, text = TEXTS[SEGMENTATION]["model"]
    choices, value = default_model(SEGMENTATION, settings)
    strategy = DEFAULT_STRATEGY[SEGMENTATION]
    with gr.Column(visible=False) as box:
        head = gr.HTML(header(2, title, text), elem_id="ft-task-model-title")
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                model = model_input(gr.Dropdown(choices=choices, value=value, label="Pretrained model",
                                                elem_id="ft-task-model", filterable=True,
                                                info="Its head is replaced by a new one for your classes."))
                next_btn = gr.Button("Next: train ▶", variant="primary", elem_id="ft-task-model-next")
            with gr.Column(scale=6):
                strat = gr.Radio(task_strategies(SEGMENTATION), value=strategy, label="Strategy",
                                 elem_id="ft-task-strategy")
                info = gr.Markdown(strategy_explanation(strategy), elem_id="ft-task-strategy-info",
                                   elem_classes=["ft-notes"])
                with gr.Row():
                    epochs = gr.Dropdown(EPOCH_CHOICES + ["15", "30"], value=DEMO_EPOCHS[SEGMENTATION] if settings.demo
                                         else "auto", allow_custom_value=True, label="Epochs", elem_id="ft-task-epochs",
                                         min_width=100)
                    batch_size = gr.Dropdown(BATCH_CHOICES, value="auto", allow_custom_value=True, label="Batch size",
                                             elem_id="ft-task-batch-size", min_width=100)
                    lr = gr.Dropdown(LR_CHOICES, value="auto", allow_custom_value=True, label="Learning rate",
                                     elem_id="ft-task-lr", min_width=100)
                    per_class = gr.Number(value=0, label="Images per class (0 = all)", precision=0, minimum=0,
                                          elem_id="ft-task-per-class", min_width=120)
    return TaskModelSection(box, head, model, strat, info, epochs, batch_size, lr, per_class, next_btn)


# ----------------------------------------------------------------------------------------------
# 4. results


@dataclass
class TaskResultsSection:
    box: gr.Column
    title: gr.HTML
    open_btn: gr.Button
    metrics: gr.HTML
    hint: gr.HTML
    per_class_plot: gr.Plot
    worst: gr.Gallery
    before: gr.Image
    after: gr.Image
    ba_note: gr.HTML
    ba_next: gr.Button


def task_results_section() -> TaskResultsSection:
    title, text = TEXTS[SEGMENTATION]["results"]
    with gr.Column(visible=False) as box:
        head = gr.HTML(header(4, title, text), elem_id="ft-task-results-title")
        open_btn = gr.Button(OPEN_LABEL[SEGMENTATION], variant="primary", elem_id="ft-open-task")
        with gr.Row(equal_height=False):
            with gr.Column(scale=4):
                metrics = gr.HTML(elem_id="ft-task-metrics")
                hint = gr.HTML(elem_id="ft-task-hint")
            with gr.Column(scale=6):
                per_class_plot = gr.Plot(value=message_figure("Per-class scores appear after training", height=300),
                                         elem_id="ft-task-per-class-plot", show_label=False)
        with gr.Row(equal_height=False):
            with gr.Column(scale=5):
                worst = gr.Gallery(label="Worst test images: truth | prediction", columns=2, height=320,
                                   elem_id="ft-task-worst", object_fit="contain")
            with gr.Column(scale=5):
                with gr.Row():
                    before = gr.Image(label="Before", type="pil", interactive=False, height=230,
                                      elem_id="ft-task-before", format="png")
                    after = gr.Image(label="After", type="pil", interactive=False, height=230,
                                     elem_id="ft-task-after", format="png")
                ba_note = gr.HTML(elem_id="ft-task-ba-note")
                ba_next = gr.Button("Another test image", size="sm", elem_id="ft-task-ba-next")
    return TaskResultsSection(box, head, open_btn, metrics, hint, per_class_plot, worst, before, after, ba_note, ba_next)


# ----------------------------------------------------------------------------------------------
# the task switch: what each task shows


def task_view(task: str, settings: Settings) -> dict:
    """{name: gr.update} of the widgets that follow the task (the handler maps them onto its outputs)."""
    tasked = task in TEXTS
    out = {"cls": gr.update(visible=not tasked), "tasked": gr.update(visible=tasked),
           "compare_note": gr.update(visible=tasked)}
    if not tasked:
        return out
    texts = TEXTS[task]
    choices, value = default_model(task, settings)
    strategy = DEFAULT_STRATEGY[task]
    noun = "masks" if task == SEGMENTATION else "boxes"
    out.update({
        "data_title": header(1, *texts["data"]), "model_title": header(2, *texts["model"]),
        "results_title": header(4, *texts["results"]),
        "zip": gr.update(label=texts["zip"]), "hub": gr.update(placeholder=texts["hub"]),
        "mask_column": gr.update(visible=task == SEGMENTATION),
        "preview": gr.update(value=None, label=f"Preview: the first training images with their {noun}"),
        "counts": message_figure("Press Load data to see images per class", height=280), "notes": "",
        "model": gr.update(choices=choices, value=value),
        "strategy": gr.update(choices=task_strategies(task), value=strategy),
        "strategy_info": strategy_explanation(strategy),
        "epochs": gr.update(value=DEMO_EPOCHS[task] if settings.demo else "auto"),
        "open": gr.update(value=OPEN_LABEL[task]),
    })
    return out
