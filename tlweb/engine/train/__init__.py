"""Fine-tuning: six strategies on the same split and budget, streaming events, run folders.

``finetune(cfg, on_event, should_stop)`` loads the data (or takes a :class:`PreparedData`), loads
the model with a new head sized to the classes, decodes every image once to uint8 at the
model's input size, trains, and writes the run folder (:mod:`tlweb.engine.runs`). ``ladder`` and
``data_efficiency`` run several strategies / data sizes as one experiment folder.

No model selection on the test split: a validation subset held out of the training images picks
the kept epoch, or, with too few images, the last epoch is kept (:mod:`.holdout`).

The package:

- :mod:`.strategies` — the registry, one :class:`Strategy` per strategy (linear, partial, full,
  two-step, lora, scratch): labels, explanation, defaults, colour, how it sets the model up.
- :mod:`.loop` — the one training loop (network strategies and the linear head alike), with
  ``transformers.get_cosine_schedule_with_warmup``; :mod:`.callbacks` — its plug-ins: events,
  ``events.jsonl``, best-epoch checkpoint, Stop (in-process flag or the run folder's STOP file).
- :mod:`.network` (image batches on the device: augmentation, bf16 autocast and channels_last on
  CUDA) and :mod:`.linear` (cached features, the head fit behind :func:`fit_head`).
- :mod:`.model` (load with a fresh head, save), :mod:`.plan` (hyper-parameters), :mod:`.config`
  (TrainConfig, TrainEvent, RunResult), :mod:`.run` (finetune, ladder, data_efficiency).
- :mod:`.stream` — the GPU function (:func:`finetune_stream`, a generator decorated for ZeroGPU
  that yields each event and then the result) and the caller's side (:func:`start_run` makes the
  run folder, :func:`iter_finetune` / :func:`iter_ladder` / :func:`iter_efficiency` drain it, one
  GPU call per run; Stop through the run folder's STOP file).
"""

from tlweb.engine.train.callbacks import Callback, EvalResult
from tlweb.engine.train.config import (
    DEFAULT_SEEDS,
    EVENT_INTERVAL_S,
    MAX_EPOCHS_GPU,
    MAX_MISTAKES,
    MIN_STEPS,
    MIN_TRAIN_PER_CLASS_FOR_VALIDATION,
    MONITOR_NOTE,
    VALIDATION_FRACTION,
    RunResult,
    TrainConfig,
    TrainEvent,
)
from tlweb.engine.train.holdout import Holdout, validation_holdout
from tlweb.engine.train.loop import Loop, LoopTask, make_scheduler
from tlweb.engine.train.model import load_for_training
from tlweb.engine.train.run import data_efficiency, finetune, ladder, start_experiment
from tlweb.engine.train.strategies import (
    Setup,
    Strategy,
    all_strategies,
    get_strategy,
    lora_targets,
    register,
    strategy_names,
)
from tlweb.engine.train.stream import (
    TooLongForZeroGpu,
    check_fits,
    finetune_stream,
    iter_efficiency,
    iter_finetune,
    iter_ladder,
    start_run,
    train_seconds,
)

__all__ = [
    "Callback", "DEFAULTS", "DEFAULT_SEEDS", "EVENT_INTERVAL_S", "EvalResult", "Holdout", "Loop", "LoopTask", "MAX_EPOCHS_GPU",
    "MAX_MISTAKES", "MIN_STEPS", "MIN_TRAIN_PER_CLASS_FOR_VALIDATION", "MONITOR_NOTE", "RunResult", "STRATEGIES",
    "STRATEGY_INFO", "Setup", "Strategy", "TrainConfig", "TrainEvent", "VALIDATION_FRACTION", "data_efficiency",
    "finetune", "get_strategy", "ladder", "load_for_training", "lora_targets", "make_scheduler", "register",
    "start_experiment", "all_strategies", "strategy_names", "validation_holdout", "TooLongForZeroGpu", "check_fits",
    "finetune_stream", "iter_efficiency", "iter_finetune", "iter_ladder", "start_run", "train_seconds",
]


def __getattr__(name: str):
    """``STRATEGIES`` / ``STRATEGY_INFO`` / ``DEFAULTS``: views of the registry, always current."""
    if name == "STRATEGIES":
        return strategy_names()
    if name == "STRATEGY_INFO":
        return {s.name: s.explanation for s in all_strategies()}
    if name == "DEFAULTS":
        return {s.name: s.defaults for s in all_strategies()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
