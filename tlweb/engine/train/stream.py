"""Fine-tuning as a stream: the GPU function ZeroGPU runs, and the caller's side that drains it.

One code path locally and on ZeroGPU:

- :func:`finetune_stream` is the GPU function, decorated at module level with
  :func:`tlweb.engine.zerogpu.gpu_task`. It is a *generator*: it yields every
  :class:`~tlweb.engine.train.config.TrainEvent` of the run as it happens, then the
  :class:`~tlweb.engine.train.config.RunResult` (both pickle, so they cross ZeroGPU's process
  boundary). Off ZeroGPU it is the plain generator; on ZeroGPU (or under the
  ``TLWEB_ZEROGPU=emulate`` stand-in) it runs in a forked worker and each item comes back pickled.
- The caller creates the run folder first (:func:`start_run`: ``new_run_dir``, in the experiment
  folder for a ladder or a curve) and passes it as ``cfg.out_dir``, so it knows where Stop goes
  before the GPU is even granted. Stop is the run folder's STOP file
  (:func:`tlweb.engine.runs.request_stop`, from any process); the loop checks it between steps.
  Nothing in-process (a queue, an Event) crosses into the worker.
- :func:`iter_finetune`, :func:`iter_ladder` and :func:`iter_efficiency` are the caller's side:
  they refuse a run that cannot fit in one ZeroGPU call (:func:`check_fits`), create the folders,
  and drain :func:`finetune_stream` once per run — a ladder or a data-efficiency curve is one GPU
  call per run, each within the per-call limit. Closing one of them (a closed page, a cancelled
  event) writes the STOP file, so the run ends cleanly and keeps its model.

Inside the worker the training loop pushes its events through callbacks (:mod:`.callbacks`), so
:func:`finetune_stream` runs the loop on a thread *of the worker process* and yields what it
reports; that thread and its queue never leave the worker.
"""

from __future__ import annotations

import contextvars
import logging
import math
import queue
import shutil
import threading
from collections.abc import Iterator
from contextlib import closing
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from tlweb.config import Settings, get_settings
from tlweb.engine import zerogpu
from tlweb.engine.train.baseline import check_zero_shot, record_zero_shot, zero_shot_baseline
from tlweb.engine.train.config import VALIDATION_FRACTION, RunResult, TrainConfig, TrainEvent
from tlweb.engine.train.strategies import get_strategy, strategy_names
from tlweb.errors import DataError, TlwebError

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- the duration rule

# Estimates for one slice of an H200 (ZeroGPU's "large"), bf16 autocast; not measured on ZeroGPU
# itself. P = millions of parameters, N = images.
DECODE_S = 0.01  # per image, once per run: decode + resize to the model's input on the worker's CPU
FORWARD_S_PER_M = 2e-5  # per image per million parameters: one forward pass (ViT-B ≈ 1.7 ms)
TRAIN_FACTOR = 3.0  # a training step (forward + backward + update) costs about three forward passes
STEP_S = 0.02  # per optimizer step: launch overhead, optimizer, scheduler, a loss read every few steps
HEAD_STEP_S = 0.002  # per step of the linear head on cached feature vectors
SAVE_S = 1.0  # write the model folder and the mistakes …
SAVE_S_PER_M = 0.01  # … plus the weights
UNKNOWN_TRAIN_IMAGES = 1000  # data named by a string (not loaded yet): assumed size
UNKNOWN_TEST_IMAGES = 250

RULE = ("6 s + (1 + 0.03·P) s to load + 0.01 s × all images to decode + network strategies: "
        "epochs × steps × batch × 3 × 2e-5·P s + 0.02 s a step + an evaluation of the validation "
        "images each epoch; linear: one forward pass over all images + 0.002 s a head step; "
        "+ (1 + 0.01·P) s to save; P = millions of parameters")


