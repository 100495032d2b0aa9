"""One training run from config to run folder (:func:`finetune`), for every training task.

The run resolves the model and plans once (:class:`~tlweb.engine.train.plan.RunPlan`), opens the run
folder, owns Stop (:class:`tlweb.engine.stop.Stop`), emits the typed events, loads the data and the
model through the task, decodes each split once, holds out the validation images, trains (the
network loop of :mod:`.network`, or the linear probe of :mod:`.linear` for a head-only strategy),
keeps the best epoch, evaluates the kept model on the test split and saves it. What differs between
tasks is the task's (:mod:`tlweb.engine.train.tasks`). Experiments made of several runs (the
strategy ladder, the data-efficiency curve) are in :mod:`.experiments`.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.stop import STOP_FILE, Stop, now_iso
from tlweb.engine.train import card, card_body, linear, network
from tlweb.engine.train.callbacks import (
    Callback,
    Callbacks,
    Emitter,
    History,
    Listener,
    RunFolderEvents,
    StopRequested,
    StopWhen,
)
from tlweb.engine.train.config import RunResult, TrainConfig
from tlweb.engine.train.context import FitOutcome, RunContext
from tlweb.engine.train.plan import RunPlan, experiment_dir, resolve_run, run_name
from tlweb.errors import DataError, ModelError, TlwebError

log = logging.getLogger(__name__)


def finetune(cfg: TrainConfig, on_event: Callable | None = None, should_stop: Callable[[], bool] | None = None,
             settings: Settings | None = None, callbacks: Iterable[Callback] = (),
             plan: RunPlan | None = None) -> RunResult:
    """Run one fine-tune of ``cfg.task`` (default image classification); returns its
    :class:`RunResult` (also when stopped early).

    ``on_event`` is called from this thread for every event; ``should_stop()`` is checked between
    steps, and so is the run's :class:`~tlweb.engine.stop.Stop` (the STOP file of its run folder or
    its experiment folder, written from any process) — when either turns true the run ends with a
    "stopped" event and keeps (and saves) the best model so far by the task's validation metric, or
    the model as it is when there is no validation subset. ``callbacks`` are extra loop plug-ins
    (:mod:`tlweb.engine.train.callbacks`). ``plan``: the run already resolved by the caller (the
    streamed path resolves once, before the GPU is asked for). Errors people can act on raise
    :class:`TlwebError` (after an "error" event).
    """
    settings = settings or get_settings()
    plan = plan or resolve_run(cfg, settings)  # an unknown task, strategy or model is a sentence first
    return _run(plan, on_event, should_stop, settings, list(callbacks))


def _open_run(plan: RunPlan, runtime, settings: Settings):
    """(run id, run folder, writer, experiment folder); ranks other than 0 write nothing."""
    from tlweb.engine.runs.files import RunWriter
    from tlweb.engine.runs.store import new_run_dir

    cfg = plan.cfg
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
        run_id, run_dir = new_run_dir(settings, run_name(cfg, plan.spec), parent=exp_dir)
    return run_id, run_dir, RunWriter(run_id, run_dir), exp_dir


def _load(plan: RunPlan, settings: Settings):
    """The run's data: loaded by the task (unless the caller passed it loaded), subsampled per class."""
    cfg, task = plan.cfg, plan.task
    data = task.load_data(cfg.data, seed=cfg.seed, settings=settings) if isinstance(cfg.data, (str, os.PathLike)) \
        else cfg.data
    return task.subsample(data, cfg.per_class, cfg.seed) if cfg.per_class else data


def _prepare(plan: RunPlan, runtime, settings: Settings, config: dict, writer, emit: Emitter, callbacks: Callbacks,
             stop: Stop):
    """Data, model with a fresh head, each split decoded once, the validation hold-out and the plan."""
    import torch

    cfg, task, strategy = plan.cfg, plan.task, plan.strategy
    data = _load(plan, settings)
    config["class_names"] = list(data.class_names)
    config["data"] = {"source": data.source, "hub_id": card.hub_dataset(data), "test_from": data.test_from,
                      "counts": data.counts(),
                      "fingerprint": data.fingerprint(), "skipped": data.skipped[:100],
                      "skipped_total": len(data.skipped), "warnings": list(getattr(data, "warnings", []))[:100]}
    if writer:
        writer.write_config(config)
    torch.manual_seed(cfg.seed)
    model, processor, spec = task.load_model(plan.spec, list(data.class_names), strategy, cfg.seed, settings)
    enc_train = task.encode(data, "train", processor, settings)
    enc_test = task.encode(data, "test", processor, settings)
    task.check(data, enc_train, enc_test)
    holdout = (linear.holdout if strategy.head_only else task.holdout)(enc_train, list(data.class_names), cfg.seed)
    hp = plan.hyperparameters(holdout.n_train, runtime, settings)
    config["hyperparameters"] = hp
    config["data"].update({
        "train_images": holdout.n_train, "val_images": holdout.n_val, "test_images": len(enc_test),
        "selection": holdout.selection, "validation_fraction": holdout.fraction if holdout.selects else None,
        **holdout.minimum,
        # row numbers in the training split (as given, after per_class) held out for validation
        "validation_rows": list(holdout.val.rows) if holdout.selects else [],
    })
    if writer:
        writer.write_config(config)
    ctx = RunContext(plan=plan, spec=spec, processor=processor, data=data, enc_train=enc_train, enc_test=enc_test,
                     holdout=holdout, hp=hp, runtime=runtime, settings=settings, emit=emit, callbacks=callbacks,
                     stop_request=stop)
    return model, ctx


