"""Plug-ins of the training loop (Lightning's callback hooks are the model).

The loop (:mod:`tlweb.engine.train.loop`) calls, on every callback in order::

    on_run_start(run_id, run_dir) once the run folder exists (before data and model are loaded)
    on_train_start(loop)          before the first epoch
    on_epoch_start(loop)          before each epoch (two-step unfreezes the backbone here)
    on_step_end(loop)             after each optimizer step
    on_eval_end(loop, result)     after each evaluation (EvalResult: loss, metric, epoch, split)
    on_train_end(loop)            after the last epoch, or after a stop
    should_stop(loop) -> bool     between steps (any True stops the run cleanly)

and every :class:`~tlweb.engine.train.config.TrainEvent` of the run (start, step, eval, done,
stopped, error) goes to ``on_event(event)``. Events, the run folder's ``events.jsonl``, the
best-epoch checkpoint and Stop (in-process flag or the run's :class:`tlweb.engine.stop.Stop`) are all callbacks,
so a run started from the CLI, ``accelerate launch`` or a ZeroGPU worker reports and stops the
same way as one started from the UI.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from tlweb.engine.stop import Stop
from tlweb.engine.train.config import MONITOR_NOTE, STEP_POINTS, TrainEvent

log = logging.getLogger(__name__)


@dataclass
class EvalResult:
    loss: float
    metric: float  # the task's headline metric, 0..1 (classification: accuracy)
    epoch: float  # fractional epochs trained when evaluated
    split: str  # "validation" (held out of training, picks the kept epoch) or "test" (monitoring only)
    loss_parts: dict | None = None  # named parts of the loss, floats
    evaluation: object = None  # the task's Evaluation, when the loop task gave one

    @property
    def accuracy(self) -> float:
        """The headline metric under its classification name (older callbacks read it)."""
        return self.metric


class Callback:
    """Base class: override the hooks you need."""

    def on_run_start(self, run_id: str, run_dir: Path) -> None: ...

    def on_train_start(self, loop) -> None: ...

    def on_epoch_start(self, loop) -> None: ...

    def on_step_end(self, loop) -> None: ...

    def on_eval_end(self, loop, result: EvalResult) -> None: ...

    def on_train_end(self, loop) -> None: ...

    def on_event(self, event) -> None: ...

    def should_stop(self, loop) -> bool:
        return False


class Callbacks:
    """An ordered list of callbacks called as one; a failing ``on_event`` listener is logged, not raised."""

    def __init__(self, callbacks: Iterable[Callback] = ()):
        self.items: list[Callback] = [c for c in callbacks if c is not None]

    def add(self, *callbacks: Callback) -> Callbacks:
        self.items.extend(c for c in callbacks if c is not None)
        return self

    def call(self, hook: str, *args) -> None:
        for cb in self.items:
            getattr(cb, hook)(*args)

    def event(self, event) -> None:
        for cb in self.items:
            try:
                cb.on_event(event)
            except Exception:  # noqa: BLE001 - a broken listener must not kill the run
                log.exception("on_event listener %s failed", type(cb).__name__)

    def should_stop(self, loop=None) -> bool:
        return any(cb.should_stop(loop) for cb in self.items)

    def find(self, kind: type) -> list:
        return [c for c in self.items if isinstance(c, kind)]


class Emitter:
    """Builds :class:`TrainEvent` objects for one run (its id, strategy, task and metric on every one)
    and hands each to every callback's ``on_event``."""

    def __init__(self, run_id: str, strategy: str, callbacks: Callbacks, task: str = "image-classification",
                 metric: str = "accuracy"):
        self.run_id = run_id
        self.strategy = strategy
        self.callbacks = callbacks
        self.task = task
        self.metric = metric

    def __call__(self, kind: str, **kw) -> TrainEvent:
        kw.setdefault("epoch", 0.0)
        kw.setdefault("step", 0)
        kw.setdefault("total_steps", 0)
        ev = TrainEvent(kind=kind, run_id=self.run_id, strategy=self.strategy, task=self.task, metric=self.metric,
                        **kw)
        self.callbacks.event(ev)
        return ev

    def evaluation(self, metric: float, loss: float, **kw) -> TrainEvent:
        """An "eval" event: ``val_metric`` (and ``val_accuracy`` when the metric is accuracy)."""
        accuracy = metric if self.metric == "accuracy" else None
        return self("eval", val_loss=loss, val_metric=metric, val_accuracy=accuracy, **kw)


# --------------------------------------------------------------------------- events


class History(Callback):
    """Keeps every event in memory (``RunResult.history``)."""

    def __init__(self):
        self.events: list = []

    def on_event(self, event) -> None:
        self.events.append(event)


class Listener(Callback):
    """Calls ``fn(event)`` for every event (a training stream inside its GPU process, the CLI's progress lines)."""

    def __init__(self, fn: Callable):
        self.fn = fn

    def on_event(self, event) -> None:
        self.fn(event)


class RunFolderEvents(Callback):
    """Appends every event to the run folder's ``events.jsonl`` (flushed line by line), so another
    process can follow the run while it trains and nothing is lost if this one dies."""

    def __init__(self, writer):
        self.writer = writer

    def on_event(self, event) -> None:
        self.writer.event(event.as_dict())


