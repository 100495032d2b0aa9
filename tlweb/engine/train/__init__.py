"""Fine-tuning: one training run for every task, strategies as records, streaming events, run folders.

``finetune(cfg, on_event, should_stop)`` runs one fine-tune of ``cfg.task`` (image classification by
default): it resolves the model and plans once, loads the data and the model (a new head sized to
the classes) through the task, decodes every image once to uint8 at the model's input size, trains,
and writes the run folder (:mod:`tlweb.engine.runs`). ``ladder`` and ``data_efficiency`` run
several strategies / data sizes as one experiment folder.

No model selection on the test split: a validation subset held out of the training images picks
the kept epoch, or, with too few images, the last epoch is kept (:mod:`.holdout`).

The package:

- :mod:`.tasks` — the training-task plug-ins (:class:`~.tasks.base.TrainTask`: data reader, encode,
  batch, loss, metric, head, what is saved), registered next to their code; classification first.
- :mod:`.strategies` — the registry, one :class:`Strategy` per strategy (classification's linear,
  partial, full, two-step, lora, scratch; segmentation's decoder; detection's head), with the tasks
  it applies to and how it sets the model up from the task's :class:`ModelParts`.
- :mod:`.loop` — the one training loop (network strategies and the linear head alike), with
  ``transformers.get_cosine_schedule_with_warmup``; :mod:`.callbacks` — its plug-ins: events,
  ``events.jsonl``, best-epoch checkpoint, Stop (in-process flag or :class:`tlweb.engine.stop.Stop`).
- :mod:`.network` (any task's batches on the device, bf16 autocast and channels_last on CUDA) and
  :mod:`.linear` (classification's linear probe: cached features, the head fit behind ``fit_head``).
- :mod:`.plan` (the run resolved once, hyper-parameters), :mod:`.context` (what a fit gets),
  :mod:`.model` (the one loading function, saving), :mod:`.config` (TrainConfig, TrainEvent —
  the event schema — and RunResult), :mod:`.run` (finetune).
- :mod:`.stream` — the GPU function (:func:`finetune_stream`, a generator decorated for ZeroGPU
  that yields each event and then the result) and the caller's side (:func:`start_run` makes the
  run folder, :func:`iter_finetune` drains it; Stop through the run folder's STOP file);
  :mod:`.experiments` — the ladder and the data-efficiency curve (:func:`iter_ladder`,
  :func:`iter_efficiency`), one GPU call per run.
"""

from tlweb.engine.train.callbacks import Callback, EvalResult
from tlweb.engine.train.config import (
    DEFAULT_SEEDS,
    EVENT_FIELDS,
    EVENT_INTERVAL_S,
    EVENT_KINDS,
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
from tlweb.engine.train.experiments import (
    curve_row,
    data_efficiency,
    iter_efficiency,
    iter_ladder,
    ladder,
    start_experiment,
)
from tlweb.engine.train.holdout import Holdout, validation_holdout
from tlweb.engine.train.loop import Loop, LoopTask, make_scheduler
from tlweb.engine.train.model import load_for_task, load_for_training
from tlweb.engine.train.plan import RunPlan, resolve_run
from tlweb.engine.train.run import finetune
from tlweb.engine.train.strategies import (
    ModelParts,
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
    iter_finetune,
    start_run,
    train_seconds,
)
from tlweb.engine.train.tasks import TrainTask, register_train_task, train_task, train_task_names, train_tasks

__all__ = [
    "Callback", "DEFAULT_SEEDS", "EVENT_FIELDS", "EVENT_INTERVAL_S", "EVENT_KINDS", "EvalResult",
    "Holdout", "Loop", "LoopTask", "MAX_EPOCHS_GPU", "MAX_MISTAKES", "MIN_STEPS", "MIN_TRAIN_PER_CLASS_FOR_VALIDATION",
    "MONITOR_NOTE", "ModelParts", "RunPlan", "RunResult", "Setup", "Strategy",
    "TrainConfig", "TrainEvent", "TrainTask", "VALIDATION_FRACTION", "curve_row", "data_efficiency", "finetune",
    "get_strategy", "ladder", "load_for_task", "load_for_training", "lora_targets", "make_scheduler", "register",
    "register_train_task", "resolve_run", "start_experiment", "all_strategies", "strategy_names", "train_task",
    "train_task_names", "train_tasks", "validation_holdout", "TooLongForZeroGpu", "check_fits", "finetune_stream",
    "iter_efficiency", "iter_finetune", "iter_ladder", "start_run", "train_seconds",
]

