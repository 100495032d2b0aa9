"""Fine-tuning: five strategies on the same split and budget, streaming events, run folders.

``finetune(cfg, on_event, should_stop)`` loads the data (or takes a :class:`PreparedData`), loads
the model with a new head sized to the classes, decodes every image once to uint8 at the
model's input size, trains, and writes the run folder (:mod:`tlweb.engine.runs`).

No model selection on the test split. When every class has at least
:data:`MIN_TRAIN_PER_CLASS_FOR_VALIDATION` training images, a stratified validation subset
(:data:`VALIDATION_FRACTION` of each class, at least one, chosen by the seed with
:func:`tlweb.engine.data.stratified_split`) is carved out of the training images: the model trains
on the rest, the per-epoch ``eval`` events (the live curves) are computed on it, and the epoch with
the best validation accuracy (then loss) is kept. With fewer images nothing is selected: the last
epoch is kept (a Stop keeps the model as it is), and the per-epoch ``eval`` events are computed on
the test split for monitoring only (``eval_split="test"``; their message says so). Either way the
test split decides nothing, so the final test metrics are an honest estimate.

Strategies:

- ``linear``: backbone frozen; head inputs computed once (cached on disk), a linear head
  trained on the cached vectors (large-batch AdamW, seconds), then copied into the model.
- ``partial``: the last ``partial_blocks`` blocks of the backbone + everything after them
  (final norm, head) are trained.
- ``full``: every weight.
- ``lora``: peft LoRA adapters on the attention projections (q_proj/v_proj; pwconv1/pwconv2
  for ConvNeXt; the non-depthwise convolutions / linear layers of the blocks for other CNNs),
  the head trained in full; merged into the weights before saving.
- ``scratch``: the same architecture from its config, random weights.

The loop is plain torch: AdamW (fused on CUDA), cosine schedule with linear warmup, bf16
autocast and channels_last for CNNs on CUDA, normalisation and light augmentation on the
device. ``accelerate`` supplies the device and, under ``accelerate launch``, the process
group (each process trains on its shard, gradients are all-reduced by DDP).
"""

from __future__ import annotations

import logging
import math
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.data import (
    EncodedSplit,
    PreparedData,
    encode_split,
    image_sources,
    load_data,
    row_name,
    stratified_split,
    subsample,
)
from tlweb.errors import DataError, ModelError, TlwebError

log = logging.getLogger(__name__)

STRATEGIES = ("linear", "partial", "full", "lora", "scratch")
STRATEGY_INFO: dict[str, str] = {
    "linear": "Linear probe: the pretrained backbone stays frozen, its features are computed once and cached, "
              "and only a new linear head is trained (seconds).",
    "partial": "Partial fine-tune: the last few blocks of the pretrained backbone and the new head are trained; "
               "the earlier blocks stay frozen.",
    "full": "Full fine-tune: every weight of the pretrained model is trained, starting from the pretrained values, "
            "with a new head sized to your classes.",
    "lora": "LoRA: small low-rank adapters inside the attention (or projection) layers and the new head are "
            "trained; the adapters are merged into the weights when the model is saved.",
    "scratch": "From scratch: the same architecture with random weights, trained only on your images — the "
               "baseline that shows what pretraining buys.",
}

# per strategy: epochs, learning rate, head learning-rate multiplier, weight decay
DEFAULTS = {
    "linear": {"epochs": 100, "lr": 3e-3, "head_mult": 1.0, "wd": 1e-4},
    "partial": {"epochs": 10, "lr": 3e-4, "head_mult": 10.0, "wd": 0.01},
    "full": {"epochs": 10, "lr": 1e-4, "head_mult": 10.0, "wd": 0.01},
    "lora": {"epochs": 10, "lr": 1e-3, "head_mult": 3.0, "wd": 0.0},
    "scratch": {"epochs": 10, "lr": 1e-3, "head_mult": 1.0, "wd": 0.05},
}
MIN_STEPS = 60  # default epochs grow on small data so a run makes at least this many steps
MAX_EPOCHS_GPU = 100
EVENT_INTERVAL_S = 0.25  # step events at most ~4 per second
MAX_MISTAKES = 12
# A validation subset is carved out of the training images only when every class has at least this
# many (so each class keeps >= 3 to train on after giving one or more to validation); below it the
# last epoch is kept and nothing is selected.
MIN_TRAIN_PER_CLASS_FOR_VALIDATION = 4
VALIDATION_FRACTION = 0.15  # of each class's training images (rounded, at least 1)
MONITOR_NOTE = "eval on test split — monitoring only, not used for selection"


@dataclass
class TrainConfig:
    model: str  # catalog key / Hub id / local folder (resolve())
    data: str | PreparedData  # load_data() source or prepared data
    strategy: str = "linear"
    epochs: int | None = None  # None → per-strategy default
    batch_size: int | None = None
    lr: float | None = None
    partial_blocks: int = 2
    lora_r: int = 8
    per_class: int | None = None  # subsample the train split to N images per class
    seed: int = 0
    out_dir: str | None = None  # default: settings.runs_dir / run_id
    name: str | None = None  # human label for the run
    augment: bool = True  # random flip + small random resized crop (not for linear: features are fixed)

    def as_dict(self) -> dict:
        data = self.data
        if isinstance(data, PreparedData):
            data = data.source
        return {"model": self.model, "data": data, "strategy": self.strategy, "epochs": self.epochs,
                "batch_size": self.batch_size, "lr": self.lr, "partial_blocks": self.partial_blocks,
                "lora_r": self.lora_r, "per_class": self.per_class, "seed": self.seed, "out_dir": self.out_dir,
                "name": self.name, "augment": self.augment}


@dataclass
class TrainEvent:
    kind: str  # "start" | "step" | "eval" | "done" | "stopped" | "error"
    run_id: str
    strategy: str
    epoch: float  # fractional epochs done
    step: int
    total_steps: int
    train_loss: float | None = None
    val_loss: float | None = None
    val_accuracy: float | None = None  # 0..1
    lr: float | None = None
    images_per_s: float | None = None
    eta_s: float | None = None
    message: str = ""
    time: float = field(default_factory=time.time)  # wall clock (seconds since the epoch)
    # eval events: which images val_loss/val_accuracy come from — "validation" (held out of the
    # training images, used to pick the kept epoch) or "test" (tiny data: monitoring only)
    eval_split: str | None = None

    def as_dict(self) -> dict:
        d = {}
        for k in ("kind", "run_id", "strategy", "epoch", "step", "total_steps", "train_loss", "val_loss",
                  "val_accuracy", "lr", "images_per_s", "eta_s", "message", "time", "eval_split"):
            v = getattr(self, k)
            if isinstance(v, float):
                v = round(v, 6) if k != "time" else round(v, 3)
                if math.isnan(v) or math.isinf(v):
                    v = None
            d[k] = v
        return d