def _counts(cfg: TrainConfig) -> tuple[int, int]:
    """(training images, test images) of the run, after ``per_class``."""
    data = cfg.data
    if not hasattr(data, "counts"):
        n_train, n_test = UNKNOWN_TRAIN_IMAGES, UNKNOWN_TEST_IMAGES
        return (min(n_train, cfg.per_class * 10) if cfg.per_class else n_train), n_test
    counts = data.counts()
    train = counts.get("train", {}).values()
    n_train = sum(min(c, cfg.per_class) for c in train) if cfg.per_class else sum(train)
    return max(1, n_train), max(1, sum(counts.get("test", {}).values()))


def plan_on_gpu(cfg: TrainConfig, n_train: int, settings: Settings | None = None) -> dict:
    """The hyper-parameters the run will get on one GPU (what the duration rule multiplies)."""
    from tlweb.engine.train.plan import plan

    runtime = SimpleNamespace(device=SimpleNamespace(type="cuda"), world_size=1, precision="bf16 autocast")
    return plan(cfg, n_train, runtime, settings or get_settings())


def train_seconds(bound: dict) -> float:
    """Seconds of GPU a fine-tune needs, from its arguments (``cfg``, ``settings``)."""
    cfg: TrainConfig = bound["cfg"]
    settings = bound.get("settings") or get_settings()
    strategy = get_strategy(cfg.strategy)
    p = zerogpu.model_params_m(cfg.model, settings)
    n_train, n_test = _counts(cfg)
    n_fit = n_train - (round(n_train * VALIDATION_FRACTION) if n_train >= 8 else 0)
    hp = plan_on_gpu(cfg, n_fit, settings)
    forward = FORWARD_S_PER_M * p
    total = zerogpu.WORKER_START_S + zerogpu.LOAD_S + zerogpu.LOAD_S_PER_M * p
    total += (n_train + n_test) * DECODE_S + SAVE_S + SAVE_S_PER_M * p
    if strategy.head_only:
        total += (n_train + n_test) * forward + hp["total_steps"] * HEAD_STEP_S
    else:
        images_per_step = min(hp["batch_size"], n_fit)
        total += hp["total_steps"] * (images_per_step * TRAIN_FACTOR * forward + STEP_S)
        total += hp["epochs"] * (n_train - n_fit) * forward + n_test * forward
    return total


class TooLongForZeroGpu(TlwebError):
    """A fine-tune whose estimate is over what one ZeroGPU call may take."""


def check_fits(cfg: TrainConfig, settings: Settings | None = None) -> float:
    """The run's estimated GPU seconds; on ZeroGPU (or its stand-in), a one-sentence refusal when
    they are over the per-call limit (:data:`tlweb.engine.zerogpu.TRAIN_CAP_S`).

    The refusal says how many epochs would fit rather than shrinking the plan behind the user's
    back: the numbers of a run must be the ones that were asked for.
    """
    settings = settings or get_settings()
    seconds = train_seconds({"cfg": cfg, "settings": settings})
    cap = min(zerogpu.TRAIN_CAP_S, zerogpu.ZEROGPU_MAX_S)
    if zerogpu.mode() == "off" or seconds <= cap:
        return seconds
    n_fit = _counts(cfg)[0]
    epochs = plan_on_gpu(cfg, n_fit, settings)["epochs"]
    fit = next((e for e in range(epochs - 1, 0, -1)
                if train_seconds({"cfg": replace(cfg, epochs=e), "settings": settings}) <= cap), 0)
    hint = (f"ask for {fit} epoch{'s' if fit != 1 else ''} or fewer, fewer images per class or a smaller model"
            if fit else "use fewer images per class or a smaller model")
    raise TooLongForZeroGpu(f"This fine-tune needs about {math.ceil(seconds / 60)} min of GPU time, more than the "
                            f"{cap // 60} min one ZeroGPU call may take: {hint}.")


# --------------------------------------------------------------------------- the GPU function


_END = object()


def _model_of(bound: dict) -> list:
    return [bound["cfg"].model]