def _kept_sentence(ctx: RunContext, outcome: FitOutcome) -> str:
    if outcome.extra.get("kept"):
        return outcome.extra["kept"]
    if ctx.holdout.selects:
        return (f"kept the best epoch by validation {ctx.task.metric_label} (epoch {outcome.kept_epoch:g})"
                if outcome.kept_epoch is not None else "kept the model as it was (no epoch finished)")
    few = "images" if "min_train_images_for_validation" in ctx.holdout.minimum else "images per class"
    return f"kept the last model, no selection (too few {few} for a validation split)"


def _finish(ctx: RunContext, outcome: FitOutcome, run_id: str, run_dir: Path, writer, t0: float,
            history: History) -> RunResult:
    """The task's test metrics and pictures of the kept model, the saved model, the last event, metrics.json."""
    plan, task, holdout, hp, runtime = ctx.plan, ctx.task, ctx.holdout, ctx.hp, ctx.runtime
    strategy, stopped, test = plan.strategy.name, outcome.stopped, outcome.test
    model_dir = run_dir / "model"
    fields = {f"test_{task.metric}": test.metric}
    if runtime.is_main:
        fields = task.finish(run_dir, ctx.data, ctx.enc_test, test, ctx.settings)
        task.save(outcome.model, ctx.processor, model_dir, ctx.spec, plan.base_name, strategy, ctx.data, ctx.settings)
    runtime.wait()
    wall = time.perf_counter() - t0
    extra = dict(outcome.extra)  # the linear probe: its head (C, how it was chosen, the sweep), timings
    selection = extra.pop("selection", None) or holdout.selection
    metrics = dict(fields)
    metrics.update({"test_loss": test.loss, "status": "stopped" if stopped else "done", "stopped": stopped,
                    "train_images": holdout.n_train, "val_images": holdout.n_val, "test_images": len(ctx.enc_test),
                    "selection": selection, "best_epoch": outcome.best_epoch, "kept_epoch": outcome.kept_epoch,
                    "wall_s": round(wall, 3), "mistakes": fields.get("mistakes", []), "strategy": strategy,
                    "base_model": plan.base_name, "task": task.name, "metric": task.metric, "test_metric": test.metric})
    if test.loss_parts:
        metrics["test_loss_parts"] = dict(test.loss_parts)
    metrics.update({k: v for k, v in extra.items() if k not in metrics and k != "kept"})
    kept = _kept_sentence(ctx, outcome)
    # the test numbers go in the message only: val_loss / val_metric stay for per-epoch evaluations
    ctx.emit("stopped" if stopped else "done", epoch=float(outcome.epoch), step=outcome.step,
             total_steps=hp["total_steps"],
             message=(f"stopped early; {kept}" if stopped else f"done in {wall:.1f} s; {kept}")
             + f" · test {task.metric_label} {test.metric * 100:.1f}% on {len(ctx.enc_test)} test images")
    if writer:
        writer.write_metrics(metrics)
        card_body.write_card_quietly(run_dir)  # model/README.md: the Hub's front matter, the figures, their limits
    result_metrics = {k: v for k, v in metrics.items() if k != "mistakes"}
    return RunResult(run_id=run_id, run_dir=run_dir, model_dir=model_dir, strategy=strategy, base_model=plan.base_name,
                     train_images=holdout.n_train, test_images=len(ctx.enc_test),
                     test_accuracy=_maybe_float(metrics.get("test_accuracy")),
                     test_macro_f1=_maybe_float(metrics.get("test_macro_f1")),
                     metrics=result_metrics, mistakes=list(metrics["mistakes"]), history=history.events,
                     stopped=stopped, wall_s=wall, hyperparameters=hp, val_images=holdout.n_val,
                     selection=selection, kept_epoch=outcome.kept_epoch, task=task.name, metric=task.metric,
                     test_metric=float(test.metric))


def _maybe_float(value) -> float | None:
    return None if value is None else float(value)


def _run(plan: RunPlan, on_event, should_stop, settings: Settings, extra: list | None = None) -> RunResult:
    from tlweb.engine.accel import Runtime

    t0 = time.perf_counter()
    cfg, spec = plan.cfg, plan.spec
    runtime = Runtime(settings)
    run_id, run_dir, writer, exp_dir = _open_run(plan, runtime, settings)
    stop = Stop(run_dir, exp_dir)
    history = History()
    callbacks = Callbacks([history, Listener(on_event) if on_event else None,
                           RunFolderEvents(writer) if writer else None,
                           StopWhen(should_stop) if should_stop else None, StopRequested(stop), *(extra or [])])
    emit = Emitter(run_id, cfg.strategy, callbacks, task=plan.task.name, metric=plan.task.metric)
    if writer:
        callbacks.call("on_run_start", run_id, run_dir)
    config = {
        "run_id": run_id, "name": cfg.name or f"{cfg.strategy} · {plan.base_name}", "created": now_iso(),
        "pid": os.getpid(), "strategy": cfg.strategy, "base_model": plan.base_name, "base_model_path": spec.hub_id,
        "family": spec.family, "experiment_id": exp_dir.name if exp_dir is not None else None,
        "train_config": cfg.as_dict(), "class_names": [], "device": str(runtime.device),
        "precision": runtime.precision, "world_size": runtime.world_size, "task": plan.task.name,
        "metric": plan.task.metric, "base": card.base_facts(spec),
    }
    if writer:
        writer.write_config(config)
    ctx = None
    try:
        model, ctx = _prepare(plan, runtime, settings, config, writer, emit, callbacks, stop)
        fit = linear.fit_linear if plan.strategy.head_only else network.fit_network
        outcome = fit(model, ctx)
        return _finish(ctx, outcome, run_id, run_dir, writer, t0, history)
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
