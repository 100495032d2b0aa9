"""Experiments made of several runs, each one experiment folder: the strategy ladder (every strategy
of the task on the same split and budget) and the data-efficiency curve (the task's metric at 1, 2,
5 … training images per class). Both are streams of one GPU call per run
(:func:`tlweb.engine.train.stream.iter_finetune`), with blocking wrappers; Stop is the experiment
folder's :class:`~tlweb.engine.stop.Stop`. Generic over the training task (``task=`` among the run
options): its strategies, its metric, its data reader ("per class" counts images holding the class).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.stop import Stop
from tlweb.engine.train.baseline import check_zero_shot, record_zero_shot, zero_shot_baseline
from tlweb.engine.train.config import DEFAULT_SEEDS, RunResult, TrainConfig, TrainEvent
from tlweb.engine.train.plan import experiment_dir
from tlweb.engine.train.stream import check_fits, iter_finetune
from tlweb.engine.train.tasks import CLASSIFICATION, TrainTask, train_task
from tlweb.errors import ModelError, TlwebError, clip


def _data_summary(data) -> dict:
    return {"source": data.source, "classes": len(data.class_names), "class_names": list(data.class_names)[:50],
            "counts": data.counts(), "fingerprint": data.fingerprint()}


def start_experiment(kind: str, model: str, data, strategies, settings: Settings | None = None,
                     shots=(), **train_kwargs) -> Path:
    """An experiment folder for a ladder or a data-efficiency curve (its runs go inside)."""
    from tlweb.engine.listing import resolve
    from tlweb.engine.runs.store import new_experiment

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
        """The experiment's Stop was asked (its folder's STOP file, from any process)."""
        return Stop(self.dir).requested()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        from tlweb.engine.runs.store import finish_experiment

        if self.own:
            finish_experiment(self.dir, self.status if exc_type is None else "failed")
        return False


# --------------------------------------------------------------------------- the streams


def _task_of(cfg_kwargs: dict) -> TrainTask:
    return train_task(cfg_kwargs.get("task") or CLASSIFICATION)


def _prepared(task: TrainTask, data, per_class, seed: int, settings: Settings):
    prepared = task.load_data(data, seed=seed, settings=settings) if isinstance(data, (str, Path)) else data
    return task.subsample(prepared, per_class, seed) if per_class else prepared


def _seeded(seed: int, seeds: int) -> list[int]:
    """The seeds a repeated run uses: ``seed``, ``seed + 1`` … (``seeds`` of them, at least one)."""
    return [seed + i for i in range(max(1, int(seeds or 1)))]


def _seed_name(part: str, seed: int, seeds: int) -> str | None:
    """The run's name inside its experiment: "linear seed 1" when each run is repeated, else the default."""
    return f"{part} seed {seed}" if seeds > 1 else None


def _strategies(task: TrainTask, strategies) -> tuple[str, ...]:
    """The strategies asked for (default: the task's ladder), each checked against the task first."""
    names = tuple(strategies or task.strategies)
    for name in names:
        task.strategy(name)  # another task's strategy is a sentence before anything runs
    return names


def iter_ladder(model: str, data, strategies=None, settings: Settings | None = None, experiment=None,
                seeds: int = 1, **cfg_kwargs) -> Iterator[TrainEvent | RunResult]:
    """The strategy ladder as a stream: every strategy (default: the task's, in its ladder order) on
    the same split and budget, each ``seeds`` times (seed, seed + 1 …), one GPU call per run, as one
    experiment folder (``experiment``: an existing one to add to, else a new one, finished here).
    Yields each run's TrainEvents and, after each run, its RunResult."""
    settings = settings or get_settings()
    task = _task_of(cfg_kwargs)
    strategies = _strategies(task, strategies)
    base_seed = int(cfg_kwargs.pop("seed", 0) or 0)
    prepared = _prepared(task, data, cfg_kwargs.pop("per_class", None), base_seed, settings)
    configs = [TrainConfig(model=model, data=prepared, strategy=s, seed=seed, name=_seed_name(s, seed, seeds),
                           **cfg_kwargs) for s in strategies for seed in _seeded(base_seed, seeds)]
    for cfg in configs:
        check_fits(cfg, settings)  # refuse the whole ladder before its first run
    with Experiment(experiment, "ladder", model, prepared, strategies, settings, seed=base_seed, seeds=seeds,
                    **cfg_kwargs) as exp:
        stopped = False
        for cfg in configs:
            if exp.stopping():
                stopped = True
                break
            with closing(iter_finetune(replace(cfg, experiment=str(exp.dir)), settings)) as run:
                for item in run:
                    stopped = stopped or (isinstance(item, RunResult) and item.stopped)
                    yield item
        exp.status = "stopped" if stopped or exp.stopping() else "done"


