"""One fine-tune run from config to run folder (:func:`finetune`), and the experiments made of
several runs: the strategy ladder and the data-efficiency curve, each one experiment folder."""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.data import PreparedData, encode_split, load_data, subsample
from tlweb.engine.train import linear, network
from tlweb.engine.train.callbacks import (
    Callback,
    Callbacks,
    Emitter,
    History,
    Listener,
    RunFolderEvents,
    StopFile,
    StopWhen,
)
from tlweb.engine.train.config import (
    DEFAULT_SEEDS,
    MIN_TRAIN_PER_CLASS_FOR_VALIDATION,
    VALIDATION_FRACTION,
    RunResult,
    TrainConfig,
)
from tlweb.engine.train.holdout import head_holdout, validation_holdout
from tlweb.engine.train.model import load_for_training, save_mistakes, save_model
from tlweb.engine.train.network import RunContext
from tlweb.engine.train.plan import plan
from tlweb.engine.train.strategies import get_strategy
from tlweb.errors import DataError, ModelError, TlwebError, clip

log = logging.getLogger(__name__)


def finetune(cfg: TrainConfig, on_event: Callable | None = None, should_stop: Callable[[], bool] | None = None,
             settings: Settings | None = None, callbacks: Iterable[Callback] = ()) -> RunResult:
    """Run one fine-tune; returns its :class:`RunResult` (also when stopped early).

    ``on_event`` is called from this thread for every event; ``should_stop()`` is checked between
    steps, and so is the run folder's stop file (:func:`tlweb.engine.runs.request_stop`, from any
    process) — when either turns true the run ends with a "stopped" event and keeps (and saves) the
    best model so far by validation accuracy, or the model as it is when there is no validation
    subset. ``callbacks`` are extra loop plug-ins (:mod:`tlweb.engine.train.callbacks`). Errors
    people can act on raise :class:`TlwebError` (after an "error" event).
    """
    settings = settings or get_settings()
    get_strategy(cfg.strategy)  # an unknown strategy is a sentence before anything starts
    return _finetune(cfg, on_event, should_stop, settings, list(callbacks))


def experiment_dir(experiment, settings: Settings) -> Path | None:
    """The experiment folder named by ``experiment`` (its folder or its id), or None."""
    from tlweb.engine.runs import experiment_path

    if experiment is None:
        return None
    path = Path(experiment)
    return path if path.is_dir() and (path / "experiment.json").is_file() else experiment_path(str(experiment), settings)


def _open_run(cfg: TrainConfig, spec, runtime, settings: Settings):
    """(run id, run folder, writer, experiment folder); ranks other than 0 write nothing."""
    from tlweb.engine.runs import STOP_FILE, RunWriter, new_run_dir

    exp_dir = experiment_dir(cfg.experiment, settings)
    if not runtime.is_main:
        return f"rank{runtime.rank}", Path(os.devnull), None, exp_dir
    if cfg.out_dir:
        run_dir = Path(cfg.out_dir).expanduser()
        if run_dir.exists() and any(p.name != STOP_FILE and not p.name.startswith(".") for p in run_dir.iterdir()):
            raise DataError(f"The output folder '{cfg.out_dir}' exists and is not empty; pick a new one.")
        run_dir.mkdir(parents=True, exist_ok=True)
        run_id = run_dir.name
    else:
        from tlweb.engine.train.stream import run_name

        run_id, run_dir = new_run_dir(settings, run_name(cfg, spec), parent=exp_dir)
    return run_id, run_dir, RunWriter(run_id, run_dir), exp_dir


