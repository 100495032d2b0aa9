"""What a fine-tune takes and gives: :class:`TrainConfig`, :class:`TrainEvent` (the event schema,
declared once: every producer — the loop, the linear probe's C sweep, the run's start / done /
error — builds this class, and ``events.jsonl`` holds its ``as_dict()``), :class:`RunResult`, the
constants of the validation rule (no model selection on the test split), and :class:`TaskData`, what every
task's data reader returns."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Protocol, runtime_checkable

from tlweb.engine.runs.present import plain

MIN_STEPS = 60  # default epochs grow on small data so a run makes at least this many steps
MAX_EPOCHS_GPU = 100
EVENT_INTERVAL_S = 0.25  # step events at most ~4 per second …
STEP_POINTS = 60  # … and at least about this many per run, however fast it runs (a curve, not two dots)
DEFAULT_SEEDS = 3  # the ladder and the data-efficiency curve repeat each run with this many seeds
MAX_MISTAKES = 12
# A validation subset is carved out of the training images only when every class has at least this
# many (so each class keeps >= 3 to train on after giving one or more to validation); below it the
# last epoch is kept and nothing is selected.
MIN_TRAIN_PER_CLASS_FOR_VALIDATION = 4
VALIDATION_FRACTION = 0.15  # of each class's training images (rounded, at least 1)
MONITOR_NOTE = "eval on test split — monitoring only, not used for selection"


@runtime_checkable
class TaskData(Protocol):
    """What every data reader returns (classification's :class:`~tlweb.engine.data.PreparedData` fits).

    The run keeps it picklable (it crosses into the ZeroGPU worker): plain data and ``datasets``
    objects, no open files, no locks."""

    class_names: list[str]  # index = class id 0..K-1 (detection: no background / "N/A" entry)
    source: str  # what the user gave, shown to people (never a server path in shared mode)
    test_from: str  # "test split" | "test/ folder" | "held-out 20% (stratified)" …
    skipped: list[str]  # "masks/b.png: size 30×40 differs from its image's 32×32" (clipped names)
    warnings: list[str]  # sentences: "3 boxes partly outside their image were clipped; 1 dropped"

    def counts(self) -> dict[str, dict[str, int]]:
        """split ("train", "test") -> class name -> IMAGES holding the class (not pixels, not boxes)."""
        ...

    def fingerprint(self) -> str:
        """A stable hash of the images and targets (the encode and feature caches key on it)."""
        ...

    def summary(self) -> str:
        """One line for the UI and the CLI ("3 classes · 40 train / 10 test images · …")."""
        ...


@dataclass
class TrainConfig:
    model: str  # catalog key / Hub id / local folder (resolve())
    data: str | TaskData  # the task's load_data() source, or data already loaded (PreparedData for classification)
    strategy: str = "linear"  # a strategy of the task (tlweb.engine.train.strategies.strategy_names(task))
    epochs: int | None = None  # None → per-strategy default (two-step: both phases together)
    batch_size: int | None = None
    lr: float | None = None
    partial_blocks: int = 2
    lora_r: int = 8
    per_class: int | None = None  # subsample the train split to N images per class
    seed: int = 0
    out_dir: str | None = None  # default: a new folder under settings.runs_dir (or under the experiment)
    name: str | None = None  # human label for the run
    augment: bool = True  # random flip + small random resized crop (not for linear: features are fixed)
    experiment: str | None = None  # an experiment folder (tlweb.engine.runs.store.new_experiment): the run goes inside
    task: str = "image-classification"  # a training task (tlweb.engine.train.tasks.train_task)

    def as_dict(self) -> dict:
        d = plain(self, [f.name for f in fields(self)])
        if not isinstance(self.data, str) and hasattr(self.data, "source"):  # TaskData
            d["data"] = self.data.source
        if self.experiment is not None:
            d["experiment"] = Path(self.experiment).name
        return d


EVENT_KINDS = ("start", "step", "eval", "done", "stopped", "error")


def _json_number(name: str, value):
    if isinstance(value, dict):  # loss_parts
        return {str(k): _json_number(name, v) for k, v in value.items()}
    if not isinstance(value, float):
        return value
    value = round(value, 6) if name != "time" else round(value, 3)
    return None if math.isnan(value) or math.isinf(value) else value


@dataclass
class TrainEvent:
    """One event of a run. ``kind``: "start" | "step" | "eval" | "done" | "stopped" | "error"
    (:data:`EVENT_KINDS`). Step events carry the training loss (and its parts), eval events the
    evaluation's loss and metric; the linear probe's sweep sends one step and one eval event per
    value of ``C``."""

    kind: str  # one of EVENT_KINDS
    run_id: str
    strategy: str
    epoch: float  # fractional epochs done
    step: int
    total_steps: int
    train_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None  # 0..1; classification's eval events (the same number as val_metric)
    lr: float | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    message: str = ""
    time: float = field(default_factory=time.time)  # wall clock (seconds since the epoch)
    # eval events: which images val_loss/val_accuracy come from — "validation" (held out of the
    # training images, used to pick the kept epoch), "cross-validation" (the linear probe on small
    # data: folds of the training images) or "test" (tiny data: monitoring only)
    eval_split: str | None = None
    # the linear probe's step and eval events: the regularization strength C of this point of its
    # sweep (epoch and step then count the sweep's points, not epochs)
    C: float | None = None
    task: str = "image-classification"  # the run's training task (TrainTask.name)
    metric: str = "accuracy"  # the task's headline metric name (TrainTask.metric): accuracy | miou | map
    val_metric: float | None = None  # eval events: that metric, 0..1, on eval_split's images
    loss_parts: dict[str, float] | None = None  # step / eval events: named parts of the loss (DETR: ce, bbox …)

    def as_dict(self) -> dict:
        return plain(self, EVENT_FIELDS, _json_number)


EVENT_FIELDS = tuple(f.name for f in fields(TrainEvent))  # events.jsonl's keys: the schema above, in order


RESULT_FIELDS = ("run_id", "run_dir", "model_dir", "strategy", "base_model", "train_images", "val_images",
                 "test_images", "selection", "kept_epoch", "test_accuracy", "test_macro_f1", "stopped", "wall_s",
                 "hyperparameters", "metrics", "mistakes", "task", "metric", "test_metric")


def _result_value(name: str, value):
    if isinstance(value, Path):
        return str(value)
    if name in ("test_accuracy", "test_macro_f1", "test_metric"):
        return None if value is None else round(float(value), 6)
    if name == "wall_s":
        return round(value, 3)
    return value


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    model_dir: Path  # save_pretrained output (model + processor) — loadable by the Classify tab
    strategy: str
    base_model: str
    train_images: int  # the images the model trained on (validation images excluded)
    test_images: int
    test_accuracy: float | None  # classification (None for other tasks: see test_metric)
    test_macro_f1: float | None
    metrics: dict  # every metrics.json field (the task's: per_class_iou, per_class_ap …)
    mistakes: list[dict]
    history: list[TrainEvent]
    stopped: bool
    wall_s: float
    hyperparameters: dict = field(default_factory=dict)
    val_images: int = 0  # held out of the training images to pick the epoch (0: none, last epoch kept)
    selection: str = ""  # "best validation epoch" | "last epoch"
    kept_epoch: float | None = None  # the epoch whose weights were kept
    task: str = "image-classification"
    metric: str = "accuracy"  # the task's headline metric (accuracy | miou | map)
    test_metric: float | None = None  # its value on the test images, 0..1 (= test_accuracy for classification)

    def as_dict(self) -> dict:
        """JSON-able summary; ``history`` keeps the non-step events (every event is in events.jsonl)."""
        d = plain(self, RESULT_FIELDS, _result_value)
        d["history"] = [e.as_dict() for e in self.history if e.kind != "step"]
        return d
