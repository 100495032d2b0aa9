"""The one training loop, for the network strategies and the linear head alike.

A :class:`LoopTask` says what one step trains on (a batch of images through the network, or a
batch of cached feature vectors through a linear head) and how to evaluate; :class:`Loop` owns
the epochs, the optimizer and scheduler steps, the stop checks between steps, and calls the
callbacks (:mod:`tlweb.engine.train.callbacks`) at each hook. The learning rate follows
``transformers.get_cosine_schedule_with_warmup``.
"""

from __future__ import annotations

import math
import time

from tlweb.engine.train.callbacks import Callbacks, EvalResult


class LoopTask:
    """What the loop trains. Subclasses set ``model`` (the module whose weights train, unwrapped)
    and implement the methods below."""

    model = None
    max_grad_norm: float | None = None  # clip the gradients' total norm to this after backward (None: never)

    def start_epoch(self, epoch: int) -> None:
        """Train mode, a fresh shuffle."""

    def loss(self, batch_index: int):
        """(loss tensor, images in the step across processes) for batch ``batch_index`` of the epoch,
        or (loss, images, named loss parts as detached tensors)."""
        raise NotImplementedError

    def evaluate(self):
        """(mean loss, metric 0..1) on the evaluation images, or an
        :class:`~tlweb.engine.train.tasks.base.Evaluation`."""
        raise NotImplementedError

    def state(self):
        """A copy of the trained weights (for the best-epoch checkpoint)."""
        raise NotImplementedError

    def load_state(self, state) -> None:
        raise NotImplementedError


def make_scheduler(optimizer, warmup_steps: int, total_steps: int):
    """Linear warm-up then cosine decay to zero: ``transformers.get_cosine_schedule_with_warmup``."""
    from transformers import get_cosine_schedule_with_warmup

    return get_cosine_schedule_with_warmup(optimizer, num_warmup_steps=int(warmup_steps),
                                           num_training_steps=int(total_steps))


def eval_every(epochs: int, points: int | None) -> int:
    """Evaluate every this many epochs: every epoch, or about ``points`` times in all."""
    return 1 if not points else max(1, math.ceil(epochs / points))


class Loop:
    """Runs ``hp["epochs"]`` epochs of ``hp["steps_per_epoch"]`` steps over ``task``.

    Public state the callbacks read: ``epochs``, ``steps_per_epoch``, ``total_steps``, ``step``,
    ``epoch_index`` (0-based, current), ``batch_index``, ``last_loss``, ``lr``, ``epoch_t0``,
    ``last_parts`` (the last step's named loss parts), ``epoch_images``, ``epoch_s``, ``train_time``
    (seconds in training steps, evaluation excluded), ``stopped``, ``eval_split``, ``note`` (a line for the next eval event) and ``task``.
    """

    def __init__(self, task: LoopTask, optimizer, scheduler, runtime, hp: dict, callbacks: Callbacks,
                 eval_split: str = "validation", eval_points: int | None = None):
        self.task = task
        self.optimizer = optimizer
        self.scheduler = scheduler
        self.runtime = runtime
        self.callbacks = callbacks
        self.epochs = int(hp["epochs"])
        self.steps_per_epoch = int(hp["steps_per_epoch"])
        self.total_steps = int(hp["total_steps"])
        self.eval_split = eval_split
        self.every = eval_every(self.epochs, eval_points)
        self.step = 0
        self.epoch_index = 0
        self.batch_index = -1
        self.last_loss = None
        self.last_parts: dict = {}
        self.epoch_t0 = time.perf_counter()
        self.epoch_images = 0
        self.epoch_s = 0.0
        self.train_time = 0.0
        self.stopped = False
        self.note = ""
        self._evaluated_at: int | None = None

    @property
    def lr(self) -> float:
        return float(self.scheduler.get_last_lr()[0])

    def eval_due(self) -> bool:
        done = self.epoch_index + 1
        return self.stopped or done % self.every == 0 or done == self.epochs

    def _should_stop(self) -> bool:
        stop = self.callbacks.should_stop(self)
        return self.runtime.any_process(stop) if self.runtime.distributed else stop

    def _train_step(self, b: int) -> None:
        loss, images, *parts = self.task.loss(b)
        self.optimizer.zero_grad(set_to_none=True)
        self.runtime.backward(loss)
        if self.task.max_grad_norm:
            self.runtime.clip_grad_norm(getattr(self.task, "train_model", None) or self.task.model,
                                        self.task.max_grad_norm)
        self.optimizer.step()
        self.scheduler.step()
        self.step += 1
        self.batch_index = b
        self.last_loss = loss
        self.last_parts = parts[0] if parts else {}
        self.epoch_images += images

    def _epoch(self, epoch: int) -> int:
        """One epoch of steps; returns how many ran (fewer when stopped)."""
        self.epoch_index = epoch
        self.callbacks.call("on_epoch_start", self)
        self.task.start_epoch(epoch)
        self.epoch_t0 = time.perf_counter()
        self.epoch_images = 0
        ran = 0
        for b in range(self.steps_per_epoch):
            if self._should_stop():
                self.stopped = True
                break
            self._train_step(b)
            ran += 1
            self.callbacks.call("on_step_end", self)
        self.runtime.synchronize()
        self.epoch_s = time.perf_counter() - self.epoch_t0
        self.train_time += self.epoch_s
        return ran

    def _evaluate(self, epoch: int, ran: int) -> None:
        out = self.task.evaluate()
        self._evaluated_at = self.step
        at = epoch + ran / self.steps_per_epoch
        if isinstance(out, tuple):
            result = EvalResult(loss=out[0], metric=out[1], epoch=at, split=self.eval_split)
        else:  # an Evaluation
            result = EvalResult(loss=out.loss, metric=out.metric, epoch=at, split=self.eval_split,
                                loss_parts=dict(out.loss_parts) or None, evaluation=out)
        self.callbacks.call("on_eval_end", self, result)

    def run(self) -> Loop:
        self.callbacks.call("on_train_start", self)
        for epoch in range(self.epochs):
            ran = self._epoch(epoch)
            if self.stopped and self._evaluated_at == self.step:
                break  # nothing new since the last evaluation
            if self.eval_due():
                self._evaluate(epoch, ran)
            if self.stopped:
                break
        self.callbacks.call("on_train_end", self)
        return self