@dataclass
class RunResult:
    run_id: str
    run_dir: Path
    model_dir: Path  # save_pretrained output (model + processor) — loadable by the Classify tab
    strategy: str
    base_model: str
    train_images: int  # the images the model trained on (validation images excluded)
    test_images: int
    test_accuracy: float
    test_macro_f1: float
    metrics: dict
    mistakes: list[dict]
    history: list[TrainEvent]
    stopped: bool
    wall_s: float
    hyperparameters: dict = field(default_factory=dict)
    val_images: int = 0  # held out of the training images to pick the epoch (0: none, last epoch kept)
    selection: str = ""  # "best validation epoch" | "last epoch"
    kept_epoch: float | None = None  # the epoch whose weights were kept

    def as_dict(self) -> dict:
        """JSON-able summary; ``history`` keeps the non-step events (every event is in events.jsonl)."""
        return {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "model_dir": str(self.model_dir),
            "strategy": self.strategy,
            "base_model": self.base_model,
            "train_images": self.train_images,
            "val_images": self.val_images,
            "test_images": self.test_images,
            "selection": self.selection,
            "kept_epoch": self.kept_epoch,
            "test_accuracy": round(float(self.test_accuracy), 6),
            "test_macro_f1": round(float(self.test_macro_f1), 6),
            "stopped": self.stopped,
            "wall_s": round(self.wall_s, 3),
            "hyperparameters": self.hyperparameters,
            "metrics": self.metrics,
            "mistakes": self.mistakes,
            "history": [e.as_dict() for e in self.history if e.kind != "step"],
        }


class _Stopped(Exception):
    pass


# --------------------------------------------------------------------------- public API


def finetune(cfg: TrainConfig, on_event: Callable[[TrainEvent], None] | None = None,
             should_stop: Callable[[], bool] | None = None, settings: Settings | None = None) -> RunResult:
    """Run one fine-tune; returns its :class:`RunResult` (also when stopped early).

    ``on_event`` is called from this thread for every event; ``should_stop()`` is checked between
    steps — when it turns true the run ends with a "stopped" event and keeps (and saves) the best
    model so far by validation accuracy, or the model as it is when there is no validation subset
    (see the module docstring). Errors people can act on raise :class:`TlwebError` (after an
    "error" event).
    """
    settings = settings or get_settings()
    if cfg.strategy not in STRATEGIES:
        raise ModelError(f"Unknown strategy '{cfg.strategy}'; pick one of {', '.join(STRATEGIES)}.")
    from tlweb.engine.accel import gpu_wrap

    run = gpu_wrap(_finetune, _gpu_duration(cfg))
    return run(cfg, on_event, should_stop, settings)


def ladder(model: str, data, strategies=STRATEGIES, on_event=None, should_stop=None, settings=None,
           **cfg_kwargs) -> list[RunResult]:
    """The strategy ladder: every strategy on the same split (data loaded once) and budget."""
    settings = settings or get_settings()
    prepared = data if isinstance(data, PreparedData) else load_data(data, seed=cfg_kwargs.get("seed", 0),
                                                                     settings=settings)
    if cfg_kwargs.get("per_class"):
        prepared = subsample(prepared, cfg_kwargs.pop("per_class"), cfg_kwargs.get("seed", 0))
    results = []
    for strategy in strategies:
        if should_stop is not None and should_stop():
            break
        kwargs = dict(cfg_kwargs)
        kwargs.setdefault("name", f"ladder {strategy}")
        results.append(finetune(TrainConfig(model=model, data=prepared, strategy=strategy, **kwargs),
                                on_event=on_event, should_stop=should_stop, settings=settings))
    return results


def data_efficiency(model: str, data, shots=(1, 2, 5, 10, 25), strategies=("linear", "scratch"),
                    on_event=None, should_stop=None, seed: int = 0, settings=None, **cfg_kwargs) -> list[dict]:
    """Test accuracy at 1, 2, 5 … training images per class for each strategy (same test split).

    Shots larger than the smallest class are skipped. Linear runs reuse the cached features. With
    at least :data:`MIN_TRAIN_PER_CLASS_FOR_VALIDATION` shots some of them are held out for
    validation (``train_images`` counts the rest); below that the last epoch is kept.
    """
    settings = settings or get_settings()
    prepared = data if isinstance(data, PreparedData) else load_data(data, seed=seed, settings=settings)
    smallest = min(v for v in prepared.counts()["train"].values())
    rows = []
    for shot in sorted({int(s) for s in shots}):
        if shot < 1 or shot > smallest:
            continue
        sub = subsample(prepared, shot, seed)
        for strategy in strategies:
            if should_stop is not None and should_stop():
                return rows
            cfg = TrainConfig(model=model, data=sub, strategy=strategy, seed=seed,
                              name=f"data-efficiency {strategy} {shot} per class", **cfg_kwargs)
            res = finetune(cfg, on_event=on_event, should_stop=should_stop, settings=settings)
            rows.append({"strategy": strategy, "per_class": shot, "train_images": res.train_images,
                         "val_images": res.val_images, "test_accuracy": res.test_accuracy,
                         "test_macro_f1": res.test_macro_f1,
                         "run_id": res.run_id, "stopped": res.stopped})
            if res.stopped:
                return rows
    return rows


# --------------------------------------------------------------------------- the run


def _gpu_duration(cfg: TrainConfig) -> float:
    epochs = cfg.epochs or DEFAULTS[cfg.strategy]["epochs"]
    return 60 + (0 if cfg.strategy == "linear" else 6 * epochs)


class _Emitter:
    def __init__(self, run_id: str, strategy: str, writer, on_event):
        self.run_id = run_id
        self.strategy = strategy
        self.writer = writer
        self.on_event = on_event
        self.history: list[TrainEvent] = []

    def __call__(self, kind: str, **kw) -> TrainEvent:
        kw.setdefault("epoch", 0.0)
        kw.setdefault("step", 0)
        kw.setdefault("total_steps", 0)
        ev = TrainEvent(kind=kind, run_id=self.run_id, strategy=self.strategy, **kw)
        self.history.append(ev)
        if self.writer is not None:
            self.writer.event(ev.as_dict())
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # noqa: BLE001 - a broken listener must not kill the run
                log.exception("on_event listener failed")
        return ev