def curve_row(cfg: TrainConfig, result: RunResult) -> dict:
    """A data-efficiency row: the run's size, seed and test numbers (``test_<metric>`` and ``test_metric``;
    classification also ``test_accuracy`` and ``test_macro_f1``)."""
    row = {"strategy": cfg.strategy, "per_class": cfg.per_class, "seed": cfg.seed,
           "train_images": result.train_images, "val_images": result.val_images, "test_images": result.test_images}
    if result.task == CLASSIFICATION:
        row.update({"test_accuracy": result.test_accuracy, "test_macro_f1": result.test_macro_f1})
    else:
        row[f"test_{result.metric}"] = result.test_metric
    row.update({"run_id": result.run_id, "stopped": result.stopped, "task": result.task, "metric": result.metric,
                "test_metric": result.test_metric})
    return row


def iter_efficiency(model: str, data, shots=(1, 2, 5, 10, 25), strategies=None, seed: int = 0,
                    settings: Settings | None = None, experiment=None, seeds: int = 1, zero_shot: str | None = None,
                    templates=None, **cfg_kwargs) -> Iterator[TrainEvent | dict]:
    """The data-efficiency curve as a stream: the task's test metric at 1, 2, 5 … training images per
    class for each strategy (default: classification's linear probe and scratch; another task's first
    strategy and scratch), same test split, each point ``seeds`` times with another draw of the
    training images, one GPU call per run, as one experiment folder. Yields each run's TrainEvents
    and, after each run, its row (:func:`curve_row`). Shots larger than the smallest class (images
    holding it) are skipped.

    ``zero_shot`` (classification only): a CLIP/SigLIP model (``templates``: its prompts, default
    four averaged) that classifies the same test split from the class names first — one more GPU
    call; its row (``kind: "zero-shot"``, :mod:`tlweb.engine.train.baseline`) is yielded before the
    first run and kept in ``experiment.json``. Any other model is refused with a sentence before
    anything runs."""
    settings = settings or get_settings()
    task = _task_of(cfg_kwargs)
    default = ("linear", "scratch") if task.name == CLASSIFICATION else (task.strategies[0], "scratch")
    strategies = _strategies(task, strategies or default)
    if zero_shot and task.name != CLASSIFICATION:
        raise ModelError(f"The zero-shot line is drawn for image classification only, not for {task.label}.")
    baseline = check_zero_shot(zero_shot, templates, settings)
    prepared = _prepared(task, data, None, seed, settings)
    smallest = min(prepared.counts()["train"].values())
    usable = [s for s in sorted({int(s) for s in shots}) if 1 <= s <= smallest]
    configs = [TrainConfig(model=model, data=prepared, strategy=strategy, seed=run_seed, per_class=shot,
                           name=_seed_name(f"{strategy} {shot} per class", run_seed, seeds), **cfg_kwargs)
               for shot in usable for strategy in strategies for run_seed in _seeded(seed, seeds)]
    for cfg in configs:
        check_fits(cfg, settings)
    with Experiment(experiment, "data-efficiency", model, prepared, strategies, settings, shots=usable,
                    seed=seed, seeds=seeds, **cfg_kwargs) as exp:
        exp.status = "done"
        if baseline is not None and not exp.stopping():
            name, prompts, random_weights = baseline
            row = zero_shot_baseline(prepared, name, prompts, str(exp.dir), random_weights, settings)
            if row is not None:  # (None: stopped meanwhile; the loop below sees the STOP file)
                record_zero_shot(exp.dir, row)
                yield row
        for cfg in configs:
            if exp.stopping():
                exp.status = "stopped"
                return
            with closing(iter_finetune(replace(cfg, experiment=str(exp.dir)), settings)) as run:
                for item in run:
                    if not isinstance(item, RunResult):
                        yield item
                        continue
                    yield curve_row(cfg, item)
                    if item.stopped:
                        exp.status = "stopped"
                        return