@zerogpu.gpu_task(train_seconds, models=_model_of, cap=zerogpu.TRAIN_CAP_S, rule=RULE)  # the model downloads first
def finetune_stream(cfg: TrainConfig, settings: Settings | None = None) -> Iterator[TrainEvent | RunResult]:
    """Train ``cfg`` into its run folder ``cfg.out_dir`` (made by the caller, see :func:`start_run`);
    yield each TrainEvent as it happens, then the RunResult.

    The loop runs on a thread of this process and hands its events over through a queue of this
    process. Closing the generator (ZeroGPU does when the visitor leaves) writes the STOP file and
    waits for the loop to end cleanly (the best model so far is kept and saved).
    """
    from tlweb.engine.runs import STOP_FILE
    from tlweb.engine.train.run import finetune

    if not cfg.out_dir:
        raise DataError("A streamed fine-tune needs its run folder (start_run creates it).")
    settings = settings or get_settings()
    events: queue.SimpleQueue = queue.SimpleQueue()
    outcome: dict = {}

    def work():
        try:
            outcome["result"] = finetune(cfg, on_event=events.put, settings=settings)
        except BaseException as exc:  # noqa: BLE001 - re-raised by the generator below
            outcome["error"] = exc
        finally:
            events.put(_END)

    context = contextvars.copy_context()  # whatever the caller's context carries (the browser session)
    thread = threading.Thread(target=context.run, args=(work,), daemon=True, name="tlweb-train")
    thread.start()
    ended = False
    try:
        while (item := events.get()) is not _END:
            yield item
        ended = True
    finally:
        if not ended:  # closed early: stop the loop through its run folder, let it save, then go
            Path(cfg.out_dir, STOP_FILE).touch()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["result"]


# --------------------------------------------------------------------------- the caller's side


def run_name(cfg: TrainConfig, spec) -> str:
    """The label in a new run folder's id: the strategy (and size) in an experiment, else with the model."""
    if cfg.name:
        return cfg.name
    if cfg.experiment is not None:
        return cfg.strategy + (f" {cfg.per_class} per class" if cfg.per_class else "")
    return f"{cfg.strategy} {spec.key}"


def start_run(cfg: TrainConfig, settings: Settings | None = None) -> TrainConfig:
    """Create the run's folder (inside ``cfg.experiment`` when set) and return ``cfg`` pointing at it.

    The model name is resolved first, so a name that is not a model is a sentence and no folder.
    """
    from tlweb.catalog import resolve
    from tlweb.engine.runs import new_run_dir
    from tlweb.engine.train.run import experiment_dir

    settings = settings or get_settings()
    get_strategy(cfg.strategy)
    spec = resolve(cfg.model, settings=settings)
    _, run_dir = new_run_dir(settings, run_name(cfg, spec), parent=experiment_dir(cfg.experiment, settings))
    return replace(cfg, out_dir=str(run_dir))


def _never_started(run_dir: Path) -> bool:
    """True when the run did not reach training (refused model or data, no GPU): nothing to keep."""
    from tlweb.engine.runs import read_events

    return not any(e.get("kind") in ("start", "step", "eval") for e in read_events(run_dir))


def _forget(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)


def iter_finetune(cfg: TrainConfig, settings: Settings | None = None) -> Iterator[TrainEvent | RunResult]:
    """One fine-tune as a stream of TrainEvents and, last, its RunResult (see the module docstring).

    ``cfg.out_dir``: the run folder the caller made with :func:`start_run` (one is made otherwise).
    A run refused before training (its model or data) leaves no folder behind.
    """
    from tlweb.engine.runs import STOP_FILE

    settings = settings or get_settings()
    check_fits(cfg, settings)
    if not cfg.out_dir:
        cfg = start_run(cfg, settings)
    run_dir = Path(cfg.out_dir)
    stream = finetune_stream(cfg, settings)
    ended = False
    try:
        # not ``yield from``: on close, the STOP file must be written before the stream is closed
        for item in stream:  # noqa: UP028
            yield item
        ended = True
    except TlwebError:
        if _never_started(run_dir):
            _forget(run_dir)
        raise
    finally:
        if not ended:
            if run_dir.is_dir():
                (run_dir / STOP_FILE).touch()
            stream.close()
            if run_dir.is_dir() and not (run_dir / "config.json").is_file():
                _forget(run_dir)  # never reached the GPU (no quota, no worker): no run to list