class ProgressEvents(Callback):
    """Turns loop hooks into "step" events and "eval" events; the loss is averaged over the steps
    since the last event. A step event goes out once ``interval_s`` has passed (live curves on slow
    runs), at each epoch end that is evaluated, and at least every ``total_steps / points`` steps —
    so a run that takes half a second still draws its loss as a curve of about ``points`` points,
    not as a straight line between its first and last step."""

    def __init__(self, emit: Emitter, interval_s: float, eval_note: str = "", first_eval_note: str = "",
                 points: int | None = None):
        self.emit = emit
        self.interval_s = interval_s
        self.eval_note = eval_note
        self.first_eval_note = first_eval_note
        self.points = STEP_POINTS if points is None else points
        self._loss_sum = None
        self._parts: dict = {}
        self._n = 0
        self._last = 0.0

    def on_step_end(self, loop) -> None:
        loss = loop.last_loss.detach()
        self._loss_sum = loss if self._loss_sum is None else self._loss_sum + loss
        for name, value in (getattr(loop, "last_parts", None) or {}).items():
            value = value.detach() if hasattr(value, "detach") else value
            self._parts[name] = value if name not in self._parts else self._parts[name] + value
        self._n += 1
        now = time.perf_counter()
        closing = loop.batch_index == loop.steps_per_epoch - 1 and loop.eval_due()
        by_count = self.points > 0 and self._n >= max(1, loop.total_steps // self.points)
        if now - self._last < self.interval_s and not closing and not by_count and loop.step != loop.total_steps:
            return
        train_loss = float(self._loss_sum / self._n)  # syncs the device
        parts = {k: float(v / self._n) for k, v in self._parts.items()} or None
        elapsed_epoch = time.perf_counter() - loop.epoch_t0
        per_step = (loop.train_time + elapsed_epoch) / loop.step
        self.emit("step", epoch=loop.epoch_index + (loop.batch_index + 1) / loop.steps_per_epoch, step=loop.step,
                  total_steps=loop.total_steps, train_loss=train_loss, lr=loop.lr,
                  images_per_s=loop.epoch_images / max(elapsed_epoch, 1e-9),
                  eta_s=per_step * (loop.total_steps - loop.step), loss_parts=parts)
        self._loss_sum, self._parts, self._n, self._last = None, {}, 0, time.perf_counter()

    def on_eval_end(self, loop, result: EvalResult) -> None:
        ips = loop.epoch_images / max(loop.epoch_s, 1e-9)
        parts = [f"epoch {loop.epoch_index + 1}/{loop.epochs}", f"{loop.epoch_s:.1f} s", f"{ips:,.0f} img/s"]
        if self.first_eval_note:
            parts.append(self.first_eval_note)
            self.first_eval_note = ""
        if loop.note:
            parts.append(loop.note)
            loop.note = ""
        if result.split == "test":
            parts.append(MONITOR_NOTE)
        self.emit.evaluation(result.metric, result.loss, epoch=float(result.epoch), step=loop.step,
                             total_steps=loop.total_steps, lr=loop.lr, images_per_s=ips,
                             eta_s=(loop.train_time / max(loop.step, 1)) * (loop.total_steps - loop.step),
                             eval_split=result.split, message=" · ".join(parts), loss_parts=result.loss_parts)


# --------------------------------------------------------------------------- checkpointing


class BestEpoch(Callback):
    """Keeps the weights of the best evaluation by its selection key (the task's: (metric, -loss) by
    default) and restores them at the end —
    only when the evaluations run on a validation subset (``select``); without one the model as it
    is at the end is kept (nothing is selected on the test split)."""

    def __init__(self, select: bool, key: Callable | None = None):
        self.select = select
        self.key = key  # Evaluation -> tuple (the task's selection_key); default (metric, -loss)
        self.best_key = None
        self.best_epoch: float | None = None
        self.best_state = None
        self.kept_epoch: float | None = None

    def on_eval_end(self, loop, result: EvalResult) -> None:
        if self.key is not None and result.evaluation is not None:
            key = self.key(result.evaluation)
        else:
            key = (result.metric, -result.loss)
        if self.select and (self.best_key is None or key > self.best_key):
            self.best_key, self.best_epoch = key, round(result.epoch, 3)
            self.best_state = loop.task.state()

    def on_train_end(self, loop) -> None:
        if self.best_state is not None:
            loop.task.load_state(self.best_state)
            self.kept_epoch = self.best_epoch
        else:  # no selection (or stopped before any evaluation): the model as it is now
            self.kept_epoch = round(loop.step / loop.steps_per_epoch, 3)


# --------------------------------------------------------------------------- stop


class StopWhen(Callback):
    """Stop when ``fn()`` turns true (the UI's in-process flag, the CLI's Ctrl+C)."""

    def __init__(self, fn: Callable[[], bool]):
        self.fn = fn

    def should_stop(self, loop) -> bool:
        return bool(self.fn())


class StopRequested(Callback):
    """Stop when the run's :class:`~tlweb.engine.stop.Stop` is asked (the STOP file of its run folder
    or its experiment folder, written from any process)."""

    def __init__(self, stop: Stop):
        self.stop = stop

    def should_stop(self, loop) -> bool:
        return self.stop.requested()