def _prepare(cfg: TrainConfig, spec, runtime, settings: Settings, config: dict, writer, emit, callbacks):
    """Data, model with a fresh head, images decoded once, the validation hold-out and the plan."""
    import torch

    strategy = get_strategy(cfg.strategy)
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
    model, processor, spec = load_for_training(spec, data.class_names, cfg.strategy, cfg.seed, settings)
    enc_train = encode_split(data, "train", processor, settings)
    enc_test = encode_split(data, "test", processor, settings)
    if len(enc_train) == 0:
        raise DataError("No training image could be decoded.")
    if len(enc_test) == 0:
        raise DataError("The test split is empty (or none of its images could be decoded).")
    if len(set(enc_train.labels.tolist())) < 2:
        raise DataError("The training images cover only one class; a classifier needs at least two.")
    holdout = (head_holdout if strategy.head_only else validation_holdout)(enc_train, data.class_names, cfg.seed)
    hp = plan(cfg, holdout.n_train, runtime, settings)
    rule = _holdout_rule(strategy)
    config["hyperparameters"] = hp
    config["data"].update({
        "train_images": holdout.n_train, "val_images": holdout.n_val, "test_images": len(enc_test),
        "selection": holdout.selection, "validation_fraction": rule[1] if holdout.selects else None,
        "min_train_per_class_for_validation": rule[0],
        # row numbers in the training split (as given, after per_class) held out for validation
        "validation_rows": list(holdout.val.rows) if holdout.selects else [],
    })
    if writer:
        writer.write_config(config)
    ctx = RunContext(cfg=cfg, strategy=strategy, spec=spec, processor=processor, data=data, enc_train=enc_train,
                     enc_test=enc_test, holdout=holdout, hp=hp, runtime=runtime, settings=settings, emit=emit,
                     callbacks=callbacks)
    return model, ctx


def _holdout_rule(strategy) -> tuple[int, float]:
    """(images every class needs for a validation hold-out, the fraction held out) of a strategy."""
    if strategy.head_only:
        from tlweb.engine import head

        return head.MIN_PER_CLASS_FOR_HOLDOUT, head.HOLDOUT_FRACTION
    return MIN_TRAIN_PER_CLASS_FOR_VALIDATION, VALIDATION_FRACTION


def _finish(ctx: RunContext, outcome, run_id: str, run_dir: Path, base_name: str, writer, t0: float,
            history: History) -> RunResult:
    """Test metrics of the kept model, mistakes, the saved model, the last event and metrics.json."""
    import torch

    from tlweb.engine.metrics import classification_metrics

    data, enc_test, holdout, hp, runtime = ctx.data, ctx.enc_test, ctx.holdout, ctx.hp, ctx.runtime
    strategy, stopped = ctx.cfg.strategy, outcome.stopped
    y_test = enc_test.labels
    probs = torch.softmax(outcome.test_logits.float(), dim=-1)
    conf, pred = probs.max(dim=-1)
    metrics = classification_metrics(pred.tolist(), y_test.tolist(), data.class_names)
    final_loss = float(torch.nn.functional.cross_entropy(outcome.test_logits.float(), y_test))
    mistakes = []
    model_dir = run_dir / "model"
    if runtime.is_main:
        mistakes = save_mistakes(run_dir, data, enc_test, pred, conf, ctx.settings)
        save_model(outcome.model, ctx.processor, model_dir, ctx.spec, base_name, strategy, data, ctx.settings)
    runtime.wait()
    wall = time.perf_counter() - t0
    kept_epoch = outcome.kept_epoch
    extra = dict(outcome.extra)  # the linear probe: its head (C, how it was chosen, the sweep), timings
    selection = extra.pop("selection", None) or holdout.selection
    metrics.update({"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"],
                    "test_loss": final_loss, "status": "stopped" if stopped else "done", "stopped": stopped,
                    "train_images": holdout.n_train, "val_images": holdout.n_val, "test_images": len(enc_test),
                    "selection": selection, "best_epoch": outcome.best_epoch,
                    "kept_epoch": kept_epoch, "wall_s": round(wall, 3),
                    "mistakes": mistakes, "strategy": strategy, "base_model": base_name})
    metrics.update({k: v for k, v in extra.items() if k not in metrics and k != "kept"})
    if extra.get("kept"):
        kept = extra["kept"]
    elif holdout.selects:
        kept = (f"kept the best epoch by validation accuracy (epoch {kept_epoch:g})" if kept_epoch is not None
                else "kept the model as it was (no epoch finished)")
    else:
        kept = "kept the last model, no selection (too few images per class for a validation split)"
    # the test numbers go in the message only: val_loss/val_accuracy stay for per-epoch evaluations
    ctx.emit("stopped" if stopped else "done", epoch=float(outcome.epoch), step=outcome.step,
             total_steps=hp["total_steps"],
             message=(f"stopped early; {kept}" if stopped else f"done in {wall:.1f} s; {kept}")
             + f" · test accuracy {metrics['accuracy'] * 100:.1f}% on {len(enc_test)} test images")
    if writer:
        writer.write_metrics(metrics)
    result_metrics = {k: metrics[k] for k in ("accuracy", "macro_f1", "per_class", "confusion_matrix", "class_names")}
    result_metrics.update({k: v for k, v in metrics.items() if k not in result_metrics and k != "mistakes"})
    return RunResult(run_id=run_id, run_dir=run_dir, model_dir=model_dir, strategy=strategy, base_model=base_name,
                     train_images=holdout.n_train, test_images=len(enc_test),
                     test_accuracy=float(metrics["accuracy"]), test_macro_f1=float(metrics["macro_f1"]),
                     metrics=result_metrics, mistakes=mistakes, history=history.events, stopped=stopped,
                     wall_s=wall, hyperparameters=hp, val_images=holdout.n_val,
                     selection=selection, kept_epoch=kept_epoch)