def _prepared(data, per_class, seed: int, settings: Settings):
    from tlweb.engine.data import PreparedData, load_data, subsample

    prepared = data if isinstance(data, PreparedData) else load_data(data, seed=seed, settings=settings)
    return subsample(prepared, per_class, seed) if per_class else prepared


def _seeded(seed: int, seeds: int) -> list[int]:
    """The seeds a repeated run uses: ``seed``, ``seed + 1`` … (``seeds`` of them, at least one)."""
    return [seed + i for i in range(max(1, int(seeds or 1)))]


def _seed_name(part: str, seed: int, seeds: int) -> str | None:
    """The run's name inside its experiment: "linear seed 1" when each run is repeated, else the default."""
    return f"{part} seed {seed}" if seeds > 1 else None


def iter_ladder(model: str, data, strategies=None, settings: Settings | None = None, experiment=None,
                seeds: int = 1, **cfg_kwargs) -> Iterator[TrainEvent | RunResult]:
    """The strategy ladder as a stream: every strategy on the same split and budget, each ``seeds``
    times (seed, seed + 1 …), one GPU call per run, as one experiment folder (``experiment``: an
    existing one to add to, else a new one, finished here). Yields each run's TrainEvents and,
    after each run, its RunResult."""
    from tlweb.engine.train.run import Experiment

    settings = settings or get_settings()
    strategies = tuple(strategies or strategy_names())
    base_seed = int(cfg_kwargs.pop("seed", 0) or 0)
    prepared = _prepared(data, cfg_kwargs.pop("per_class", None), base_seed, settings)
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


def iter_efficiency(model: str, data, shots=(1, 2, 5, 10, 25), strategies=("linear", "scratch"), seed: int = 0,
                    settings: Settings | None = None, experiment=None, seeds: int = 1, zero_shot: str | None = None,
                    templates=None, **cfg_kwargs) -> Iterator[TrainEvent | dict]:
    """The data-efficiency curve as a stream: test accuracy at 1, 2, 5 … training images per class for
    each strategy (same test split), each point ``seeds`` times with another draw of the training
    images, one GPU call per run, as one experiment folder. Yields each run's TrainEvents and, after
    each run, its row (a dict: strategy, per_class, seed, train_images, test_accuracy …). Shots
    larger than the smallest class are skipped.

    ``zero_shot``: a CLIP/SigLIP model (``templates``: its prompts, default four averaged) that
    classifies the same test split from the class names first — one more GPU call; its row
    (``kind: "zero-shot"``, :mod:`tlweb.engine.train.baseline`) is yielded before the first run and
    kept in ``experiment.json``. Any other model is refused with a sentence before anything runs."""
    from tlweb.engine.train.run import Experiment

    settings = settings or get_settings()
    baseline = check_zero_shot(zero_shot, templates, settings)
    prepared = _prepared(data, None, seed, settings)
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
                    yield {"strategy": cfg.strategy, "per_class": cfg.per_class, "seed": cfg.seed,
                           "train_images": item.train_images, "val_images": item.val_images,
                           "test_images": item.test_images, "test_accuracy": item.test_accuracy,
                           "test_macro_f1": item.test_macro_f1, "run_id": item.run_id, "stopped": item.stopped}
                    if item.stopped:
                        exp.status = "stopped"
                        return


def drain(stream, on_event=None, should_stop=None, stop_folder=None) -> list:
    """Run a stream to its end for a blocking caller: events go to ``on_event``; results are returned.

    ``should_stop()`` (the CLI's Ctrl+C, a test) is asked after each item; when it turns true the
    STOP file of ``stop_folder()`` (the run or experiment folder) is written once.
    """
    from tlweb.engine.runs import STOP_FILE

    results, asked = [], False
    for item in stream:
        if isinstance(item, TrainEvent):
            if on_event is not None:
                on_event(item)
        else:
            results.append(item)
        if not asked and should_stop is not None and should_stop():
            folder = stop_folder() if stop_folder is not None else None
            if folder is not None and Path(folder).is_dir():
                (Path(folder) / STOP_FILE).touch()
                asked = True
    return results