def _finetune(cfg: TrainConfig, on_event, should_stop, settings: Settings) -> RunResult:
    import torch

    from tlweb.catalog import resolve
    from tlweb.engine.accel import Runtime
    from tlweb.engine.runs import RunWriter, new_run_dir, now_iso

    t0 = time.perf_counter()
    stop = should_stop or (lambda: False)
    runtime = Runtime(settings)
    strategy = cfg.strategy
    base_name = str(cfg.model)
    spec = resolve(cfg.model, settings=settings)
    base_name = spec.key if spec.source in ("catalog", "demo", "run") else spec.hub_id

    writer = None
    if runtime.is_main:
        if cfg.out_dir:
            run_dir = Path(cfg.out_dir).expanduser()
            if run_dir.exists() and any(run_dir.iterdir()):
                raise DataError(f"The output folder '{cfg.out_dir}' exists and is not empty; pick a new one.")
            run_dir.mkdir(parents=True, exist_ok=True)
            run_id = run_dir.name
        else:
            run_id, run_dir = new_run_dir(settings, cfg.name or f"{strategy} {spec.key}")
        writer = RunWriter(run_id, run_dir)
    else:
        run_id, run_dir = f"rank{runtime.rank}", Path(os.devnull)
    emit = _Emitter(run_id, strategy, writer, on_event)
    config = {
        "run_id": run_id, "name": cfg.name or f"{strategy} · {base_name}", "created": now_iso(), "pid": os.getpid(),
        "strategy": strategy, "base_model": base_name, "base_model_path": spec.hub_id, "family": spec.family,
        "train_config": cfg.as_dict(), "class_names": [], "device": str(runtime.device),
        "precision": runtime.precision, "world_size": runtime.world_size,
    }
    if writer:
        writer.write_config(config)
    try:
        data = cfg.data if isinstance(cfg.data, PreparedData) else load_data(cfg.data, seed=cfg.seed, settings=settings)
        if cfg.per_class:
            data = subsample(data, cfg.per_class, cfg.seed)
        config["class_names"] = list(data.class_names)
        config["data"] = {"source": data.source, "test_from": data.test_from, "counts": data.counts(),
                          "fingerprint": data.fingerprint(), "skipped": data.skipped[:100],
                          "skipped_total": len(data.skipped)}
        if writer:
            writer.write_config(config)
        torch.manual_seed(cfg.seed)
        model, processor, spec = load_for_training(spec, data.class_names, strategy, cfg.seed, settings)
        enc_train = encode_split(data, "train", processor, settings)
        enc_test = encode_split(data, "test", processor, settings)
        if len(enc_train) == 0:
            raise DataError("No training image could be decoded.")
        if len(enc_test) == 0:
            raise DataError("The test split is empty (or none of its images could be decoded).")
        present = set(enc_train.labels.tolist())
        if len(present) < 2:
            raise DataError("The training images cover only one class; a classifier needs at least two.")
        holdout = validation_holdout(enc_train, data.class_names, cfg.seed)
        hp = _plan(cfg, len(holdout.fit), runtime, settings)
        config["hyperparameters"] = hp
        config["data"]["skipped"] = data.skipped[:100]
        config["data"]["skipped_total"] = len(data.skipped)
        config["data"].update({
            "train_images": len(holdout.fit), "val_images": holdout.n_val, "test_images": len(enc_test),
            "selection": holdout.selection, "validation_fraction": VALIDATION_FRACTION if holdout.selects else None,
            "min_train_per_class_for_validation": MIN_TRAIN_PER_CLASS_FOR_VALIDATION,
            # row numbers in the training split (as given, after per_class) held out for validation
            "validation_rows": list(holdout.val.rows) if holdout.selects else [],
        })
        if writer:
            writer.write_config(config)
        fit = _fit_linear if strategy == "linear" else _fit_network
        outcome = fit(model, processor, spec, data, enc_train, enc_test, hp, cfg, runtime, emit, stop, settings,
                      holdout)
        model = outcome["model"]
        test_logits = outcome["test_logits"]
        stopped = outcome["stopped"]
        from tlweb.engine.metrics import classification_metrics

        y_test = enc_test.labels
        probs = torch.softmax(test_logits.float(), dim=-1)
        conf, pred = probs.max(dim=-1)
        metrics = classification_metrics(pred.tolist(), y_test.tolist(), data.class_names)
        final_loss = float(torch.nn.functional.cross_entropy(test_logits.float(), y_test))
        mistakes = []
        model_dir = run_dir / "model"
        if runtime.is_main:
            mistakes = _save_mistakes(run_dir, data, enc_test, pred, conf, settings)
            _save_model(model, processor, model_dir, spec, base_name, strategy, data, settings)
        runtime.wait()
        wall = time.perf_counter() - t0
        kept_epoch = outcome.get("kept_epoch")
        metrics.update({"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"],
                        "test_loss": final_loss, "status": "stopped" if stopped else "done", "stopped": stopped,
                        "train_images": len(holdout.fit), "val_images": holdout.n_val, "test_images": len(enc_test),
                        "selection": holdout.selection, "best_epoch": outcome.get("best_epoch"),
                        "kept_epoch": kept_epoch, "wall_s": round(wall, 3),
                        "mistakes": mistakes, "strategy": strategy, "base_model": base_name})
        final_step = outcome.get("step", 0)
        if holdout.selects:
            kept = (f"kept the best epoch by validation accuracy (epoch {kept_epoch:g})" if kept_epoch is not None
                    else "kept the model as it was (no epoch finished)")
        else:
            kept = "kept the last model, no selection (too few images per class for a validation split)"
        # the test numbers go in the message only: val_loss/val_accuracy stay for per-epoch evaluations
        emit("stopped" if stopped else "done", epoch=float(outcome.get("epoch", 0.0)), step=final_step,
             total_steps=hp["total_steps"],
             message=(f"stopped early; {kept}" if stopped else f"done in {wall:.1f} s; {kept}")
             + f" · test accuracy {metrics['accuracy'] * 100:.1f}% on {len(enc_test)} test images")
        if writer:
            writer.write_metrics(metrics)
        result_metrics = {k: metrics[k] for k in ("accuracy", "macro_f1", "per_class", "confusion_matrix",
                                                   "class_names")}
        result_metrics.update({k: v for k, v in metrics.items() if k not in result_metrics and k != "mistakes"})
        return RunResult(run_id=run_id, run_dir=run_dir, model_dir=model_dir, strategy=strategy, base_model=base_name,
                         train_images=len(holdout.fit), test_images=len(enc_test),
                         test_accuracy=float(metrics["accuracy"]), test_macro_f1=float(metrics["macro_f1"]),
                         metrics=result_metrics, mistakes=mistakes, history=emit.history, stopped=stopped,
                         wall_s=wall, hyperparameters=hp, val_images=holdout.n_val,
                         selection=holdout.selection, kept_epoch=kept_epoch)
    except TlwebError as exc:
        emit("error", message=str(exc))
        raise
    except Exception as exc:
        friendly = _friendly(exc)
        emit("error", message=str(friendly) if friendly else f"unexpected {type(exc).__name__}: {exc}")
        if friendly is not None:
            raise friendly from exc
        raise
    finally:
        if writer:
            writer.close()


