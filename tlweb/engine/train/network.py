"""Network strategies (partial, full, two-step, LoRA, scratch; segmentation's decoder, detection's
head): batches of decoded images through the model, on the device, with augmentation and
normalisation there; one :class:`Loop`. What a batch, a loss and an evaluation are is the task's
(:class:`~tlweb.engine.train.tasks.base.TrainTask`); the epochs, the optimizer, the best epoch,
Stop and the events are this module's, the same for every task."""

from __future__ import annotations

from dataclasses import replace

from tlweb.engine.train.callbacks import BestEpoch, Callbacks, ProgressEvents
from tlweb.engine.train.config import EVENT_INTERVAL_S
from tlweb.engine.train.context import FitOutcome, RunContext
from tlweb.engine.train.holdout import start_message
from tlweb.engine.train.loop import Loop, LoopTask, make_scheduler
from tlweb.engine.train.model import is_cnn
from tlweb.engine.train.plan import param_groups
from tlweb.engine.train.tasks import Encoded, Evaluation, Feed, TrainTask

__all__ = ["FitOutcome", "NetworkTask", "RunContext", "evaluate_split", "fit_network", "freeze_frozen_bn",
           "on_device", "to_device_if_fits"]


def freeze_frozen_bn(model) -> None:
    """BatchNorm layers whose weights are frozen keep their running statistics too."""
    import torch.nn as nn

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters())
            if params and not any(p.requires_grad for p in params):
                m.eval()


def evaluate_split(task: TrainTask, model, enc: Encoded, feed: Feed, batch_size: int) -> Evaluation:
    """The task's evaluation of ``model`` on ``enc``: eval mode, no gradients, then the mode it had."""
    import torch

    was = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return task.evaluate(model, enc, feed, batch_size)
    finally:
        model.train(was)


def to_device_if_fits(tensor, dev):
    """The tensor on the GPU when it takes under a quarter of its free memory, else pinned."""
    import torch

    if dev.type != "cuda":
        return tensor
    try:
        free, _total = torch.cuda.mem_get_info(dev)
    except Exception:  # noqa: BLE001
        return tensor.pin_memory()
    if tensor.numel() * tensor.element_size() < 0.25 * free:
        return tensor.to(dev, non_blocking=True)
    return tensor.pin_memory()


def on_device(enc: Encoded, dev) -> Encoded:
    """``enc`` with its pixels (and tensor targets) on the device when they fit (see :func:`to_device_if_fits`)."""
    targets = enc.targets
    if hasattr(targets, "index_select"):
        targets = to_device_if_fits(targets, dev)
    return replace(enc, pixels=to_device_if_fits(enc.pixels, dev), targets=targets)


class NetworkTask(LoopTask):
    """Batches through the (maybe DDP-wrapped) model: this process's shard of a seeded shuffle, the
    task's batch (augmented and normalised on the device), bf16 autocast on CUDA."""

    def __init__(self, train_model, model, ctx: RunContext, feed: Feed):
        import torch

        runtime, hp, holdout = ctx.runtime, ctx.hp, ctx.holdout
        dev = runtime.device
        self.train_model, self.model, self.runtime, self.feed = train_model, model, runtime, feed
        self.task = ctx.task
        self.max_grad_norm = ctx.task.max_grad_norm
        self.augment = hp["augment"]
        self.bs = hp["batch_size"]
        self.fit = on_device(holdout.fit, dev)
        # without a validation subset (too few images) the test split draws the curves, monitoring only
        self.eval_enc = on_device(holdout.val if holdout.selects else ctx.enc_test, dev)
        self.eval_bs = max(self.bs, 256 if dev.type == "cuda" else 64)
        self.g_cpu = torch.Generator().manual_seed(ctx.cfg.seed)
        self.g_dev = torch.Generator(device=dev).manual_seed(ctx.cfg.seed + 1)
        self.perm = self.perm_dev = None

    def start_epoch(self, epoch: int) -> None:
        import torch

        self.train_model.train()
        freeze_frozen_bn(self.model)
        world, rank = self.runtime.world_size, self.runtime.rank
        n = len(self.fit)
        perm = torch.randperm(n, generator=self.g_cpu)  # same on every process (same seed)
        per_proc = n // world
        self.perm = perm[rank * per_proc:(rank + 1) * per_proc] if world > 1 else perm
        self.perm_dev = self.perm.to(self.runtime.device)  # one small copy per epoch, not one per step

    def loss(self, b: int):
        on_dev = self.fit.pixels.device == self.runtime.device
        idx = (self.perm_dev if on_dev else self.perm)[b * self.bs:(b + 1) * self.bs]
        batch = self.task.batch(self.fit, idx, self.feed, self.augment, self.g_dev)
        with self.runtime.autocast():
            loss, parts = self.task.loss(self.train_model, batch)
        return loss, int(idx.shape[0]) * self.runtime.world_size, parts

    def evaluate(self) -> Evaluation:
        return evaluate_split(self.task, self.model, self.eval_enc, self.feed, self.eval_bs)

    def state(self):
        return {k: v.detach().clone() for k, v in self.model.state_dict().items()}

    def load_state(self, state) -> None:
        self.model.load_state_dict(state)


