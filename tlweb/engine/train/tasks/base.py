"""The training-task plug-in interface: what a task (classification, segmentation, detection …)
plugs into the one training run (:func:`tlweb.engine.train.run.finetune`).

The run resolves the model and plans once, owns Stop, emits the typed events, writes the run folder,
holds out the validation images, keeps the best epoch and saves the model. A task plugs in only what
differs: its data reader, how a split is decoded once, the batch (collate + augmentation that moves
the targets with the pixels), the loss, the metric, the new head, which parameters are the
encoder / decoder / head (for the strategies), and what it keeps besides the model.

Adding a task = one module in this package with a :class:`TrainTask` subclass decorated by
:func:`register_train_task`, and one import line in ``tasks/__init__.py``::

    @register_train_task
    class SegmentationTask(TrainTask):
        name = "image-segmentation"
        metric, metric_label = "miou", "mIoU"
        strategies = ("decoder", "full", "lora", "scratch")
        json_keys = ("test_miou", "test_pixel_accuracy", "per_class_iou")
        ...

One instance per task serves every run at once (UI threads, a ladder): a task keeps NO per-run state
on ``self``; what a run needs travels in the arguments (:class:`Encoded`, :class:`Feed`). Importing a
plug-in module must load no torch, model or data (heavy imports inside the methods).

Call order in one run (``finetune``)::

    strategy = task.strategy(cfg.strategy)                        # once, in resolve_run (another task's: a sentence)
    data  = task.load_data(source, seed=, settings=, **opts)      # unless the caller passed TaskData
    data  = task.subsample(data, per_class, seed)                 # when cfg.per_class
    model, processor, spec = task.load_model(spec, class_names, strategy, seed, settings)
    enc_train, enc_test = task.encode(data, "train", …), task.encode(data, "test", …)
    task.check(data, enc_train, enc_test)                         # DataError sentences
    holdout = task.holdout(enc_train, class_names, seed)          # validation subset (or none)
    parts = task.parts(model); setup = strategy.setup(model, cfg, parts)
    each step:   batch = task.batch(enc_fit, idx, feed, augment, generator)
                 with feed.autocast(): loss, loss_parts = task.loss(model, batch)
    each epoch:  task.evaluate(model, enc_val, feed, batch_size) -> Evaluation   # picks the kept epoch
    at the end:  evaluation = task.evaluate(model, enc_test, feed, batch_size)
                 fields = task.finish(run_dir, data, enc_test, evaluation, settings)   # → metrics.json
                 task.save(model, processor, model_dir, spec, base_name, strategy, data, settings)

A head-only strategy (classification's linear probe) replaces the hold-out and the steps with its own
(:mod:`tlweb.engine.train.linear`); everything else is the same run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tlweb.engine.data.encode import Encoded
from tlweb.engine.train.config import TaskData
from tlweb.engine.train.strategies import ModelParts
from tlweb.errors import ModelError, clip

if TYPE_CHECKING:  # types only: importing this module loads no torch
    from pathlib import Path

    import torch

    from tlweb.catalog import ModelSpec
    from tlweb.config import Settings
    from tlweb.engine.accel import Runtime
    from tlweb.engine.train.holdout import Holdout
    from tlweb.engine.train.strategies import Strategy

__all__ = [
    "CLASSIFICATION", "DETECTION", "SEGMENTATION", "Encoded", "Evaluation", "Feed", "ModelParts", "TaskData",
    "TrainTask", "register_train_task", "train_task", "train_task_names", "train_tasks",
]

CLASSIFICATION = "image-classification"
SEGMENTATION = "image-segmentation"
DETECTION = "object-detection"


# Encoded (re-exported from tlweb.engine.data.encode, where the decode-once cache lives):
#   pixels   uint8 [N, 3, H, W] at the model's input size (CPU; the run may move it to the device)
#   targets  classification: LongTensor [N]; segmentation: LongTensor [N, H, W] (255 = ignore);
#            detection: list of N dicts {"class_labels": LongTensor[k], "boxes": FloatTensor[k, 4]}
#            (normalised cx, cy, w, h, as DETR's processor gives them)
#   rows     row of each item in its split (to name files, show worst images)
#   skipped  "name: why" of the items that could not be decoded
#   sizes    original (width, height) of each image ([] when the task needs none)
#   len(enc), enc.subset(positions) -> the same kind of Encoded holding those items (holdouts use it)


@dataclass
class Evaluation:
    """One evaluation of a model on an :class:`Encoded` split (validation each epoch, test at the end)."""

    loss: float  # mean loss over the split (the task's training loss, no augmentation)
    metric: float  # the task's headline metric, a fraction 0..1 (accuracy | mIoU | mAP@[.5:.95])
    extra: dict = field(default_factory=dict)  # e.g. {"pixel_accuracy": …, "per_class_iou": {name: iou}} or
    # {"map50": …, "map75": …, "per_class_ap": {name: ap}}; classification: {"macro_f1": …}
    predictions: Any = None  # what finish() needs (classification: float logits [N, K] on the CPU)
    loss_parts: dict[str, float] = field(default_factory=dict)  # named parts of ``loss`` (DETR: ce, bbox, giou)


@dataclass
class Feed:
    """How a batch reaches the model in one run (built once by the run; handed to ``batch`` and
    ``evaluate``): the device, bf16 autocast on CUDA, the processor's normalisation as one affine
    map on the device, channels_last for CNNs on CUDA."""

    runtime: Runtime
    processor: Any
    normalize: Callable  # float 0..255 [B, 3, H, W] on the device -> the normalised float tensor
    channels_last: bool
    class_names: list[str]

    @property
    def device(self) -> torch.device:
        return self.runtime.device

    def autocast(self):
        """bf16 autocast on CUDA, nothing elsewhere (wrap the forward pass in it)."""
        return self.runtime.autocast()

    def take(self, tensor, idx):
        """``tensor[idx]`` on the device (``idx`` a LongTensor on any device; dtype kept)."""
        picked = tensor[idx.to(tensor.device)]
        return picked.to(self.device, non_blocking=True)

    def model_input(self, x):
        """Augmented float pixels 0..255 on the device -> ``pixel_values`` (normalised, memory format)."""
        import torch

        x = self.normalize(x)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


class TrainTask:
    """One trainable task: subclass, set the class attributes, implement the methods, register it.

    Methods with a body here are defaults a task may keep; the others raise NotImplementedError."""

    name: str = ""  # registry task name: "image-classification" | "image-segmentation" | "object-detection"
    label: str = ""  # in sentences: "image classification" | "semantic segmentation" | "object detection"
    metric: str = ""  # "accuracy" | "miou" | "map" — the json / metrics key stem: test_<metric>, val_metric
    metric_label: str = ""  # "accuracy" | "mIoU" | "mAP@[.5:.95]" (charts, messages)
    strategies: tuple[str, ...] = ()  # strategy record names valid for this task, in ladder order
    # the CLI's --json keys besides {task, strategy, base_model, train_images, val_images, test_images,
    # run_dir, model_dir}, read from the fields finish() returns; () = the classification result as it was
    json_keys: tuple[str, ...] = ()
    # per-strategy overrides of the record's defaults for this task: {"full": {"lr": 1e-4, "epochs": 30}}
    # (keys: epochs, lr, head_mult, weight_decay)
    strategy_defaults: dict[str, dict] = {}
    # the validation hold-out of the default holdout(): this fraction of the training images (at least
    # one), when there are at least min_images_for_validation of them; else the last epoch is kept
    validation_fraction: float = 0.15
    min_images_for_validation: int = 8
    # clip the gradients' total norm to this after each backward pass (None: never); DETR-family
    # detectors diverge or crawl without it
    max_grad_norm: float | None = None

    # ---- data
    def load_data(self, source, *, seed: int = 0, settings: Settings | None = None, **opts) -> TaskData:
        """Read ``source`` (a folder, a zip, a Hub id, "sample" …) into TaskData with a train and a
        test split. ``opts`` are the CLI's data flags (image_column, label_column, split,
        test_fraction …): take those you use and accept the rest (None when not given)."""
        raise NotImplementedError

    def subsample(self, data: TaskData, per_class: int, seed: int) -> TaskData:
        """At most ``per_class`` training images per class (data-efficiency curve); the test split untouched.
        Multi-label images (segmentation, detection) count for every class they hold."""
        raise NotImplementedError

    def encode(self, data: TaskData, split: str, processor, settings: Settings,
               on_progress: Callable[[int, int], None] | None = None) -> Encoded:
        """Decode ``split`` ("train" | "test") once at the model's input size: uint8 pixels + targets
        moved/resized with them. Unreadable items are skipped (``skipped``), not fatal."""
        raise NotImplementedError

    def check(self, data: TaskData, enc_train: Encoded, enc_test: Encoded) -> None:
        """Refuse data the run cannot use, with one sentence (DataError). Default: both splits non-empty."""
        from tlweb.errors import DataError

        if len(enc_train) == 0:
            raise DataError("No training image could be decoded.")
        if len(enc_test) == 0:
            raise DataError("The test split is empty (or none of its images could be decoded).")

    def holdout(self, enc_train: Encoded, class_names: list[str], seed: int) -> Holdout:
        """The validation subset that picks the kept epoch. Default: a seeded random
        ``validation_fraction`` of the images when there are ``min_images_for_validation``, else none."""
        from tlweb.engine.train.holdout import random_holdout

        return random_holdout(enc_train, self.validation_fraction, self.min_images_for_validation, seed)

    # ---- model
    def load_model(self, spec: ModelSpec, class_names: list[str], strategy: Strategy, seed: int,
                   settings: Settings) -> tuple[Any, Any, ModelSpec]:
        """(model, processor, spec): fp32 on the CPU in train mode, a new head for ``class_names``
        (``ignore_mismatched_sizes``, id2label / label2id set), random weights when
        ``strategy.pretrained`` is False. Through :func:`tlweb.engine.train.model.load_for_task`
        (``load_for_task(spec, task=self.name, class_names=…, pretrained=strategy.pretrained, seed=…,
        settings=…)``, the one loading gate; never call ``from_pretrained`` yourself), then whatever
        the task's head needs (a fresh classifier, ``num_queries`` …)."""
        raise NotImplementedError

    def parts(self, model) -> ModelParts:
        """Which parameters are encoder / decoder / head (the strategies freeze by it)."""
        raise NotImplementedError

    # ---- steps
    def batch(self, enc: Encoded, idx, feed: Feed, augment: bool, generator) -> dict:
        """The model's keyword arguments for one training step over items ``idx`` (LongTensor) of
        ``enc``, targets included (``pixel_values`` + ``labels`` / …): pixels via ``feed.take`` →
        float → augmentation that moves the targets with them (``generator`` is on ``feed.device``;
        :func:`tlweb.engine.accel.crop_flip_theta` / :func:`~tlweb.engine.accel.warp` help) →
        ``feed.model_input``."""
        raise NotImplementedError

    def loss(self, model, batch: dict) -> tuple[torch.Tensor, dict]:
        """(scalar float32 loss to minimise, named parts as DETACHED tensors or floats). Called inside
        ``feed.autocast()``; do not call ``.item()`` (it would sync the device every step)."""
        raise NotImplementedError

    def evaluate(self, model, enc: Encoded, feed: Feed, batch_size: int) -> Evaluation:
        """Loss and metric on every item of ``enc`` without augmentation. The run calls it with the
        model in eval mode under ``torch.inference_mode()``; wrap forwards in ``feed.autocast()``."""
        raise NotImplementedError

    def strategy(self, name: str) -> Strategy:
        """The strategy record ``name`` for this task, or one sentence: an unknown name lists every
        strategy; another task's strategy says whose it is and what to pick ("'decoder' is a strategy
        for semantic segmentation; for object detection pick head, full or scratch.")."""
        from tlweb.engine.train.strategies import get_strategy

        record = get_strategy(name)
        if self.name not in record.tasks:
            owners = " and ".join(_TASKS[t].label if t in _TASKS else t for t in record.tasks)
            choices = list(self.strategies)
            pick = ", ".join(choices[:-1]) + f" or {choices[-1]}" if len(choices) > 1 else "".join(choices)
            raise ModelError(f"'{record.name}' is a strategy for {owners}; for {self.label or self.name} pick {pick}.")
        return record

    def defaults(self, strategy: Strategy) -> dict:
        """The strategy's defaults for this task: ``strategy.defaults`` (epochs, lr, head_mult, wd)
        with ``strategy_defaults[strategy.name]`` over them (``weight_decay`` accepted for ``wd``)."""
        out = dict(strategy.defaults)
        for k, v in self.strategy_defaults.get(strategy.name, {}).items():
            out["wd" if k == "weight_decay" else k] = v
        return out

    def selection_key(self, evaluation: Evaluation) -> tuple:
        """Larger is better: the kept epoch is the evaluation with the largest key."""
        return (evaluation.metric, -evaluation.loss)

    # ---- the end of a run
    def finish(self, run_dir: Path, data: TaskData, enc_test: Encoded, evaluation: Evaluation,
               settings: Settings) -> dict:
        """What to keep besides the model (worst images / mistakes as PNGs in ``run_dir``) and the
        task's metrics.json fields: at least ``f"test_{self.metric}"`` and every ``json_keys`` entry
        (fractions 0..1, plain JSON)."""
        raise NotImplementedError

    def save(self, model, processor, model_dir: Path, spec: ModelSpec, base_name: str, strategy: str,
             data: TaskData, settings: Settings) -> None:
        """``save_pretrained`` + processor + tlweb metadata in config.json (``"tlweb": {"task": …}``)
        so the folder loads in a plain ``transformers.pipeline(<task>)`` with the data's class names."""
        raise NotImplementedError

    # ---- records pickle by name (they cross into the ZeroGPU worker inside a run's plan)
    def __reduce__(self):
        return (train_task, (self.name,))

    def __repr__(self) -> str:
        return f"<TrainTask {self.name}>"


# --------------------------------------------------------------------------- the registry

_TASKS: dict[str, TrainTask] = {}


def register_train_task(task):
    """Register a :class:`TrainTask` subclass (decorator: it is instantiated once) or instance; a
    task of the same name is replaced. Returns what it was given."""
    instance = task() if isinstance(task, type) else task
    if not isinstance(instance, TrainTask) or not instance.name:
        raise TypeError("register_train_task takes a TrainTask subclass or instance with a name")
    _TASKS[instance.name] = instance
    return task


def train_task(name: str | None) -> TrainTask:
    """The registered task ``name`` (None: image classification), or one sentence naming the choices."""
    try:
        return _TASKS[name or CLASSIFICATION]
    except (KeyError, TypeError):
        raise ModelError(f"Fine-tuning is not available for '{clip(str(name))}'; pick one of "
                         f"{', '.join(_TASKS)}.") from None


def train_tasks() -> list[TrainTask]:
    """Every registered task, in registration order (classification first)."""
    return list(_TASKS.values())


def train_task_names() -> tuple[str, ...]:
    return tuple(_TASKS)