@dataclass
class Holdout:
    """The training images split into what the model trains on and the validation subset that
    picks the kept epoch (``val`` is None when the data is too small: no selection)."""

    fit: EncodedSplit
    val: EncodedSplit | None
    fit_idx: object  # torch.long positions in the full encoded training split
    val_idx: object | None

    @property
    def selects(self) -> bool:
        return self.val is not None

    @property
    def n_val(self) -> int:
        return len(self.val) if self.val is not None else 0

    @property
    def selection(self) -> str:
        return "best validation epoch" if self.selects else "last epoch"


def validation_holdout(enc_train: EncodedSplit, class_names: list[str], seed: int = 0) -> Holdout:
    """Carve a stratified validation subset out of the decoded training images when every class
    has at least :data:`MIN_TRAIN_PER_CLASS_FOR_VALIDATION` of them (else no validation subset).

    Uses :func:`tlweb.engine.data.stratified_split` (``VALIDATION_FRACTION`` of each class, at
    least one, at least one left to train on), deterministic for a seed."""
    from collections import Counter

    import torch

    labels = [int(x) for x in enc_train.labels.tolist()]
    seen = Counter(labels)
    counts = [seen.get(c, 0) for c in range(len(class_names))]
    if not counts or min(counts) < MIN_TRAIN_PER_CLASS_FOR_VALIDATION:
        idx = torch.arange(len(enc_train), dtype=torch.long)
        return Holdout(enc_train, None, idx, None)
    fit_pos, val_pos = stratified_split(labels, len(class_names), VALIDATION_FRACTION, seed, list(class_names))
    fit_idx = torch.tensor(fit_pos, dtype=torch.long)
    val_idx = torch.tensor(val_pos, dtype=torch.long)

    def part(idx, pos):
        return EncodedSplit(enc_train.pixels[idx], enc_train.labels[idx], [enc_train.rows[i] for i in pos],
                            enc_train.skipped, 0.0)

    return Holdout(part(fit_idx, fit_pos), part(val_idx, val_pos), fit_idx, val_idx)


def _friendly(exc: Exception) -> TlwebError | None:
    text = str(exc)
    if "out of memory" in text.lower():
        return ModelError("The device ran out of memory: lower the batch size or pick a smaller model.")
    return None


# --------------------------------------------------------------------------- model


def load_for_training(spec, class_names: list[str], strategy: str, seed: int = 0, settings: Settings | None = None):
    """(model, processor, spec) with a new head for ``class_names``; fp32, train mode, on the CPU.

    Uses :mod:`tlweb.engine.loading`'s rules: local folders need safetensors (pickle only with
    ``allow_pickle``), Hub ids are fetched only when cached or the Hub answers, never remote code.
    """
    import torch
    from transformers import AutoModelForImageClassification

    from tlweb.catalog import CLASSIFICATION, FEATURES, task_from_config
    from tlweb.engine import loading as L

    settings = settings or get_settings()
    L._quiet_transformers()
    if spec.source == "demo":
        from tlweb.engine.demo import ensure_built

        ensure_built(spec.key, settings)
    source = spec.hub_id
    local = Path(source).is_dir()
    kwargs: dict = {"trust_remote_code": False}
    if local:
        kind = L._weights_kind(Path(source))
        if kind == "none" and strategy != "scratch":
            raise ModelError(f"The folder '{source}' has a config.json but no weights (model.safetensors).")
        if kind == "pickle" and L._user_typed(spec) and not settings.allow_pickle:
            raise ModelError(
                f"The folder '{source}' only has pickle weights (.bin), which can run code when loaded. "
                "Convert them to safetensors, or start the app with TLWEB_ALLOW_PICKLE=1 if you trust them.")
        kwargs["local_files_only"] = True
    elif L._user_typed(spec) and not settings.allow_pickle:
        kwargs["use_safetensors"] = True
    config = L._load_config(spec, source, local, settings)
    task = task_from_config(config.to_dict())
    if task not in (CLASSIFICATION, FEATURES) or config.model_type in ("clip", "siglip", "siglip2", "owlvit", "owlv2"):
        raise ModelError(f"'{spec.key}' is {L.TASK_NAMES.get(task, task)}, not an image classifier or backbone; "
                         "pick a classification model or a backbone to fine-tune.")
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    if config.model_type not in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
        raise ModelError(f"transformers has no image-classification head for '{config.model_type}' models, "
                         "so they cannot be fine-tuned here.")
    id2label = {i: str(n) for i, n in enumerate(class_names)}
    label2id = {str(n): i for i, n in enumerate(class_names)}
    torch.manual_seed(seed)
    if strategy == "scratch":
        config.id2label = id2label
        config.label2id = label2id
        config.num_labels = len(class_names)
        model = AutoModelForImageClassification.from_config(config)
    else:
        model = L._from_pretrained(AutoModelForImageClassification, spec, source, local,
                                   {**kwargs, "id2label": id2label, "label2id": label2id,
                                    "ignore_mismatched_sizes": True}, settings)
        _reset_head(model, seed)
    model.config.problem_type = "single_label_classification"
    processor = L._load_processor(spec, source, local, CLASSIFICATION, settings)
    spec = L._enrich(spec, model, processor, CLASSIFICATION)
    model = model.float().cpu()
    model.train()
    return model, processor, spec


def _reset_head(model, seed: int) -> None:
    """A fresh head even when the checkpoint's head happened to have the right size."""
    import torch

    from tlweb.engine.features import find_head

    _, lin, _ = find_head(model)
    g = torch.Generator().manual_seed(seed + 17)
    std = float(getattr(model.config, "initializer_range", 0.02) or 0.02)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * std)
        if lin.bias is not None:
            lin.bias.zero_()


