"""What a fit gets besides the model (:class:`RunContext`, built once per run by
:func:`tlweb.engine.train.run.finetune`) and what it gives back (:class:`FitOutcome`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tlweb.config import Settings
from tlweb.engine.accel import Runtime
from tlweb.engine.stop import Stop
from tlweb.engine.train.callbacks import Callbacks, Emitter
from tlweb.engine.train.config import TrainConfig
from tlweb.engine.train.holdout import Holdout
from tlweb.engine.train.plan import RunPlan
from tlweb.engine.train.strategies import Strategy
from tlweb.engine.train.tasks import Encoded, Evaluation, TaskData, TrainTask

if TYPE_CHECKING:
    from tlweb.catalog import ModelSpec


@dataclass
class RunContext:
    """Everything a fit needs besides the model."""

    plan: RunPlan
    spec: ModelSpec  # the plan's, enriched by loading (input size, parameters)
    processor: Any  # the model's image processor (transformers)
    data: TaskData
    enc_train: Encoded
    enc_test: Encoded
    holdout: Holdout
    hp: dict
    runtime: Runtime
    settings: Settings
    emit: Emitter
    callbacks: Callbacks
    stop_request: Stop

    @property
    def cfg(self) -> TrainConfig:
        return self.plan.cfg

    @property
    def strategy(self) -> Strategy:
        return self.plan.strategy

    @property
    def task(self) -> TrainTask:
        return self.plan.task

    def stop(self) -> bool:
        """Asked to stop (any callback's should_stop: the run's Stop, the caller's flag)?"""
        return self.callbacks.should_stop(None)


@dataclass
class FitOutcome:
    model: Any  # the trained model (unwrapped, on the CPU)
    test: Evaluation  # the kept model on the test split
    stopped: bool
    best_epoch: float | None
    kept_epoch: float | None
    epoch: float
    step: int
    extra: dict = field(default_factory=dict)
