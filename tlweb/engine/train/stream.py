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
  (:func:`tlweb.engine.runs.store.request_stop`, from any process); the loop checks it between steps.
  Nothing in-process (a queue, an Event) crosses into the worker.
- :func:`iter_finetune` is the caller's side: it resolves the run once (:func:`resolve_run`), refuses
  a run that cannot fit in one ZeroGPU call (:func:`check_fits`), creates the folder and drains
  :func:`finetune_stream`, handing it the resolved plan. The ladder and the data-efficiency curve
  (:mod:`.experiments`) call it once per run — one GPU call per run, each within the per-call limit.
  Closing it (a closed page, a cancelled event) asks the run's Stop, so the run ends cleanly and
  keeps its model.

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
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

from tlweb.config import Settings, get_settings
from tlweb.engine import zerogpu
from tlweb.engine.stop import Stop
from tlweb.engine.train.config import VALIDATION_FRACTION, RunResult, TrainConfig, TrainEvent
from tlweb.engine.train.plan import RunPlan, experiment_dir, resolve_run, run_name
from tlweb.engine.train.plan import plan as plan_hyperparameters
from tlweb.engine.train.run import finetune
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


def plan_on_gpu(cfg: TrainConfig, n_train: int, settings: Settings | None = None, run: RunPlan | None = None) -> dict:
    """The hyper-parameters the run will get on one GPU (what the duration rule multiplies)."""
    runtime = SimpleNamespace(device=SimpleNamespace(type="cuda"), world_size=1, precision="bf16 autocast")
    if run is not None:
        return plan_hyperparameters(cfg, n_train, runtime, settings or get_settings(), strategy=run.strategy,
                                    task=run.task)
    return plan_hyperparameters(cfg, n_train, runtime, settings or get_settings())


def train_seconds(bound: dict) -> float:
    """Seconds of GPU a fine-tune needs, from its arguments (``cfg``, ``settings``, and ``plan``: the
    run already resolved, whose model and records it reads instead of resolving them again)."""
    cfg: TrainConfig = bound["cfg"]
    settings = bound.get("settings") or get_settings()
    run: RunPlan | None = bound.get("plan")
    if run is not None:
        strategy, model = run.strategy, run.spec
    else:
        from tlweb.engine.train.tasks import train_task

        strategy, model = train_task(cfg.task).strategy(cfg.strategy), cfg.model
    p = zerogpu.model_params_m(model, settings)
    n_train, n_test = _counts(cfg)
    n_fit = n_train - (round(n_train * VALIDATION_FRACTION) if n_train >= 8 else 0)
    hp = plan_on_gpu(cfg, n_fit, settings, run)
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


def check_fits(cfg: TrainConfig, settings: Settings | None = None, run: RunPlan | None = None) -> float:
    """The run's estimated GPU seconds; on ZeroGPU (or its stand-in), a one-sentence refusal when
    they are over the per-call limit (:data:`tlweb.engine.zerogpu.TRAIN_CAP_S`).

    The refusal says how many epochs would fit rather than shrinking the plan behind the user's
    back: the numbers of a run must be the ones that were asked for.
    """
    settings = settings or get_settings()
    seconds = train_seconds({"cfg": cfg, "settings": settings, "plan": run})
    cap = min(zerogpu.TRAIN_CAP_S, zerogpu.ZEROGPU_MAX_S)
    if zerogpu.mode() == "off" or seconds <= cap:
        return seconds
    n_fit = _counts(cfg)[0]
    epochs = plan_on_gpu(cfg, n_fit, settings, run)["epochs"]
    fit = next((e for e in range(epochs - 1, 0, -1)
                if train_seconds({"cfg": replace(cfg, epochs=e), "settings": settings, "plan": run}) <= cap), 0)
    hint = (f"ask for {fit} epoch{'s' if fit != 1 else ''} or fewer, fewer images per class or a smaller model"
            if fit else "use fewer images per class or a smaller model")
    raise TooLongForZeroGpu(f"This fine-tune needs about {math.ceil(seconds / 60)} min of GPU time, more than the "
                            f"{cap // 60} min one ZeroGPU call may take: {hint}.")