def _prepare(model, setup, ctx: RunContext):
    """(DDP-wrapped model for the steps, optimizer). Weights frozen now but trained later (two-step)
    are in the optimizer, and under DDP they are registered while trainable, then frozen again."""
    hp, runtime = ctx.hp, ctx.runtime
    named = list(model.named_parameters())
    frozen = [p for _, p in named if not p.requires_grad] if setup.optimize_frozen and runtime.distributed else []
    for p in frozen:
        p.requires_grad_(True)
    groups = param_groups(named, setup.head_prefix, hp["lr"], hp["head_lr_mult"], hp["weight_decay"],
                          include_frozen=setup.optimize_frozen)
    opt = runtime.adamw(groups, hp["lr"])
    train_model, opt = runtime.prepare(model, opt, find_unused=setup.optimize_frozen)
    for p in frozen:
        p.requires_grad_(False)
    return train_model, opt


def fit_network(model, ctx: RunContext) -> FitOutcome:
    """Trains on ``holdout.fit``; evaluates after every epoch on ``holdout.val`` (and keeps the best
    epoch by the task's selection key) or, without a validation subset, on the test split for the
    curves only (keeps the last); then evaluates the kept model on the test split."""
    import torch

    from tlweb.engine.accel import Normalizer

    cfg, hp, runtime, holdout, task = ctx.cfg, ctx.hp, ctx.runtime, ctx.holdout, ctx.task
    dev = runtime.device
    setup = ctx.strategy.setup(model, cfg, task.parts(model))
    model = setup.model
    channels_last = dev.type == "cuda" and is_cnn(model)
    model.to(dev)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    n_total = sum(p.numel() for p in model.parameters())
    train_model, opt = _prepare(model, setup, ctx)
    sched = make_scheduler(opt, hp["warmup_steps"], hp["total_steps"])
    unwrapped = runtime.unwrap(train_model)
    feed = Feed(runtime, ctx.processor, Normalizer(ctx.processor, dev), channels_last, list(ctx.data.class_names))
    loop_task = NetworkTask(train_model, unwrapped, ctx, feed)
    ctx.emit("start", total_steps=hp["total_steps"], message=start_message(
        cfg, hp, holdout, ctx.enc_test,
        extra=f"training {setup.trains} ({n_trainable / 1e6:.3g}M of {n_total / 1e6:.3g}M parameters)"))
    best = BestEpoch(select=holdout.selects, key=task.selection_key)
    extra = ctx.strategy.callbacks(cfg, hp) if ctx.strategy.callbacks else []
    callbacks = Callbacks([*extra, best, ProgressEvents(ctx.emit, EVENT_INTERVAL_S), *ctx.callbacks.items])
    freeze_frozen_bn(unwrapped)
    loop = Loop(loop_task, opt, sched, runtime, hp, callbacks,
                eval_split="validation" if holdout.selects else "test").run()
    model = unwrapped
    if setup.finish is not None:
        model = setup.finish(model)
    model.eval()
    feed.channels_last = False
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    enc_test = loop_task.eval_enc if not holdout.selects else on_device(ctx.enc_test, dev)
    test = evaluate_split(task, model, enc_test, feed, loop_task.eval_bs)
    return FitOutcome(model=model.cpu(), test=test, stopped=loop.stopped, best_epoch=best.best_epoch,
                      kept_epoch=best.kept_epoch, epoch=loop.step / loop.steps_per_epoch, step=loop.step,
                      extra={"train_s": loop.train_time})
