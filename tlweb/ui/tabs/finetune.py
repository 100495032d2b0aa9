"""Fine-tune tab: bring a few images per class and see what a pretrained backbone buys you.

Sections: 1 data (sample, zip, per-class uploads, Hub dataset) → 2 model + strategy → 3 train with
live curves, metrics, confusion matrix and confident mistakes → 4 compare strategies (the strategy
ladder and the data-efficiency curve) → 5 runs (survive restarts; download, push to the Hub).

Handlers are thin: widget values → ``tlweb.engine.data`` / ``train`` / ``runs`` → ``tlweb.viz.training``.
Training runs in a worker thread that feeds a queue; the handler is a generator that drains it and
yields figures, so curves move while the model trains. Stop sets a per-session event that the
engine checks between steps.
"""

from __future__ import annotations

import html
import inspect
import logging
import queue
import threading
import time

import gradio as gr

from tlweb.catalog import CLASSIFICATION
from tlweb.config import Settings, get_settings
from tlweb.errors import DataError, TlwebError
from tlweb.ui.components import SafeImage, intro, model_picker, picked_model, refresh_choices, user_errors
from tlweb.viz import training as tv
from tlweb.viz.common import message_figure

log = logging.getLogger("tlweb.ui.finetune")

TITLE = "Fine-tune"
INTRO = (
    "**What you see:** a backbone pretrained on millions of images, given a new head for *your* classes and "
    "trained on a handful of examples. The curves, the confusion matrix and above all the *strategy ladder* "
    "and *data-efficiency curve* show what the pretrained weights buy you compared with training from scratch."
)

SOURCES = [
    ("Built-in sample (offline)", "sample"),
    ("Upload a zip of class folders", "zip"),
    ("Images per class (Teachable-Machine style)", "classes"),
    ("Hugging Face dataset id", "hub"),
]
N_SLOTS = 6  # class slots for per-class uploads; 2 shown at first, "add class" reveals the next
FIRST_SLOTS = 2
STRATEGY_NAMES = {
    "linear": "Linear probe",
    "partial": "Partial (last blocks)",
    "full": "Full fine-tune",
    "lora": "LoRA",
    "scratch": "From scratch",
}
EPOCH_CHOICES = ["auto", "1", "2", "3", "5", "10", "20"]
BATCH_CHOICES = ["auto", "8", "16", "32", "64", "128"]
LR_CHOICES = ["auto", "1e-2", "3e-3", "1e-3", "3e-4", "1e-4", "3e-5"]
SHOTS = (1, 2, 5, 10, 25)
TRAIN_CONCURRENCY = "tlweb-train"  # one training job at a time across the app (one GPU / two cores)

STYLE = """
<style>
.ft-sec {display:flex; gap:12px; align-items:flex-start; margin:18px 0 4px 0;}
.ft-sec .ft-num {flex:none; width:30px; height:30px; border-radius:50%; background:#4F46E5; color:white;
  font-weight:700; display:flex; align-items:center; justify-content:center; font-size:15px; margin-top:2px;}
.ft-sec h3 {margin:0; font-size:1.2em; line-height:1.3;}
.ft-sec p {margin:2px 0 0 0; color:var(--body-text-color-subdued); font-size:0.93em;}
.ft-status {font-size:0.95em; padding:8px 12px; border-radius:10px; border:1px solid var(--border-color-primary);
  background:var(--block-background-fill);}
.ft-status .bar {height:6px; border-radius:3px; background:#E0E7FF; margin-top:7px; overflow:hidden;}
.ft-status .bar > div {height:6px; background:#4F46E5; border-radius:3px;}
.ft-status.done .bar > div {background:#10B981;}
.ft-status.stopped .bar > div {background:#F97316;}
.ft-status .muted {color:var(--body-text-color-subdued);}
.ft-hint {font-size:0.92em; padding:8px 12px; border-radius:10px; background:#EEF2FF; color:#312E81;
  border:1px solid #C7D2FE; margin-top:6px;}
.ft-notes {font-size:0.9em; color:var(--body-text-color-subdued);}
.ft-notes ul {margin:4px 0 0 18px;}
#ft-mistakes .caption-label {white-space:normal; max-width:94%; font-size:12px; opacity:0.92;}
</style>
"""


# ----------------------------------------------------------------------------------------------
# Per-session state and the worker thread


class FtSession:
    """Per-browser-session state (a ``gr.State`` value): the loaded data and the stop flag.

    ``gr.State`` deep-copies its initial value for every session; ``__deepcopy__`` hands each
    session a fresh object (a ``threading.Event`` cannot be copied).
    """

    def __init__(self):
        self.stop = threading.Event()
        self.data = None  # PreparedData
        self.data_key = None
        self.last_run: str | None = None

    def __deepcopy__(self, memo):
        return FtSession()