def _finetune(cfg: TrainConfig, on_event, should_stop, settings: Settings, extra: list | None = None) -> RunResult:
    from tlweb.catalog import resolve
    from tlweb.engine.accel import Runtime
    from tlweb.engine.runs import now_iso

    t0 = time.perf_counter()
    runtime = Runtime(settings)
    spec = resolve(cfg.model, settings=settings)
    base_name = spec.key if spec.source in ("catalog", "demo", "run", "local") else spec.hub_id
    run_id, run_dir, writer, exp_dir = _open_run(cfg, spec, runtime, settings)
    history = History()
    callbacks = Callbacks([history, Listener(on_event) if on_event else None,
                           RunFolderEvents(writer) if writer else None,
                           StopWhen(should_stop) if should_stop else None, StopFile(run_dir, exp_dir), *(extra or [])])
    emit = Emitter(run_id, cfg.strategy, callbacks)
    if writer:
        callbacks.call("on_run_start", run_id, run_dir)
    config = {
        "run_id": run_id, "name": cfg.name or f"{cfg.strategy} · {base_name}", "created": now_iso(),
        "pid": os.getpid(), "strategy": cfg.strategy, "base_model": base_name, "base_model_path": spec.hub_id,
        "family": spec.family, "experiment_id": exp_dir.name if exp_dir is not None else None,
        "train_config": cfg.as_dict(), "class_names": [], "device": str(runtime.device),
        "precision": runtime.precision, "world_size": runtime.world_size,
    }
    if writer:
        writer.write_config(config)
    ctx = None
    try:
        model, ctx = _prepare(cfg, spec, runtime, settings, config, writer, emit, callbacks)
        fit = linear.fit_linear if ctx.strategy.head_only else network.fit_network
        outcome = fit(model, ctx)
        return _finish(ctx, outcome, run_id, run_dir, base_name, writer, t0, history)
    except TlwebError as exc:
        emit("error", message=str(exc))
        if ctx is None and writer and not cfg.out_dir:  # refused before training (model, data): no run to keep
            writer.close()
            shutil.rmtree(run_dir, ignore_errors=True)
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


def _friendly(exc: Exception) -> TlwebError | None:
    text = str(exc)
    if "out of memory" in text.lower():
        return ModelError("The device ran out of memory: lower the batch size or pick a smaller model.")
    return None


# --------------------------------------------------------------------------- experiments


def _data_summary(data: PreparedData) -> dict:
    return {"source": data.source, "classes": len(data.class_names), "class_names": list(data.class_names)[:50],
            "counts": data.counts(), "fingerprint": data.fingerprint()}


def start_experiment(kind: str, model: str, data: PreparedData, strategies, settings: Settings | None = None,
                     shots=(), **train_kwargs) -> Path:
    """An experiment folder for a ladder or a data-efficiency curve (its runs go inside)."""
    from tlweb.catalog import resolve
    from tlweb.engine.runs import new_experiment

    settings = settings or get_settings()
    try:
        spec = resolve(model, settings=settings)
        base = spec.key if spec.source in ("catalog", "demo", "run", "local") else spec.hub_id
    except TlwebError:
        base = clip(str(model))  # the first run will say what is wrong with it
    return new_experiment(kind, base, list(strategies), settings, data=_data_summary(data), shots=shots,
                          train_config={k: v for k, v in train_kwargs.items() if isinstance(v, (int, float, str))})


