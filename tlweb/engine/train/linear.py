"""The linear probe: the frozen backbone's head inputs computed once (cached on disk), then a linear
head fitted on those vectors and copied into the model.

The head fit sits behind one function, :func:`fit_head` (features, labels, evaluation features →
weights, bias, kept epoch), which reports through the same callbacks as the network loop; another
fitter (closed form, L-BFGS, scikit-learn-compatible) can replace it there.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from tlweb.engine.data import PreparedData, encode_split
from tlweb.engine.train.callbacks import BestEpoch, Callbacks, ProgressEvents
from tlweb.engine.train.config import EVENT_INTERVAL_S
from tlweb.engine.train.holdout import start_message
from tlweb.engine.train.loop import Loop, LoopTask, make_scheduler
from tlweb.engine.train.model import is_cnn
from tlweb.engine.train.network import FitOutcome, RunContext

EVAL_POINTS = 25  # about this many evaluations whatever the epochs


def features(model, spec, data: PreparedData, split: str, enc, processor, runtime, settings, stop, channels_last):
    """Head-input vectors for a split, cached on disk; a subsample indexes the full set's."""
    import torch

    from tlweb.engine.accel import Normalizer
    from tlweb.engine.data import processor_geometry
    from tlweb.engine.features import cached_features, extract, model_identity

    if data.base is not None:
        base_enc = encode_split(data.base, split, processor, settings)
        full = features(model, spec, data.base, split, base_enc, processor, runtime, settings, stop, channels_last)
        if full is None:
            return None
        if split != "train":
            return full
        pos = {r: i for i, r in enumerate(base_enc.rows)}
        idx = torch.tensor([pos[data.train_rows[r]] for r in enc.rows], dtype=torch.long)
        return full[idx]
    key = {"model": model_identity(spec), "data": data.fingerprint(), "split": split,
           "geometry": processor_geometry(processor), "precision": runtime.precision, "n": len(enc), "v": 1}
    normalizer = Normalizer(processor, runtime.device)
    bs = 256 if runtime.device.type == "cuda" else 64

    def compute():
        return extract(model, enc.pixels, normalizer, runtime, batch_size=bs, should_stop=stop,
                       channels_last=channels_last)

    feats, _hit = cached_features(key, compute, settings)
    return feats


@dataclass
class HeadFit:
    weight: object  # [classes, dim] float CPU, for the raw (unstandardised) features
    bias: object  # [classes]
    stopped: bool
    best_epoch: float | None
    kept_epoch: float
    epoch: float
    step: int
    train_s: float


class HeadTask(LoopTask):
    """Batches of standardised feature vectors through a zero-initialised ``nn.Linear``."""

    def __init__(self, x, y, x_eval, y_eval, num_classes: int, hp: dict, device, seed: int):
        import torch

        self.x, self.y, self.x_eval, self.y_eval = x, y, x_eval, y_eval
        self.model = torch.nn.Linear(x.shape[1], num_classes).to(device)
        torch.nn.init.zeros_(self.model.weight)
        torch.nn.init.zeros_(self.model.bias)
        self.bs, self.spe = hp["batch_size"], hp["steps_per_epoch"]
        self.g = torch.Generator(device=device).manual_seed(seed)
        self.perm = None

    def start_epoch(self, epoch: int) -> None:
        import torch

        self.perm = torch.randperm(self.x.shape[0], device=self.x.device, generator=self.g) if self.spe > 1 else None

    def loss(self, b: int):
        import torch.nn.functional as F

        if self.perm is None:
            xb, yb = self.x, self.y
        else:
            idx = self.perm[b * self.bs:(b + 1) * self.bs]
            xb, yb = self.x[idx], self.y[idx]
        return F.cross_entropy(self.model(xb), yb), xb.shape[0]

    def evaluate(self) -> tuple[float, float]:
        import torch
        import torch.nn.functional as F

        with torch.no_grad():
            logits = self.model(self.x_eval)
            return float(F.cross_entropy(logits, self.y_eval)), float((logits.argmax(-1) == self.y_eval).float().mean())

    def state(self):
        return self.model.weight.detach().clone(), self.model.bias.detach().clone()

    def load_state(self, state) -> None:
        import torch

        with torch.no_grad():
            self.model.weight.copy_(state[0])
            self.model.bias.copy_(state[1])