def drain(stream, on_event=None, should_stop=None, stop_folder=None) -> list:
    """Run a stream to its end for a blocking caller: events go to ``on_event``; results are returned.

    ``should_stop()`` (the CLI's Ctrl+C, a test) is asked after each item; when it turns true the
    Stop of ``stop_folder()`` (the run or experiment folder) is asked once.
    """
    results, asked = [], False
    for item in stream:
        if isinstance(item, TrainEvent):
            if on_event is not None:
                on_event(item)
        else:
            results.append(item)
        if not asked and should_stop is not None and should_stop():
            folder = stop_folder() if stop_folder is not None else None
            if folder is not None and Stop(folder).request() is not None:
                asked = True
    return results


# --------------------------------------------------------------------------- blocking


def _stop_target(run_id: str | None, settings: Settings):
    """Where a stop request for the run ``run_id`` goes: its experiment folder when it has one
    (the whole ladder or curve stops), else its run folder."""
    from tlweb.engine.runs import find_run
    from tlweb.engine.runs.store import is_experiment

    path = find_run(run_id, settings) if run_id else None
    if path is None:
        return None
    return path.parent if is_experiment(path.parent) else path


def _blocking(stream, on_event, should_stop, settings: Settings) -> list:
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
    (:func:`iter_ladder`); ``should_stop()`` is asked between events and stops the whole experiment
    through its Stop."""
    settings = settings or get_settings()
    stream = iter_ladder(model, data, strategies, settings=settings, experiment=experiment, seeds=seeds,
                         **cfg_kwargs)
    return _blocking(stream, on_event, should_stop, settings)


def data_efficiency(model: str, data, shots=(1, 2, 5, 10, 25), strategies=None, on_event=None,
                    should_stop=None, seed: int = 0, settings=None, experiment=None, seeds: int = DEFAULT_SEEDS,
                    zero_shot: str | None = None, templates=None, **cfg_kwargs) -> list[dict]:
    """The task's test metric at 1, 2, 5 … training images per class for each strategy (default:
    classification's linear and scratch), same test split, as one experiment folder; one GPU call per
    run (:func:`iter_efficiency`). Each point runs ``seeds`` times with another draw of the training
    images (and a new head): rows carry their ``seed``, so a chart draws the mean and the spread.

    Shots larger than the smallest class are skipped. Linear runs reuse the cached features. With
    at least :data:`~tlweb.engine.train.config.MIN_TRAIN_PER_CLASS_FOR_VALIDATION` shots some of them
    are held out for validation (``train_images`` counts the rest); below that the last epoch is kept.

    ``zero_shot`` (a CLIP/SigLIP model, ``templates`` its prompts) adds the zero-shot baseline: the
    first row, ``{"kind": "zero-shot", "model", "test_accuracy", "test_images" …}``, also kept in the
    experiment folder (:mod:`tlweb.engine.train.baseline`).
    """
    settings = settings or get_settings()
    stream = iter_efficiency(model, data, shots, strategies, seed=seed, settings=settings, experiment=experiment,
                             seeds=seeds, zero_shot=zero_shot, templates=templates, **cfg_kwargs)
    return _blocking(stream, on_event, should_stop, settings)