class Experiment:
    """The experiment a ladder / curve writes into: the caller's, or one it creates and finishes."""

    def __init__(self, experiment, kind, model, data, strategies, settings, shots=(), **kw):
        self.own = experiment is None
        self.dir = (start_experiment(kind, model, data, strategies, settings, shots=shots, **kw) if self.own
                    else experiment_dir(experiment, settings))
        self.status = "failed"

    def stopping(self) -> bool:
        """The experiment folder's STOP file (:func:`tlweb.engine.runs.request_stop`) is there."""
        from tlweb.engine.runs import stop_requested

        return stop_requested(self.dir)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        from tlweb.engine.runs import finish_experiment

        if self.own:
            finish_experiment(self.dir, self.status if exc_type is None else "failed")
        return False


def _stop_target(run_id: str | None, settings: Settings):
    """Where a stop request for the run ``run_id`` goes: its experiment folder when it has one
    (the whole ladder or curve stops), else its run folder."""
    from tlweb.engine.runs import find_run, is_experiment

    path = find_run(run_id, settings) if run_id else None
    if path is None:
        return None
    return path.parent if is_experiment(path.parent) else path


def _blocking(stream, on_event, should_stop, settings: Settings) -> list:
    from tlweb.engine.train.stream import drain

    last = {"run_id": None}

    def seen(event):
        last["run_id"] = event.run_id
        if on_event is not None:
            on_event(event)

    return drain(stream, seen, should_stop, lambda: _stop_target(last["run_id"], settings))


def ladder(model: str, data, strategies=None, on_event=None, should_stop=None, settings=None,
           experiment=None, seeds: int = DEFAULT_SEEDS, **cfg_kwargs) -> list[RunResult]:
    """The strategy ladder: every strategy on the same split (data loaded once) and budget, as one
    experiment folder (``experiment``: an existing one to add to, else a new one). Each strategy runs
    ``seeds`` times (seed, seed + 1 …: a new head, shuffling and augmentation each time) so the chart
    can show the spread, not one lucky or unlucky draw. Each run is one call of the GPU function
    (:func:`tlweb.engine.train.stream.iter_ladder`); ``should_stop()`` is asked between events and
    stops the whole experiment through its STOP file."""
    from tlweb.engine.train.stream import iter_ladder

    settings = settings or get_settings()
    stream = iter_ladder(model, data, strategies, settings=settings, experiment=experiment, seeds=seeds,
                         **cfg_kwargs)
    return _blocking(stream, on_event, should_stop, settings)


def data_efficiency(model: str, data, shots=(1, 2, 5, 10, 25), strategies=("linear", "scratch"),
                    on_event=None, should_stop=None, seed: int = 0, settings=None, experiment=None,
                    seeds: int = DEFAULT_SEEDS, zero_shot: str | None = None, templates=None,
                    **cfg_kwargs) -> list[dict]:
    """Test accuracy at 1, 2, 5 … training images per class for each strategy (same test split),
    as one experiment folder; one GPU call per run (:func:`tlweb.engine.train.stream.iter_efficiency`).
    Each point runs ``seeds`` times with another draw of the training images (and a new head): rows
    carry their ``seed``, so a chart draws the mean and the spread.

    Shots larger than the smallest class are skipped. Linear runs reuse the cached features. With
    at least :data:`MIN_TRAIN_PER_CLASS_FOR_VALIDATION` shots some of them are held out for
    validation (``train_images`` counts the rest); below that the last epoch is kept.

    ``zero_shot`` (a CLIP/SigLIP model, ``templates`` its prompts) adds the zero-shot baseline: the
    first row, ``{"kind": "zero-shot", "model", "test_accuracy", "test_images" …}``, also kept in the
    experiment folder (:mod:`tlweb.engine.train.baseline`).
    """
    from tlweb.engine.train.stream import iter_efficiency

    settings = settings or get_settings()
    stream = iter_efficiency(model, data, shots, strategies, seed=seed, settings=settings, experiment=experiment,
                             seeds=seeds, zero_shot=zero_shot, templates=templates, **cfg_kwargs)
    return _blocking(stream, on_event, should_stop, settings)