_DONE = object()


class Worker:
    """Runs ``work(on_event, should_stop)`` in a thread; :meth:`batches` yields its events as they come."""

    def __init__(self, work, stop: threading.Event):
        self.queue: queue.Queue = queue.Queue()
        self.result = None
        self.error: BaseException | None = None
        self.stop = stop
        self.thread = threading.Thread(target=self._run, args=(work,), daemon=True, name="tlweb-finetune")
        self.thread.start()

    def _run(self, work):
        try:
            self.result = work(self.queue.put, self.stop.is_set)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the handler's thread
            self.error = exc
        finally:
            self.queue.put(_DONE)

    def batches(self, every: float = 0.4):
        """Lists of events, at most one list per ``every`` seconds; an empty list is a heartbeat."""
        done = False
        while not done:
            batch = []
            deadline = time.monotonic() + every
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                try:
                    item = self.queue.get(timeout=left)
                except queue.Empty:
                    break
                if item is _DONE:
                    done = True
                    break
                batch.append(tv.as_dict(item))
            yield batch
        self.thread.join()
        if self.error is not None:
            raise self.error


# ----------------------------------------------------------------------------------------------
# Small pure helpers (tested directly)


def parse_auto(value, kind=int, what="value"):
    """``"auto"`` / empty → None; else a positive number of ``kind``; else a one-sentence error."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "auto", "none", "0"):
        return None
    try:
        number = kind(float(text)) if kind is int else kind(text)
    except ValueError:
        raise TlwebError(f"{what.capitalize()} must be a number or 'auto' (got '{value}').") from None
    if kind is int and float(text) != int(float(text)):
        raise TlwebError(f"{what.capitalize()} must be a whole number or 'auto' (got '{value}').")
    if number <= 0:
        raise TlwebError(f"{what.capitalize()} must be positive or 'auto' (got '{value}').")
    return number


def _paths(files) -> list[str]:
    out = []
    for f in files or []:
        path = f if isinstance(f, str) else getattr(f, "path", None) or getattr(f, "name", None)
        if isinstance(f, dict):
            path = f.get("path") or f.get("name")
        if path:
            out.append(str(path))
    return out


def class_uploads(names, files) -> dict[str, list[str]]:
    """{class name: [image paths]} from the class slots; named empty slots are ignored."""
    classes: dict[str, list[str]] = {}
    for i, (name, group) in enumerate(zip(names, files), start=1):
        paths = _paths(group)
        name = (name or "").strip()
        if not paths:
            continue
        if not name:
            raise DataError(f"Class {i} has images but no name: type a name for it.")
        if name in classes:
            raise DataError(f"Two classes are called '{name}': give each class its own name.")
        classes[name] = paths
    return classes


def _fmt_s(seconds) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def status_html(text: str, fraction: float | None = None, state: str = "running", detail: str = "") -> str:
    bar = ""
    if fraction is not None:
        pct = max(0.0, min(1.0, float(fraction))) * 100
        bar = f"<div class='bar'><div style='width:{pct:.1f}%'></div></div>"
    detail = f"<div class='muted'>{detail}</div>" if detail else ""
    return f"<div class='ft-status {state}'>{text}{detail}{bar}</div>"


class Progress:
    """Folds TrainEvent dicts into one status line (epoch, loss, accuracy, images/s, ETA)."""

    def __init__(self, label: str = ""):
        self.label = label
        self.latest: dict = {}
        self.events: list[dict] = []

    def add(self, batch: list[dict]) -> None:
        for ev in batch:
            self.events.append(ev)
            for k, v in ev.items():
                if v is not None and v != "":
                    self.latest[k] = v

    def html(self, prefix: str = "", fraction: float | None = None) -> str:
        d = self.latest
        if not d:
            return status_html(f"{prefix}Preparing: loading the model and decoding the images once…", 0.0)
        strategy = STRATEGY_NAMES.get(str(d.get("strategy")), str(d.get("strategy", "")))
        parts = [f"<b>{html.escape(prefix + strategy)}</b>"]
        if d.get("epoch") is not None:
            parts.append(f"epoch {float(d['epoch']):.2f}")
        if d.get("total_steps"):
            parts.append(f"step {int(d.get('step') or 0)}/{int(d['total_steps'])}")
        if d.get("train_loss") is not None:
            parts.append(f"loss {float(d['train_loss']):.3f}")
        if d.get("val_accuracy") is not None:
            # tiny data has no validation hold-out: the per-epoch number then comes from the test
            # split and is shown for monitoring only (nothing is selected on it)
            on_test = d.get("eval_split") == "test"
            label = "test accuracy (monitoring)" if on_test else "val accuracy"
            parts.append(f"{label} {float(d['val_accuracy']) * 100:.1f}%")
        if d.get("images_per_s"):
            parts.append(f"{float(d['images_per_s']):,.0f} images/s")
        if d.get("eta_s") is not None and self.events and self.events[-1].get("kind") not in ("done", "stopped"):
            parts.append(f"ETA {_fmt_s(d['eta_s'])}")
        if fraction is None and d.get("total_steps"):
            fraction = int(d.get("step") or 0) / max(1, int(d["total_steps"]))
        last = self.events[-1] if self.events else {}
        kind = last.get("kind")
        state = {"done": "done", "stopped": "stopped"}.get(kind, "running")
        message = html.escape(str(last.get("message") or "")) if kind in ("start", "stopped", "error") else ""
        return status_html(" · ".join(parts), fraction, state, message)


# ----------------------------------------------------------------------------------------------
# Engine calls (imported lazily: importing this module loads no torch)


def prepare_data(source, zip_file, hub_id, image_column, label_column, names, files, settings: Settings):
    """Widget values → PreparedData (raises DataError with a sentence)."""
    from tlweb.engine import data as engine_data

    source = source or "sample"
    if source == "sample":
        return engine_data.sample_data(settings=settings)
    if source == "zip":
        paths = _paths([zip_file] if zip_file and not isinstance(zip_file, list) else zip_file)
        if not paths:
            raise DataError("Upload a .zip of class folders first (one folder per class, images inside).")
        return engine_data.load_upload(paths[0], settings=settings)  # unpacked within budgets, then deleted
    if source == "classes":
        classes = class_uploads(names, files)
        if not classes:
            raise DataError("Add images to at least two classes first (name each class, then drop its images).")
        return engine_data.from_class_uploads(classes, settings=settings)
    if source == "hub":
        if not hub_id or not str(hub_id).strip():
            raise DataError("Type a Hugging Face dataset id first (for example 'beans' or 'cifar10').")
        return engine_data.load_hub_dataset(hub_id, image_column=image_column, label_column=label_column,
                                            settings=settings)  # an id in every mode, never a server path
    raise DataError(f"Unknown data source '{source}': pick one of the options.")


def data_key(source, zip_file, hub_id, image_column, label_column, names, files):
    source = source or "sample"
    if source == "sample":
        return ("sample",)
    if source == "zip":
        return ("zip", tuple(_paths([zip_file] if zip_file and not isinstance(zip_file, list) else zip_file)))
    if source == "hub":
        return ("hub", (hub_id or "").strip(), (image_column or "").strip(), (label_column or "").strip())
    return ("classes", tuple((n or "").strip() for n in names), tuple(tuple(_paths(f)) for f in files))


def data_notes(data) -> str:
    counts = data.counts()
    n_train = sum(counts.get("train", {}).values())
    n_test = sum(counts.get("test", {}).values())
    smallest = min(counts.get("train", {}).values() or [0])
    parts = [f"<b>{len(data.class_names)} classes</b> · {n_train:,} training images · {n_test:,} test images "
             f"(test set: {html.escape(str(data.test_from))}) · smallest class: {smallest} training images"]
    if data.skipped:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in data.skipped[:12])
        more = f"<li>… and {len(data.skipped) - 12} more</li>" if len(data.skipped) > 12 else ""
        parts.append(f"<div>⚠️ Skipped {len(data.skipped)} file(s):<ul>{items}{more}</ul></div>")
    return f"<div class='ft-notes'>{'<br>'.join(parts)}</div>"


def _chance(data) -> float | None:
    n = len(getattr(data, "class_names", []) or [])
    return 1.0 / n if n >= 2 else None


# ----------------------------------------------------------------------------------------------
# Layout


def _section(num: int, title: str, text: str, style: str = "") -> None:
    gr.HTML(f"{style}<div class='ft-sec'><span class='ft-num'>{num}</span><div><h3>{title}</h3><p>{text}</p></div></div>")


def _with_signature(fn, names: list[str]):
    """Give a ``*args`` handler named parameters so the API (gradio_client) shows real names."""
    params = [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None) for n in names]
    fn.__signature__ = inspect.Signature(params)
    return fn


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


def build(settings: Settings | None = None) -> None:
    settings = settings or get_settings()
    from tlweb.engine.train import STRATEGIES, STRATEGY_INFO  # light: torch is imported when training

    intro(INTRO)
    session = gr.State(FtSession())

    # ---------------------------------------------------------------- 1. data
    _section(1, "Your data", "Pick where the images come from, then <b>Load data</b> to check the classes "
             "and how many images each has before training.", style=STYLE)
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
                gr.Markdown("Name each class and drop a few images into it (5–20 per class is plenty for a linear "
                            "probe).", elem_classes=["ft-notes"])
                shown = gr.State(FIRST_SLOTS)
                slot_rows, slot_names, slot_files = [], [], []
                for i in range(N_SLOTS):
                    with gr.Row(visible=i < FIRST_SLOTS, equal_height=False) as row:
                        slot_names.append(gr.Textbox(label=f"Class {i + 1} name", value="", max_lines=1, scale=2,
                                                     placeholder=["e.g. cats", "e.g. dogs"][i] if i < 2 else "",
                                                     elem_id=f"ft-class-{i + 1}-name"))
                        slot_files.append(gr.File(label=f"Class {i + 1} images", file_count="multiple",
                                                  file_types=["image"], value=[], height=120, scale=5,
                                                  elem_id=f"ft-class-{i + 1}-files"))
                    slot_rows.append(row)
                add_class = gr.Button("＋ Add a class", size="sm", elem_id="ft-add-class")
                with gr.Accordion("Capture with the webcam", open=False):
                    capture = SafeImage(label="Snapshot", sources=["webcam"], height=220, elem_id="ft-capture")
                    with gr.Row():
                        capture_to = gr.Dropdown([(f"Class {i + 1}", i) for i in range(N_SLOTS)], value=0,
                                                 label="Add the snapshot to", scale=2)
                        capture_btn = gr.Button("Add snapshot", size="sm", scale=1)
            load_btn = gr.Button("Load data", variant="secondary", elem_id="ft-load-btn")
        with gr.Column(scale=6):
            counts_plot = gr.Plot(value=message_figure("Press Load data to see images per class", height=320),
                                  label="Images per class", elem_id="ft-counts-plot", show_label=False)
            notes = gr.HTML(elem_id="ft-data-notes")

    # ---------------------------------------------------------------- 2. model + strategy
    _section(2, "Backbone and strategy", "The backbone brings what it learned elsewhere; the strategy decides "
             "how much of it is retrained on your images.")
    with gr.Row(equal_height=False):
        with gr.Column(scale=5):
            model, custom = model_picker(CLASSIFICATION, settings, "ft", label="Pretrained backbone",
                                         info="Its ImageNet head is replaced by a new one for your classes.")
            default = _default_model(list(model.choices), settings)
            if default:
                model.value = default
        with gr.Column(scale=6):
            strategy = gr.Radio([(STRATEGY_NAMES.get(s, s), s) for s in STRATEGIES], value="linear",
                                label="Strategy", elem_id="ft-strategy")
            strategy_info = gr.Markdown(STRATEGY_INFO.get("linear", ""), elem_id="ft-strategy-info",
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

    # ---------------------------------------------------------------- 3. train
    _section(3, "Train", "Curves update while the model trains; Stop ends it cleanly between steps and keeps the "
             "best model so far (picked on images held out from training; with fewer than 4 images per class, "
             "the latest).")
    with gr.Row():
        start_btn = gr.Button("▶ Start fine-tuning", variant="primary", elem_id="ft-start-btn", scale=3)
        stop_btn = gr.Button("■ Stop", variant="stop", elem_id="ft-stop-btn", scale=1)
    status = gr.HTML(status_html("Ready: load data (optional with the sample), pick a strategy, press Start.",
                                 None, "idle"), elem_id="ft-status")
    curves = gr.Plot(value=tv.training_curves([]), elem_id="ft-curves-plot", show_label=False)
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

    # ---------------------------------------------------------------- 4. compare
    _section(4, "Compare strategies", "The same split and the same budget for each strategy — the clearest "
             "picture of what pretraining is worth. Uses the data, backbone and settings above.")
    compare_status = gr.HTML(status_html("Run the ladder or the data-efficiency curve; progress shows here.", None,
                                         "idle"), elem_id="ft-compare-status")
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=240):
            gr.Markdown("**Strategy ladder**: test accuracy and macro-F1 of each strategy.",
                        elem_classes=["ft-notes"])
            ladder_strategies = gr.CheckboxGroup([(STRATEGY_NAMES.get(s, s), s) for s in STRATEGIES],
                                                 value=list(STRATEGIES), label="Strategies",
                                                 elem_id="ft-ladder-strategies")
            ladder_btn = gr.Button("Run the strategy ladder", variant="primary", elem_id="ft-ladder-btn")
        with gr.Column(scale=8):
            ladder_plot = gr.Plot(value=tv.ladder_chart([]), elem_id="ft-ladder-plot", show_label=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=3, min_width=240):
            gr.Markdown("**Data efficiency**: accuracy with 1, 2, 5, 10, 25 images per class (up to the "
                        "smallest class), pretrained linear probe vs from scratch.", elem_classes=["ft-notes"])
            eff_strategies = gr.CheckboxGroup([(STRATEGY_NAMES.get(s, s), s) for s in STRATEGIES],
                                              value=["linear", "scratch"], label="Strategies",
                                              elem_id="ft-efficiency-strategies")
            eff_shots = gr.CheckboxGroup([str(s) for s in SHOTS], value=[str(s) for s in SHOTS],
                                         label="Images per class", elem_id="ft-efficiency-shots")
            eff_btn = gr.Button("Draw the data-efficiency curve", variant="primary", elem_id="ft-efficiency-btn")
        with gr.Column(scale=8):
            eff_plot = gr.Plot(value=tv.efficiency_curves([]), elem_id="ft-efficiency-plot", show_label=False)
    with gr.Accordion("Live curves of the comparison runs", open=False):
        compare_curves = gr.Plot(value=tv.training_curves([]), elem_id="ft-compare-curves", show_label=False)

    # ---------------------------------------------------------------- 5. runs
    _section(5, "Runs", "Every run is saved as a folder (config, events, metrics, model); they survive restarts. "
             "Pick one to see its curves, download its model or push it to the Hub.")
    with gr.Row():
        refresh_btn = gr.Button("↻ Refresh", size="sm", scale=0, min_width=110, elem_id="ft-runs-refresh")
        run_pick = gr.Dropdown(choices=[], value=None, label="Run", elem_id="ft-run", scale=4,
                               allow_custom_value=True)
    runs_table = gr.Dataframe(headers=tv.RUNS_HEADERS, value=[], interactive=False, elem_id="ft-runs-table",
                              max_height=300, wrap=True)
    with gr.Row(equal_height=False):
        with gr.Column(scale=6):
            run_curves = gr.Plot(value=message_figure("Pick a run to see its curves"), elem_id="ft-run-curves",
                                 show_label=False)
        with gr.Column(scale=4):
            run_metrics = gr.HTML(elem_id="ft-run-metrics")
            export_btn = gr.Button("⬇ Download model (.zip)", elem_id="ft-export-btn")
            export_file = gr.File(label="Model zip (click the name to save it)", visible=False, height=70,
                                  elem_id="ft-export-file", interactive=False)
            with gr.Accordion("Push to the Hugging Face Hub", open=False):
                repo_id = gr.Textbox(label="Repository id", placeholder="your-name/my-classifier", max_lines=1,
                                     elem_id="ft-repo-id")
                token = gr.Textbox(label="Access token (write)", type="password", max_lines=1,
                                   placeholder="hf_…  (used once, never stored or logged)", elem_id="ft-token")
                private = gr.Checkbox(value=True, label="Private repository")
                push_btn = gr.Button("Push to Hub", elem_id="ft-push-btn")
                push_result = gr.Markdown(elem_id="ft-push-result")

    data_inputs = [source, zip_file, hub_id, image_column, label_column, *slot_names, *slot_files]
    data_names = (["source", "zip_file", "hub_id", "image_column", "label_column"]
                  + [f"class_{i + 1}_name" for i in range(N_SLOTS)] + [f"class_{i + 1}_images" for i in range(N_SLOTS)])

    # ---------------------------------------------------------------- handlers
    def _split_data_args(args):
        src, zf, hid, icol, lcol = args[:5]
        names = list(args[5:5 + N_SLOTS])
        files = list(args[5 + N_SLOTS:5 + 2 * N_SLOTS])
        return src, zf, hid, icol, lcol, names, files

    def _ensure(sess: FtSession, args):
        src, zf, hid, icol, lcol, names, files = _split_data_args(args)
        key = data_key(src, zf, hid, icol, lcol, names, files)
        if sess.data is None or sess.data_key != key:
            sess.data = prepare_data(src, zf, hid, icol, lcol, names, files, settings)
            sess.data_key = key
        return sess.data

    @user_errors
    def load(*args):
        *values, sess = args
        data = _ensure(sess, values)
        return tv.class_counts_bar(data.counts(), title=f"Images per class · {len(data.class_names)} classes"), \
            data_notes(data)

    _with_signature(load, data_names + ["session"])

    def _data_for_run(sess: FtSession):
        if sess.data is None:  # API callers that skipped load_data: the default source
            sess.data = prepare_data("sample", None, None, None, None, [], [], settings)
            sess.data_key = ("sample",)
        return sess.data

    def _train_kwargs(epochs_v, batch_v, lr_v, cap_v) -> dict:
        return {
            "epochs": parse_auto(epochs_v, int, "epochs"),
            "batch_size": parse_auto(batch_v, int, "batch size"),
            "lr": parse_auto(lr_v, float, "learning rate"),
            "per_class": parse_auto(cap_v, int, "images per class"),
        }

    def _runs_outputs(select: str | None = None):
        from tlweb.engine.runs import list_runs

        runs = list_runs(settings)
        ids = [r.run_id for r in runs]
        labels = [(f"{r.run_id} · {r.strategy} · {r.status}", r.run_id) for r in runs]
        value = select if select in ids else (ids[0] if ids else None)
        return tv.runs_table(runs), gr.update(choices=labels, value=value)

    @user_errors
    def train(model, custom_model, strategy, epochs, batch_size, lr, per_class, sess: FtSession):
        from tlweb.engine.train import TrainConfig, finetune

        name = picked_model(model, custom_model)
        kwargs = _train_kwargs(epochs, batch_size, lr, per_class)
        data = _data_for_run(sess)
        cfg = TrainConfig(model=name, data=data, strategy=strategy or "linear", **kwargs)
        sess.stop.clear()
        worker = Worker(lambda on_event, should_stop: finetune(cfg, on_event=on_event, should_stop=should_stop,
                                                               settings=settings), sess.stop)
        progress = Progress()
        empty = message_figure("Training…")
        yield (progress.html(), tv.training_curves([]), "", "", empty, empty, [], gr.skip(), gr.skip())
        for batch in worker.batches():
            if not batch:
                continue
            progress.add(batch)
            yield (progress.html(), tv.training_curves(progress.events), gr.skip(), gr.skip(), gr.skip(),
                   gr.skip(), gr.skip(), gr.skip(), gr.skip())
        result = worker.result
        sess.last_run = result.run_id
        m = result.metrics or {}
        done_text = (f"<b>{'Stopped' if result.stopped else 'Done'}</b> · {STRATEGY_NAMES.get(result.strategy, result.strategy)}"
                     f" · test accuracy <b>{result.test_accuracy * 100:.1f}%</b> · macro-F1 "
                     f"<b>{result.test_macro_f1 * 100:.1f}%</b> · {_fmt_s(result.wall_s)}")
        hint_html = (f"<div class='ft-hint'>Saved as run <code>{html.escape(result.run_id)}</code>. Its model is "
                     f"now in the <b>Classify</b> tab's list as <i>{html.escape(result.run_id)} (fine-tuned here)</i>; "
                     "download it or push it to the Hub in <b>Runs</b> below.</div>")
        table, pick = _runs_outputs(result.run_id)
        yield (status_html(done_text, 1.0, "stopped" if result.stopped else "done"),
               tv.training_curves(progress.events or [e.as_dict() for e in result.history]),
               tv.metrics_html(result), hint_html,
               tv.confusion_heatmap(m.get("confusion_matrix") or [], m.get("class_names") or data.class_names),
               tv.per_class_bars(m.get("per_class") or {}),
               tv.mistake_captions(result.mistakes), table, pick)

    def stop(sess: FtSession):
        sess.stop.set()
        return status_html("Stopping after the current step… the model so far is kept.", None, "stopped")

    @user_errors
    def run_ladder(model, custom_model, strategies, epochs, batch_size, lr, per_class, sess: FtSession):
        from tlweb.engine.train import ladder

        if not strategies:
            raise TlwebError("Tick at least one strategy for the ladder.")
        order = [s for s in STRATEGIES if s in strategies]
        name = picked_model(model, custom_model)
        kwargs = {k: v for k, v in _train_kwargs(epochs, batch_size, lr, per_class).items() if v is not None}
        data = _data_for_run(sess)
        chance = _chance(data)
        sess.stop.clear()
        results: list = []
        events: list[dict] = []
        yield status_html(f"Strategy ladder: {len(order)} strategies on the same split and budget…", 0.0), \
            tv.ladder_chart([], chance=chance), tv.training_curves([])
        # One strategy per engine call (same prepared split, same settings) so the bars appear one by one.
        for i, strat in enumerate(order):
            if sess.stop.is_set():
                break
            progress = Progress()
            worker = Worker(lambda on_event, should_stop, strat=strat: ladder(
                name, data, strategies=(strat,), on_event=on_event, should_stop=should_stop, settings=settings,
                **kwargs), sess.stop)
            for batch in worker.batches():
                if not batch:
                    continue
                progress.add(batch)
                events.extend(batch)
                d = progress.latest
                frac = (i + int(d.get("step") or 0) / max(1, int(d.get("total_steps") or 1))) / len(order)
                yield progress.html(prefix=f"{i + 1}/{len(order)} · ", fraction=frac), gr.skip(), \
                    tv.training_curves(events, title="Ladder runs")
            results.extend(worker.result or [])
            yield gr.skip(), tv.ladder_chart(results, chance=chance), gr.skip()
        stopped = sess.stop.is_set() or any(getattr(r, "stopped", False) for r in results)
        best = max(results, key=lambda r: r.test_accuracy, default=None)
        text = f"<b>Ladder {'stopped' if stopped else 'done'}</b> · {len(results)} runs"
        if best is not None:
            text += (f" · best: {STRATEGY_NAMES.get(best.strategy, best.strategy)} "
                     f"({best.test_accuracy * 100:.1f}% test accuracy)")
        yield status_html(text, 1.0, "stopped" if stopped else "done"), tv.ladder_chart(results, chance=chance), \
            tv.training_curves(events, title="Ladder runs")

    @user_errors
    def run_efficiency(model, custom_model, strategies, shots, epochs, batch_size, lr, sess: FtSession):
        from tlweb.engine.train import data_efficiency

        if not strategies:
            raise TlwebError("Tick at least one strategy for the data-efficiency curve.")
        name = picked_model(model, custom_model)
        kwargs = {k: v for k, v in _train_kwargs(epochs, batch_size, lr, None).items() if v is not None}
        data = _data_for_run(sess)
        chance = _chance(data)
        smallest = min(data.counts().get("train", {}).values() or [0])
        wanted = sorted({int(s) for s in (shots or SHOTS)})
        usable = [s for s in wanted if s <= smallest]
        if not usable:
            raise DataError(f"The smallest class has {smallest} training images: pick fewer images per class.")
        order = tuple(s for s in STRATEGIES if s in strategies)
        total = len(usable) * len(order)
        sess.stop.clear()
        rows: list[dict] = []
        skipped = [s for s in wanted if s > smallest]
        note = f"Skipped {', '.join(map(str, skipped))} per class (the smallest class has {smallest})." if skipped else ""
        yield status_html(f"Data efficiency: {total} runs ({len(order)} strategies × {len(usable)} sizes)…", 0.0,
                          detail=note), tv.efficiency_curves([], chance=chance), tv.training_curves([])
        all_events: list[dict] = []
        # One size at a time (the engine keeps the split and the subsampling seed), so the curve grows live.
        for k in usable:
            if sess.stop.is_set():
                break
            progress = Progress()
            worker = Worker(lambda on_event, should_stop, k=k: data_efficiency(
                name, data, shots=(k,), strategies=order, on_event=on_event, should_stop=should_stop,
                settings=settings, **kwargs), sess.stop)
            for batch in worker.batches():
                if not batch:
                    continue
                progress.add(batch)
                all_events.extend(batch)
                done = len(rows) + len({e.get("run_id") for e in progress.events}) - 1
                yield progress.html(prefix=f"{k}/class · run {done + 1}/{total} · ",
                                    fraction=done / total), gr.skip(), \
                    tv.training_curves(progress.events, title=f"{k} images per class")
            rows.extend(worker.result or [])
            yield status_html(f"{len(rows)}/{total} runs done", len(rows) / total, detail=note), \
                tv.efficiency_curves(rows, chance=chance), gr.skip()
        stopped = sess.stop.is_set()
        yield status_html(f"<b>Data efficiency {'stopped' if stopped else 'done'}</b> · {len(rows)} runs",
                          1.0, "stopped" if stopped else "done", detail=note), \
            tv.efficiency_curves(rows, chance=chance), gr.skip()

    @user_errors
    def refresh_runs():
        return _runs_outputs()

    @user_errors
    def run_details(run_id):
        from tlweb.engine.runs import load_run

        if not run_id:
            return message_figure("Pick a run to see its curves"), ""
        info, events, m = load_run(run_id, settings)
        cards = []
        if info.test_accuracy is not None:
            cards = [(f"{info.test_accuracy * 100:.1f}%", "test accuracy", tv.PALETTE[0]),
                     (f"{(info.test_macro_f1 or 0) * 100:.1f}%", "macro-F1", tv.PALETTE[2])]
        names = ", ".join(info.class_names[:20]) + (" …" if len(info.class_names) > 20 else "")
        facts = [("run", info.run_id), ("status", info.status),
                 ("strategy", tv.STRATEGY_LABELS.get(info.strategy, info.strategy)),
                 ("base model", info.base_model), (f"{len(info.class_names)} classes", names),
                 ("created", str(info.created).replace("T", " ")[:19]), ("model folder", str(info.model_dir))]
        body = (tv.score_cards_html(cards) if cards else "") + tv.facts_html(facts, code=("run", "model folder"))
        body += (f"<div class='ft-hint'>In the <b>Classify</b> tab, pick <i>{html.escape(info.run_id)} "
                 "(fine-tuned here)</i> or paste the model folder.</div>")
        return tv.training_curves(events, title=f"Curves · {info.run_id}"), body

    @user_errors
    def export(run_id):
        from tlweb.engine.runs import export_zip

        if not run_id:
            raise TlwebError("Pick a run first (Runs table or list).")
        return gr.update(value=str(export_zip(run_id, settings)), visible=True)

    def push(run_id, repo, token_v, private_v):
        from tlweb.engine.runs import push_to_hub

        if not run_id:
            raise gr.Error("Pick a run first (Runs table or list).", print_exception=False)
        if not repo or "/" not in repo.strip():
            raise gr.Error("Type a repository id like 'your-name/my-classifier'.", print_exception=False)
        if not token_v or not token_v.strip():
            raise gr.Error("Paste a Hugging Face access token with write access.", print_exception=False)
        try:
            url = push_to_hub(run_id, repo.strip(), token_v.strip(), private=bool(private_v), settings=settings)
        except Exception as exc:  # noqa: BLE001 - the message must never carry the token
            msg = str(exc).replace(token_v.strip(), "***") if isinstance(exc, TlwebError) else \
                f"Pushing to the Hub failed ({type(exc).__name__}); check the repository id, the token and the network."
            raise gr.Error(msg.replace(token_v.strip(), "***"), print_exception=False) from None
        return f"Pushed: [{html.escape(url)}]({url})"

    def add_slot(n):
        n = min(N_SLOTS, int(n or FIRST_SLOTS) + 1)
        return [n] + [gr.update(visible=i < n) for i in range(N_SLOTS)] + [gr.update(interactive=n < N_SLOTS)]

    def add_capture(image_path, slot, *files):
        if not image_path:
            raise gr.Error("Take a snapshot first.", print_exception=False)
        slot = int(slot or 0)
        out = [gr.skip() for _ in range(N_SLOTS)]
        out[slot] = _paths(files[slot]) + [image_path]
        return out

    def pick_row(evt: gr.SelectData):
        row = evt.row_value or []
        return row[0] if row else gr.skip()

    def on_source(src):
        return gr.update(visible=src == "zip"), gr.update(visible=src == "hub"), gr.update(visible=src == "classes")

    # ---------------------------------------------------------------- events
    source.change(on_source, [source], [zip_box, hub_box, classes_box], api_name="ft_source_view", queue=False)
    add_class.click(add_slot, [shown], [shown, *slot_rows, add_class], api_name="ft_add_class", queue=False)
    capture_btn.click(add_capture, [capture, capture_to, *slot_files], slot_files, api_name="ft_add_capture")
    strategy.change(lambda s: STRATEGY_INFO.get(s, ""), [strategy], [strategy_info],
                    api_name="ft_strategy_info", queue=False)
    load_btn.click(load, [*data_inputs, session], [counts_plot, notes], api_name="load_data")
    model.focus(lambda: refresh_choices(CLASSIFICATION, settings), outputs=[model], api_name="ft_models",
                queue=False)  # runs fine-tuned since the page loaded appear in the list

    train_inputs = [model, custom, strategy, epochs, batch_size, lr, per_class, session]
    train_outputs = [status, curves, metrics, hint, confusion, per_class_plot, mistakes, runs_table, run_pick]
    start_btn.click(load, [*data_inputs, session], [counts_plot, notes], api_name="prepare_data").success(
        train, train_inputs, train_outputs, api_name="finetune", concurrency_limit=1,
        concurrency_id=TRAIN_CONCURRENCY)
    stop_btn.click(stop, [session], [status], api_name="stop", concurrency_limit=None, queue=False)

    ladder_inputs = [model, custom, ladder_strategies, epochs, batch_size, lr, per_class, session]
    ladder_btn.click(load, [*data_inputs, session], [counts_plot, notes], api_name="prepare_data_ladder").success(
        run_ladder, ladder_inputs, [compare_status, ladder_plot, compare_curves], api_name="ladder",
        concurrency_limit=1, concurrency_id=TRAIN_CONCURRENCY)
    eff_btn.click(load, [*data_inputs, session], [counts_plot, notes], api_name="prepare_data_efficiency").success(
        run_efficiency, [model, custom, eff_strategies, eff_shots, epochs, batch_size, lr, session],
        [compare_status, eff_plot, compare_curves], api_name="data_efficiency", concurrency_limit=1,
        concurrency_id=TRAIN_CONCURRENCY)

    refresh_btn.click(refresh_runs, None, [runs_table, run_pick], api_name="runs")
    gr.on(None, refresh_runs, None, [runs_table, run_pick], api_name="runs_on_load")  # page load
    runs_table.select(pick_row, None, [run_pick], api_name="ft_pick_run", queue=False)
    run_pick.change(run_details, [run_pick], [run_curves, run_metrics], api_name="run_details")
    export_btn.click(export, [run_pick], [export_file], api_name="export")
    push_btn.click(push, [run_pick, repo_id, token, private], [push_result], api_name="push_to_hub")


if __name__ == "__main__":
    from tlweb.ui.app import launch_single

    launch_single(TITLE, build)