def fit_head(x_fit, y_fit, x_eval, y_eval, num_classes: int, hp: dict, runtime, callbacks: Callbacks,
             select: bool, seed: int = 0) -> HeadFit:
    """A linear head on feature vectors (AdamW, cosine schedule, ~25 evaluations on ``x_eval``; the
    best evaluation's weights kept when ``select``, else the last). The features are standardised
    inside; the weights returned apply to the raw features."""
    dev = runtime.device
    mu = x_fit.mean(0)
    sd = x_fit.std(0, unbiased=False).clamp_min(1e-6)
    task = HeadTask(((x_fit - mu) / sd).to(dev), y_fit.to(dev), ((x_eval - mu) / sd).to(dev), y_eval.to(dev),
                    num_classes, hp, dev, seed)
    opt = runtime.adamw([{"params": [task.model.weight], "weight_decay": hp["weight_decay"]},
                         {"params": [task.model.bias], "weight_decay": 0.0}], hp["lr"])
    sched = make_scheduler(opt, hp["warmup_steps"], hp["total_steps"])
    best = BestEpoch(select=select)
    loop = Loop(task, opt, sched, runtime, hp, Callbacks([best, *callbacks.items]),
                eval_split="validation" if select else "test", eval_points=EVAL_POINTS).run()
    W, b = task.model.weight.detach().float().cpu(), task.model.bias.detach().float().cpu()
    mu, sd = mu.cpu(), sd.cpu()
    return HeadFit(weight=W / sd, bias=b - (W * (mu / sd)).sum(1), stopped=loop.stopped, best_epoch=best.best_epoch,
                   kept_epoch=best.kept_epoch, epoch=loop.step / loop.steps_per_epoch, step=loop.step,
                   train_s=loop.train_time)


def head_logits(W, b, feats):
    out = feats.float() @ W.float().T
    return out + b.float() if b is not None else out


def fit_linear(model, ctx: RunContext) -> FitOutcome:
    """Features for the whole training split (one cache entry whatever the hold-out), indexed into
    the images trained on and the validation ones; the fitted head is copied into the model."""
    import torch

    from tlweb.engine.features import find_head

    cfg, hp, runtime, holdout, enc_test = ctx.cfg, ctx.hp, ctx.runtime, ctx.holdout, ctx.enc_test
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    channels_last = runtime.device.type == "cuda" and is_cnn(model)
    model.to(runtime.device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    ctx.emit("start", total_steps=hp["total_steps"],
             message=start_message(cfg, hp, holdout, enc_test, extra="computing features once"))
    t_feat = time.perf_counter()
    args = (ctx.processor, runtime, ctx.settings, ctx.stop, channels_last)
    f_train = features(model, ctx.spec, ctx.data, "train", ctx.enc_train, *args)
    f_test = None if f_train is None else features(model, ctx.spec, ctx.data, "test", enc_test, *args)
    feat_s = time.perf_counter() - t_feat
    model = model.cpu()
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    _, lin, _ = find_head(model)
    if f_train is None or f_test is None:  # stopped while computing features: keep the fresh head
        bias = lin.bias.detach() if lin.bias is not None else None
        logits = head_logits(lin.weight.detach(), bias, torch.zeros(len(enc_test), lin.in_features))
        return FitOutcome(model, logits, stopped=True, best_epoch=None, kept_epoch=None, epoch=0.0, step=0)
    if holdout.selects:  # per-epoch evaluation and the choice of the head on the validation vectors
        x_eval, y_eval = f_train[holdout.val_idx], holdout.val.labels
    else:  # too few images: no selection, the test vectors only draw the curves
        x_eval, y_eval = f_test, enc_test.labels
    progress = ProgressEvents(ctx.emit, EVENT_INTERVAL_S, first_eval_note=f"features computed in {feat_s:.1f} s")
    fit = fit_head(f_train[holdout.fit_idx], holdout.fit.labels, x_eval, y_eval, lin.out_features, hp, runtime,
                   Callbacks([progress, *ctx.callbacks.items]), select=holdout.selects, seed=cfg.seed)
    with torch.no_grad():
        lin.weight.copy_(fit.weight.to(lin.weight.dtype))
        if lin.bias is not None:
            lin.bias.copy_(fit.bias.to(lin.bias.dtype))
    return FitOutcome(model, head_logits(fit.weight, fit.bias, f_test.cpu()), stopped=fit.stopped,
                      best_epoch=fit.best_epoch, kept_epoch=round(fit.kept_epoch, 3), epoch=fit.epoch, step=fit.step,
                      extra={"train_s": fit.train_s, "features_s": feat_s})
