"""Network strategies (partial, full, two-step, LoRA, scratch): batches of decoded images through
the model, on the device, with augmentation and normalisation there; one :class:`Loop`."""

from __future__ import annotations

from dataclasses import dataclass, field

from tlweb.engine.train.callbacks import BestEpoch, Callbacks, ProgressEvents
from tlweb.engine.train.config import EVENT_INTERVAL_S
from tlweb.engine.train.holdout import start_message
from tlweb.engine.train.loop import Loop, LoopTask, make_scheduler
from tlweb.engine.train.model import is_cnn
from tlweb.engine.train.plan import param_groups


@dataclass
class RunContext:
    """Everything a fit needs besides the model (built once per run by :func:`finetune`)."""

    cfg: object  # TrainConfig
    strategy: object  # Strategy
    spec: object
    processor: object
    data: object  # PreparedData
    enc_train: object
    enc_test: object
    holdout: object  # Holdout
    hp: dict
    runtime: object
    settings: object
    emit: object  # Emitter
    callbacks: Callbacks

    def stop(self) -> bool:
        return self.callbacks.should_stop(None)


@dataclass
class FitOutcome:
    model: object
    test_logits: object  # float CPU [n_test, classes]
    stopped: bool
    best_epoch: float | None
    kept_epoch: float | None
    epoch: float
    step: int
    extra: dict = field(default_factory=dict)


def freeze_frozen_bn(model) -> None:
    """BatchNorm layers whose weights are frozen keep their running statistics too."""
    import torch.nn as nn

    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters())
            if params and not any(p.requires_grad for p in params):
                m.eval()


def evaluate(model, pixels, labels, normalizer, runtime, channels_last: bool, batch_size: int):
    """(mean loss, accuracy, logits float CPU) on uint8 images, no augmentation."""
    import torch
    import torch.nn.functional as F

    was = model.training
    model.eval()
    outs = []
    with torch.inference_mode():
        for i in range(0, pixels.shape[0], batch_size):
            x = normalizer(pixels[i:i + batch_size].to(runtime.device, non_blocking=True))
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with runtime.autocast():
                outs.append(model(pixel_values=x).logits.float().cpu())
    model.train(was)
    logits = torch.cat(outs)
    loss = float(F.cross_entropy(logits, labels))
    acc = float((logits.argmax(-1) == labels).float().mean())
    return loss, acc, logits


def to_device_if_fits(pixels, dev):
    """The decoded images on the GPU when they take under a quarter of its free memory, else pinned."""
    import torch

    if dev.type != "cuda":
        return pixels
    try:
        free, _total = torch.cuda.mem_get_info(dev)
    except Exception:  # noqa: BLE001
        return pixels.pin_memory()
    if pixels.numel() < 0.25 * free:
        return pixels.to(dev, non_blocking=True)
    return pixels.pin_memory()


class NetworkTask(LoopTask):
    """Image batches through the (maybe DDP-wrapped) model: this process's shard of a seeded shuffle,
    augmented and normalised on the device, bf16 autocast on CUDA."""

    def __init__(self, train_model, model, ctx: RunContext, channels_last: bool):
        import torch

        from tlweb.engine.accel import Normalizer

        runtime, hp, holdout = ctx.runtime, ctx.hp, ctx.holdout
        dev = runtime.device
        self.train_model, self.model, self.runtime = train_model, model, runtime
        self.channels_last = channels_last
        self.augment = hp["augment"]
        self.bs = hp["batch_size"]
        self.normalizer = Normalizer(ctx.processor, dev)
        self.x_train = to_device_if_fits(holdout.fit.pixels, dev)
        self.y_train = holdout.fit.labels.to(dev)
        if holdout.selects:
            self.x_eval, self.y_eval = to_device_if_fits(holdout.val.pixels, dev), holdout.val.labels
        else:  # too few images: the test split only draws the curves
            self.x_eval, self.y_eval = None, ctx.enc_test.labels
        self.eval_bs = max(self.bs, 256 if dev.type == "cuda" else 64)
        self.g_cpu = torch.Generator().manual_seed(ctx.cfg.seed)
        self.g_dev = torch.Generator(device=dev).manual_seed(ctx.cfg.seed + 1)
        self.perm = self.perm_dev = None

    def start_epoch(self, epoch: int) -> None:
        import torch

        self.train_model.train()
        freeze_frozen_bn(self.model)
        world, rank = self.runtime.world_size, self.runtime.rank
        n = self.x_train.shape[0]
        perm = torch.randperm(n, generator=self.g_cpu)  # same on every process (same seed)
        per_proc = n // world
        self.perm = perm[rank * per_proc:(rank + 1) * per_proc] if world > 1 else perm
        self.perm_dev = self.perm.to(self.runtime.device)  # one small copy per epoch, not one per step

    def loss(self, b: int):
        import torch
        import torch.nn.functional as F

        from tlweb.engine.accel import augment

        dev, bs = self.runtime.device, self.bs
        idx = self.perm_dev[b * bs:(b + 1) * bs]
        if self.x_train.device != dev:  # images stayed in (pinned) host memory
            xb = self.x_train[self.perm[b * bs:(b + 1) * bs]].to(dev, non_blocking=True)
        else:
            xb = self.x_train[idx]
        x = xb.float()
        if self.augment:
            x = augment(x, generator=self.g_dev)
        x = self.normalizer(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with self.runtime.autocast():
            logits = self.train_model(pixel_values=x).logits
        return F.cross_entropy(logits.float(), self.y_train[idx]), xb.shape[0] * self.runtime.world_size

    def evaluate(self) -> tuple[float, float]:
        loss, acc, _ = evaluate(self.model, self.x_eval, self.y_eval, self.normalizer, self.runtime,
                                self.channels_last, self.eval_bs)
        return loss, acc

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
    epoch) or, without a validation subset, on the test split for the curves only (keeps the last)."""
    import torch

    cfg, hp, runtime, holdout = ctx.cfg, ctx.hp, ctx.runtime, ctx.holdout
    dev = runtime.device
    setup = ctx.strategy.setup(model, cfg)
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
    task = NetworkTask(train_model, unwrapped, ctx, channels_last)
    if task.x_eval is None:
        task.x_eval = to_device_if_fits(ctx.enc_test.pixels, dev)
    ctx.emit("start", total_steps=hp["total_steps"], message=start_message(
        cfg, hp, holdout, ctx.enc_test,
        extra=f"training {setup.trains} ({n_trainable / 1e6:.3g}M of {n_total / 1e6:.3g}M parameters)"))
    best = BestEpoch(select=holdout.selects)
    extra = ctx.strategy.callbacks(cfg, hp) if ctx.strategy.callbacks else []
    callbacks = Callbacks([*extra, best, ProgressEvents(ctx.emit, EVENT_INTERVAL_S), *ctx.callbacks.items])
    freeze_frozen_bn(unwrapped)
    loop = Loop(task, opt, sched, runtime, hp, callbacks, eval_split="validation" if holdout.selects else "test").run()
    model = unwrapped
    if setup.finish is not None:
        model = setup.finish(model)
    model.eval()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    x_test = task.x_eval if not holdout.selects else to_device_if_fits(ctx.enc_test.pixels, dev)
    _, _, test_logits = evaluate(model, x_test, ctx.enc_test.labels, task.normalizer, runtime, False, task.eval_bs)
    return FitOutcome(model=model.cpu(), test_logits=test_logits, stopped=loop.stopped, best_epoch=best.best_epoch,
                      kept_epoch=best.kept_epoch, epoch=loop.step / loop.steps_per_epoch, step=loop.step,
                      extra={"train_s": loop.train_time})