# --------------------------------------------------------------------------- the GPU function


_END = object()


def _model_of(bound: dict) -> list:
    run = bound.get("plan")
    return [run.spec if run is not None else bound["cfg"].model]


@zerogpu.gpu_task(train_seconds, models=_model_of, cap=zerogpu.TRAIN_CAP_S, rule=RULE)  # the model downloads first
def finetune_stream(cfg: TrainConfig, settings: Settings | None = None,
                    plan: RunPlan | None = None) -> Iterator[TrainEvent | RunResult]:
    """Train ``cfg`` into its run folder ``cfg.out_dir`` (made by the caller, see :func:`start_run`);
    yield each TrainEvent as it happens, then the RunResult. ``plan``: the run as the caller resolved
    it (:func:`~tlweb.engine.train.plan.resolve_run`; it pickles), so nothing is resolved again here.

    The loop runs on a thread of this process and hands its events over through a queue of this
    process. Closing the generator (ZeroGPU does when the visitor leaves) asks the run's Stop and
    waits for the loop to end cleanly (the best model so far is kept and saved).
    """
    if not cfg.out_dir:
        raise DataError("A streamed fine-tune needs its run folder (start_run creates it).")
    settings = settings or get_settings()
    events: queue.SimpleQueue = queue.SimpleQueue()
    outcome: dict = {}

    def work():
        try:
            outcome["result"] = finetune(cfg, on_event=events.put, settings=settings,
                                         plan=replace(plan, cfg=cfg) if plan is not None else None)
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
            Stop(cfg.out_dir).request()
        thread.join()
    if "error" in outcome:
        raise outcome["error"]
    yield outcome["result"]


# --------------------------------------------------------------------------- the caller's side


def start_run(cfg: TrainConfig, settings: Settings | None = None, run: RunPlan | None = None) -> TrainConfig:
    """Create the run's folder (inside ``cfg.experiment`` when set) and return ``cfg`` pointing at it.

    The run is resolved first (``run``: already resolved by the caller), so a name that is not a
    model, or a strategy of another task, is a sentence and no folder.
    """
    from tlweb.engine.runs.store import new_run_dir

    settings = settings or get_settings()
    run = run or resolve_run(cfg, settings)
    _, run_dir = new_run_dir(settings, run_name(cfg, run.spec), parent=experiment_dir(cfg.experiment, settings))
    return replace(cfg, out_dir=str(run_dir))


def _never_started(run_dir: Path) -> bool:
    """True when the run did not reach training (refused model or data, no GPU): nothing to keep."""
    from tlweb.engine.runs.files import read_events

    return not any(e.get("kind") in ("start", "step", "eval") for e in read_events(run_dir))


def _forget(run_dir: Path) -> None:
    shutil.rmtree(run_dir, ignore_errors=True)


def iter_finetune(cfg: TrainConfig, settings: Settings | None = None) -> Iterator[TrainEvent | RunResult]:
    """One fine-tune as a stream of TrainEvents and, last, its RunResult (see the module docstring).

    ``cfg.out_dir``: the run folder the caller made with :func:`start_run` (one is made otherwise).
    A run refused before training (its model or data) leaves no folder behind.
    """
    settings = settings or get_settings()
    run = resolve_run(cfg, settings)  # once: the duration, the folder and the GPU function read it
    check_fits(cfg, settings, run)
    if not cfg.out_dir:
        cfg = start_run(cfg, settings, run)
    run_dir = Path(cfg.out_dir)
    stream = finetune_stream(cfg, settings, replace(run, cfg=cfg))
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
            Stop(run_dir).request()
            stream.close()
            if run_dir.is_dir() and not (run_dir / "config.json").is_file():
                _forget(run_dir)  # never reached the GPU (no quota, no worker): no run to list