def _is_cnn(model) -> bool:
    import torch.nn as nn

    return sum(1 for m in model.modules() if isinstance(m, nn.Conv2d)) > 4


# --------------------------------------------------------------------------- planning


def _plan(cfg: TrainConfig, n_train: int, runtime, settings: Settings) -> dict:
    d = DEFAULTS[cfg.strategy]
    on_cpu = runtime.device.type == "cpu"
    world = runtime.world_size
    if cfg.strategy == "linear":
        bs = cfg.batch_size or min(n_train, 4096)
        bs = max(1, min(bs, n_train))
        spe = max(1, n_train // bs)
        epochs = cfg.epochs or d["epochs"]
    else:
        default_bs = 32 if on_cpu else 64
        bs = cfg.batch_size or min(default_bs, max(4, math.ceil(n_train / 4)))
        per_proc = max(1, n_train // world)
        bs = max(1, min(bs, per_proc))
        spe = max(1, per_proc // bs)
        if cfg.epochs:
            epochs = cfg.epochs
        else:
            epochs = max(d["epochs"], math.ceil(MIN_STEPS / spe))
            epochs = min(epochs, settings.max_epochs_cpu if on_cpu else MAX_EPOCHS_GPU)
    capped_from = None
    if on_cpu and cfg.strategy != "linear" and epochs > max(1, settings.max_epochs_cpu):
        capped_from = epochs
        epochs = max(1, settings.max_epochs_cpu)
    epochs = max(1, int(epochs))
    total = spe * epochs
    warmup = max(1, int(round(0.05 * total))) if total > 10 else 0
    return {"epochs": epochs, "batch_size": int(bs), "lr": float(cfg.lr or d["lr"]), "head_lr_mult": d["head_mult"],
            "weight_decay": d["wd"], "steps_per_epoch": spe, "total_steps": total, "warmup_steps": warmup,
            "augment": bool(cfg.augment and cfg.strategy != "linear"), "device": str(runtime.device),
            "precision": runtime.precision, "world_size": world,
            "partial_blocks": cfg.partial_blocks if cfg.strategy == "partial" else None,
            "lora_r": cfg.lora_r if cfg.strategy == "lora" else None, "epochs_capped_from": capped_from}


def _schedule(warmup: int, total: int):
    def f(step: int) -> float:
        if warmup and step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return f


def _param_groups(named_params, head_prefix: str, lr: float, head_mult: float, wd: float) -> list[dict]:
    groups: dict[tuple, list] = {}
    for name, p in named_params:
        if not p.requires_grad:
            continue
        is_head = name.startswith(head_prefix + ".") or f".{head_prefix}." in name
        decay = p.ndim > 1
        groups.setdefault((is_head, decay), []).append(p)
    out = []
    for (is_head, decay), params in groups.items():
        out.append({"params": params, "lr": lr * (head_mult if is_head else 1.0), "weight_decay": wd if decay else 0.0})
    return out


# --------------------------------------------------------------------------- linear probe


def _features(model, spec, data: PreparedData, split: str, enc, processor, runtime, settings, stop, channels_last):
    """Head-input vectors for a split, cached on disk; a subsample indexes the full set's."""
    import torch

    from tlweb.engine.accel import Normalizer
    from tlweb.engine.data import processor_geometry
    from tlweb.engine.features import cached_features, extract, model_identity

    if data.base is not None:
        base_enc = encode_split(data.base, split, processor, settings)
        full = _features(model, spec, data.base, split, base_enc, processor, runtime, settings, stop, channels_last)
        if full is None:
            return None
        if split != "train":
            return full
        pos = {r: i for i, r in enumerate(base_enc.rows)}
        idx = torch.tensor([pos[data.train_rows[r]] for r in enc.rows], dtype=torch.long)
        return full[idx]
    key = {"model": model_identity(spec), "data": data.fingerprint(), "split": split,
           "geometry": processor_geometry(processor), "precision": runtime.precision, "n": len(enc), "v": 1}
    normalizer = Normalizer(processor, runtime.device)
    bs = 256 if runtime.device.type == "cuda" else 64

    def compute():
        return extract(model, enc.pixels, normalizer, runtime, batch_size=bs, should_stop=stop,
                       channels_last=channels_last)

    feats, _hit = cached_features(key, compute, settings)
    return feats


def _fit_linear(model, processor, spec, data, enc_train, enc_test, hp, cfg, runtime, emit, stop, settings,
                holdout: Holdout) -> dict:
    """The head on cached vectors. Features are computed for the whole training split (one cache
    entry whatever the holdout) and indexed into the images trained on and the validation ones."""
    import torch
    import torch.nn.functional as F

    from tlweb.engine.features import find_head

    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    channels_last = runtime.device.type == "cuda" and _is_cnn(model)
    model.to(runtime.device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    total = hp["total_steps"]
    emit("start", total_steps=total, message=_start_message(cfg, hp, holdout, enc_test, extra="computing features once"))
    t_feat = time.perf_counter()
    f_train = _features(model, spec, data, "train", enc_train, processor, runtime, settings, stop, channels_last)
    f_test = None if f_train is None else _features(model, spec, data, "test", enc_test, processor, runtime,
                                                      settings, stop, channels_last)
    feat_s = time.perf_counter() - t_feat
    _, lin, _ = find_head(model)
    if f_train is None or f_test is None:  # stopped while computing features: keep the fresh head
        model.cpu()
        with torch.no_grad():
            logits = _head_logits(lin.weight.detach().cpu(), lin.bias.detach().cpu() if lin.bias is not None else None,
                                  torch.zeros(len(enc_test), lin.in_features))
        return {"model": model, "test_logits": logits, "stopped": True, "best_epoch": None, "kept_epoch": None,
                "epoch": 0.0, "step": 0}
    dev = runtime.device
    f_fit = f_train[holdout.fit_idx]
    mu = f_fit.mean(0)
    sd = f_fit.std(0, unbiased=False).clamp_min(1e-6)
    xtr = ((f_fit - mu) / sd).to(dev)
    ytr = holdout.fit.labels.to(dev)
    if holdout.selects:  # per-epoch evaluation and the choice of the head on the validation vectors
        xev = ((f_train[holdout.val_idx] - mu) / sd).to(dev)
        yev = holdout.val.labels.to(dev)
    else:  # too few images: no selection, the test vectors only draw the curves
        xev = ((f_test - mu) / sd).to(dev)
        yev = enc_test.labels.to(dev)
    C, D = lin.out_features, xtr.shape[1]
    head = torch.nn.Linear(D, C).to(dev)
    torch.nn.init.zeros_(head.weight)
    torch.nn.init.zeros_(head.bias)
    opt = runtime.adamw([{"params": [head.weight], "weight_decay": hp["weight_decay"]},
                         {"params": [head.bias], "weight_decay": 0.0}], hp["lr"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(hp["warmup_steps"], total))
    bs, spe, epochs = hp["batch_size"], hp["steps_per_epoch"], hp["epochs"]
    g = torch.Generator(device=dev).manual_seed(cfg.seed)
    best = None  # (acc, -loss, epoch, W, b): the best validation epoch (only with a validation subset)
    step, stopped, last_emit = 0, False, 0.0
    t_train = time.perf_counter()
    loss_acc = torch.zeros((), device=dev)
    n_acc = 0
    epoch_done = 0
    eval_every = max(1, math.ceil(epochs / 25))  # ~25 evaluation points whatever the epochs
    first_eval = True
    for epoch in range(epochs):
        perm = torch.randperm(xtr.shape[0], device=dev, generator=g) if spe > 1 else None
        for b in range(spe):
            if stop():
                stopped = True
                break
            if perm is None:
                xb, yb = xtr, ytr
            else:
                idx = perm[b * bs:(b + 1) * bs]
                xb, yb = xtr[idx], ytr[idx]
            loss = F.cross_entropy(head(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            loss_acc += loss.detach()
            n_acc += 1
            now = time.perf_counter()
            if now - last_emit >= EVENT_INTERVAL_S or step == total:
                elapsed = now - t_train
                emit("step", epoch=step / spe, step=step, total_steps=total, train_loss=float(loss_acc / n_acc),
                     lr=sched.get_last_lr()[0], images_per_s=step * bs / max(elapsed, 1e-9),
                     eta_s=elapsed / step * (total - step))
                loss_acc.zero_()
                n_acc = 0
                last_emit = now
        if stopped:
            break
        epoch_done = epoch + 1
        if epoch_done % eval_every and epoch_done != epochs:
            continue
        with torch.no_grad():
            logits = head(xev)
            vloss = float(F.cross_entropy(logits, yev))
            vacc = float((logits.argmax(-1) == yev).float().mean())
        if holdout.selects and (best is None or (vacc, -vloss) > (best[0], best[1])):
            best = (vacc, -vloss, epoch_done, head.weight.detach().clone(), head.bias.detach().clone())
        elapsed = time.perf_counter() - t_train
        emit("eval", epoch=float(epoch_done), step=step, total_steps=total, val_loss=vloss, val_accuracy=vacc,
             lr=sched.get_last_lr()[0], images_per_s=step * bs / max(elapsed, 1e-9),
             eta_s=elapsed / max(step, 1) * (total - step), eval_split="validation" if holdout.selects else "test",
             message=f"epoch {epoch_done}/{epochs}" + (f" · features computed in {feat_s:.1f} s" if first_eval else "")
             + ("" if holdout.selects else f" · {MONITOR_NOTE}"))
        first_eval = False
    if best is None:  # no selection (or stopped before the first evaluation): the head as it is now
        best = (None, None, None, head.weight.detach().clone(), head.bias.detach().clone())
        kept_epoch = step / spe
    else:
        kept_epoch = float(best[2])
    W, bvec = best[3].float().cpu(), best[4].float().cpu()
    mu_c, sd_c = mu.cpu(), sd.cpu()
    W_model = W / sd_c
    b_model = bvec - (W * (mu_c / sd_c)).sum(1)
    with torch.no_grad():
        lin.weight.copy_(W_model.to(lin.weight.device, lin.weight.dtype))
        if lin.bias is not None:
            lin.bias.copy_(b_model.to(lin.bias.device, lin.bias.dtype))
    test_logits = _head_logits(W_model, b_model, f_test.cpu())
    model = model.cpu()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    return {"model": model, "test_logits": test_logits, "stopped": stopped, "best_epoch": best[2],
            "kept_epoch": round(kept_epoch, 3), "epoch": step / spe, "step": step,
            "train_s": time.perf_counter() - t_train, "features_s": feat_s}


def _head_logits(W, b, feats):
    out = feats.float() @ W.float().T
    return out + b.float() if b is not None else out


# --------------------------------------------------------------------------- network strategies


def _setup_strategy(model, strategy: str, cfg: TrainConfig):
    """Freeze / wrap the model for the strategy; returns (model, head prefix, trainable description)."""
    from tlweb.engine.features import find_blocks, find_head

    head_attr, _, _ = find_head(model)
    if strategy in ("full", "scratch"):
        for p in model.parameters():
            p.requires_grad_(True)
        return model, head_attr, "all layers"
    if strategy == "partial":
        blocks_name, blocks = find_blocks(model)
        for p in model.parameters():
            p.requires_grad_(False)
        names = [n for n, _ in model.named_parameters()]
        n_blocks = len(blocks) if blocks is not None else 0
        k = max(1, min(int(cfg.partial_blocks), n_blocks)) if n_blocks else 0
        keep_prefixes = [f"{blocks_name}.{i}." for i in range(n_blocks - k, n_blocks)] if n_blocks else []
        last_block = max((i for i, n in enumerate(names) if blocks_name and n.startswith(blocks_name + ".")), default=-1)
        for i, (n, p) in enumerate(model.named_parameters()):
            if any(n.startswith(pf) for pf in keep_prefixes) or (last_block >= 0 and i > last_block) or \
                    n.startswith(head_attr + "."):
                p.requires_grad_(True)
        return model, head_attr, f"last {k} of {n_blocks} blocks + head"
    if strategy == "lora":
        from peft import LoraConfig, get_peft_model

        targets = lora_targets(model)
        r = max(1, int(cfg.lora_r))
        lcfg = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=targets, bias="none",
                          modules_to_save=[head_attr])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            peft_model = get_peft_model(model, lcfg)
        _expose_conv_attrs(peft_model)
        kinds = sorted({t.split(".")[-1] for t in targets})
        return peft_model, head_attr, f"LoRA r={r} on {len(targets)} layers ({', '.join(kinds[:4])}) + head"
    raise ModelError(f"Unknown strategy '{strategy}'.")


def _expose_conv_attrs(model) -> None:
    """peft's LoRA conv wrappers hide ``stride``/``padding``…; some models read them (MobileNet's
    TF-style padding), so copy them from the wrapped convolution."""
    import torch.nn as nn

    for m in model.modules():
        base = getattr(m, "base_layer", None)
        if isinstance(base, nn.Conv2d) and not isinstance(m, nn.Conv2d):
            for attr in ("stride", "padding", "dilation", "kernel_size", "groups", "in_channels", "out_channels",
                         "padding_mode"):
                if attr not in m.__dict__:
                    object.__setattr__(m, attr, getattr(base, attr))


def lora_targets(model) -> list[str]:
    """Module names for LoRA: attention q/v projections, else ConvNeXt's pointwise layers, else
    the non-depthwise convolutions and linear layers inside the blocks."""
    import torch.nn as nn

    from tlweb.engine.features import find_blocks, find_head

    head_attr = find_head(model)[0]
    mods = [(n, m) for n, m in model.named_modules() if n and n.split(".")[0] != head_attr]
    for names in (("q_proj", "v_proj"), ("query", "value"), ("qkv",), ("pwconv1", "pwconv2")):
        hits = [n for n, m in mods if n.split(".")[-1] in names and isinstance(m, (nn.Linear, nn.Conv2d))]
        if hits:
            return hits
    blocks_name, _ = find_blocks(model)
    inside = [(n, m) for n, m in mods if blocks_name and n.startswith(blocks_name + ".")]
    hits = [n for n, m in inside if type(m) is nn.Linear
            or (type(m) is nn.Conv2d and m.groups == 1 and tuple(m.kernel_size) == (1, 1))]
    if len(hits) < 2:  # e.g. ResNet basic blocks: 1x1 convolutions only on the shortcuts
        hits = [n for n, m in inside if type(m) is nn.Linear or (type(m) is nn.Conv2d and m.groups == 1)]
    if not hits:
        raise ModelError("No layers suitable for LoRA adapters were found in this model; try 'partial' instead.")
    return hits


def _freeze_frozen_bn(model) -> None:
    """BatchNorm layers whose weights are frozen keep their running statistics too."""
    import torch.nn as nn

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters())
            if params and not any(p.requires_grad for p in params):
                m.eval()


def _evaluate(model, pixels, labels, normalizer, runtime, channels_last: bool, batch_size: int):
    """(mean loss, accuracy, logits float CPU) on uint8 images, no augmentation."""
    import torch
    import torch.nn.functional as F

    was = model.training
    model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, pixels.shape[0], batch_size):
            x = normalizer(pixels[i:i + batch_size].to(runtime.device, non_blocking=True))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with runtime.autocast():
                outs.append(model(pixel_values=x).logits.float().cpu())
    model.train(was)
    logits = torch.cat(outs)
    loss = float(F.cross_entropy(logits, labels))
    acc = float((logits.argmax(-1) == labels).float().mean())
    return loss, acc, logits


def _fit_network(model, processor, spec, data, enc_train, enc_test, hp, cfg, runtime, emit, stop, settings,
                 holdout: Holdout) -> dict:
    """Trains on ``holdout.fit``; evaluates after every epoch on ``holdout.val`` (and keeps the best
    epoch) or, without a validation subset, on the test split for the curves only (keeps the last)."""
    import torch
    import torch.nn.functional as F

    from tlweb.engine.accel import Normalizer, augment

    dev = runtime.device
    model, head_prefix, trainable_desc = _setup_strategy(model, cfg.strategy, cfg)
    channels_last = dev.type == "cuda" and _is_cnn(model)
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    named = list(model.named_parameters())
    groups = _param_groups(named, head_prefix, hp["lr"], hp["head_lr_mult"], hp["weight_decay"])
    n_trainable = sum(p.numel() for _, p in named if p.requires_grad)
    n_total = sum(p.numel() for _, p in named)
    opt = runtime.adamw(groups, hp["lr"])
    train_model, opt = runtime.prepare(model, opt)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, _schedule(hp["warmup_steps"], hp["total_steps"]))
    normalizer = Normalizer(processor, dev)
    # the decoded images go to the device once when they fit comfortably, else per batch
    selects = holdout.selects
    x_train = _to_device_if_fits(holdout.fit.pixels, dev)
    y_train = holdout.fit.labels.to(dev)
    x_test = _to_device_if_fits(enc_test.pixels, dev)
    y_test = enc_test.labels
    x_eval, y_eval = (_to_device_if_fits(holdout.val.pixels, dev), holdout.val.labels) if selects else (x_test, y_test)
    eval_split = "validation" if selects else "test"
    bs, spe, epochs, total = hp["batch_size"], hp["steps_per_epoch"], hp["epochs"], hp["total_steps"]
    eval_bs = max(bs, 256 if dev.type == "cuda" else 64)
    emit("start", total_steps=total, message=_start_message(cfg, hp, holdout, enc_test,
                                                            extra=f"training {trainable_desc} "
                                                                  f"({n_trainable / 1e6:.3g}M of {n_total / 1e6:.3g}M "
                                                                  "parameters)"))
    g_cpu = torch.Generator().manual_seed(cfg.seed)
    g_dev = torch.Generator(device=dev).manual_seed(cfg.seed + 1)
    unwrapped = runtime.unwrap(train_model)
    best_state, best_key, best_epoch = None, None, None  # only with a validation subset
    kept_epoch, evaluated = None, False
    step, stopped, last_emit = 0, False, 0.0
    train_time = 0.0  # seconds spent in training steps (evaluation excluded)
    epoch_times: list[float] = []
    loss_acc = torch.zeros((), device=dev)
    n_acc = 0
    epoch_done = 0
    world, rank = runtime.world_size, runtime.rank
    n = x_train.shape[0]
    _freeze_frozen_bn(unwrapped)
    for epoch in range(epochs):
        train_model.train()
        _freeze_frozen_bn(unwrapped)
        perm = torch.randperm(n, generator=g_cpu)  # same on every process (same seed)
        per_proc = n // world
        perm = perm[rank * per_proc:(rank + 1) * per_proc] if world > 1 else perm
        perm_dev = perm.to(dev)  # one small copy per epoch, not one per step
        t_epoch = time.perf_counter()
        imgs_epoch = 0
        for b in range(spe):
            if stop():
                stopped = True
                break
            idx = perm_dev[b * bs:(b + 1) * bs]
            if x_train.device != dev:  # images stayed in (pinned) host memory
                xb = x_train[perm[b * bs:(b + 1) * bs]].to(dev, non_blocking=True)
            else:
                xb = x_train[idx]
            yb = y_train[idx]
            x = xb.float()
            if hp["augment"]:
                x = augment(x, generator=g_dev)
            x = normalizer(x)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with runtime.autocast():
                logits = train_model(pixel_values=x).logits
            loss = F.cross_entropy(logits.float(), yb)
            opt.zero_grad(set_to_none=True)
            runtime.backward(loss)
            opt.step()
            sched.step()
            step += 1
            imgs_epoch += xb.shape[0] * world
            loss_acc += loss.detach()
            n_acc += 1
            now = time.perf_counter()
            if now - last_emit >= EVENT_INTERVAL_S or b == spe - 1:
                train_loss = float(loss_acc / n_acc)  # syncs the device
                now = time.perf_counter()
                elapsed_epoch = now - t_epoch
                ips = imgs_epoch / max(elapsed_epoch, 1e-9)
                per_step = (train_time + elapsed_epoch) / step
                emit("step", epoch=epoch + (b + 1) / spe, step=step, total_steps=total, train_loss=train_loss,
                     lr=sched.get_last_lr()[0], images_per_s=ips, eta_s=per_step * (total - step))
                loss_acc.zero_()
                n_acc = 0
                last_emit = now
        runtime.synchronize()
        epoch_s = time.perf_counter() - t_epoch
        train_time += epoch_s
        if stopped and b == 0 and epoch_done == epoch and evaluated:
            break  # nothing new since the last evaluation
        epoch_times.append(epoch_s)
        ips_epoch = imgs_epoch / max(epoch_s, 1e-9)
        vloss, vacc, _ = _evaluate(unwrapped, x_eval, y_eval, normalizer, runtime, channels_last, eval_bs)
        evaluated = True
        epoch_frac = epoch + (b + 1 if not stopped else b) / spe
        key = (vacc, -vloss)
        if selects and (best_key is None or key > best_key):
            best_key, best_epoch = key, round(epoch_frac, 3)
            best_state = {k: v.detach().clone() for k, v in unwrapped.state_dict().items()}
        epoch_done = epoch + 1
        emit("eval", epoch=float(epoch_frac), step=step, total_steps=total, val_loss=vloss, val_accuracy=vacc,
             lr=sched.get_last_lr()[0], images_per_s=ips_epoch,
             eta_s=(train_time / max(step, 1)) * (total - step), eval_split=eval_split,
             message=f"epoch {epoch + 1}/{epochs} · {epoch_s:.1f} s · {ips_epoch:,.0f} img/s"
             + ("" if selects else f" · {MONITOR_NOTE}"))
        if stopped:
            break
    if best_state is not None:
        unwrapped.load_state_dict(best_state)
        kept_epoch = best_epoch
    else:  # no selection: the model as it is now
        kept_epoch = round(step / spe, 3)
    model = unwrapped
    if cfg.strategy == "lora":
        model = model.merge_and_unload()
    model.eval()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    _, _, test_logits = _evaluate(model, x_test, y_test, normalizer, runtime, False, eval_bs)
    model = model.cpu()
    return {"model": model, "test_logits": test_logits, "stopped": stopped, "best_epoch": best_epoch,
            "kept_epoch": kept_epoch, "epoch": step / spe, "step": step, "train_s": train_time,
            "epoch_s": epoch_times}


def _to_device_if_fits(pixels, dev):
    import torch

    if dev.type != "cuda":
        return pixels
    try:
        free, _total = torch.cuda.mem_get_info(dev)
    except Exception:  # noqa: BLE001
        return pixels.pin_memory()
    if pixels.numel() < 0.25 * free:
        return pixels.to(dev, non_blocking=True)
    return pixels.pin_memory()


def _start_message(cfg: TrainConfig, hp: dict, holdout: Holdout, enc_test, extra: str = "") -> str:
    epochs = f"{hp['epochs']} epochs"
    if hp.get("epochs_capped_from"):
        epochs += f" (capped from {hp['epochs_capped_from']} on CPU; TLWEB_MAX_EPOCHS_CPU)"
    if holdout.selects:
        sizes = f"{len(holdout.fit)} train / {holdout.n_val} validation / {len(enc_test)} test images"
        rule = "best epoch picked on the validation images"
    else:
        sizes = f"{len(holdout.fit)} train / {len(enc_test)} test images, no validation split"
        rule = (f"fewer than {MIN_TRAIN_PER_CLASS_FOR_VALIDATION} training images in a class: last epoch kept, "
                "per-epoch eval on the test split is monitoring only")
    parts = [f"{cfg.strategy}", sizes, rule,
             f"{epochs} × {hp['steps_per_epoch']} steps", f"batch {hp['batch_size']}",
             f"lr {hp['lr']:g}", f"{hp['device']} {hp['precision']}"]
    if extra:
        parts.append(extra)
    return " · ".join(parts)


# --------------------------------------------------------------------------- saving


def _save_model(model, processor, model_dir: Path, spec, base_name: str, strategy: str, data: PreparedData,
                settings: Settings) -> None:
    from tlweb.engine.loading import processor_input_size

    model_dir.mkdir(parents=True, exist_ok=True)
    params_m = round(sum(p.numel() for p in model.parameters()) / 1e6, 4)
    size = spec.input_size or processor_input_size(processor)
    family = spec.family if spec.family not in ("", "unknown") else getattr(model.config, "model_type", "unknown")
    model.config.tlweb = {
        "task": "image-classification",
        "family": family,
        "input_size": int(size) if size else None,
        "params_m": params_m,
        "pretrained_on": f"{base_name} fine-tuned ({strategy})",
        "license": "see the source model",
        "description": f"{strategy} fine-tune of {base_name} on {data.source} ({len(data.class_names)} classes)",
    }
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)


def _save_mistakes(run_dir: Path, data: PreparedData, enc_test, pred, conf, settings: Settings) -> list[dict]:
    import torch

    from tlweb.engine.images import load_image

    y = enc_test.labels
    wrong = torch.nonzero(pred != y).flatten().tolist()
    wrong.sort(key=lambda i: -float(conf[i]))
    wrong = wrong[:MAX_MISTAKES]
    if not wrong:
        return []
    out_dir = run_dir / "mistakes"
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = image_sources(data.test)
    out = []
    for k, i in enumerate(wrong):
        row = enc_test.rows[i]
        src = sources[row]
        try:
            img = load_image(src, settings, name=row_name(src, row))
        except TlwebError:
            continue
        img.thumbnail((256, 256))
        path = out_dir / f"{k:02d}.png"
        img.save(path)
        out.append({"image": str(path), "true": data.class_names[int(y[i])], "pred": data.class_names[int(pred[i])],
                    "confidence": round(float(conf[i]), 6), "source": row_name(src, row)})
    return out
