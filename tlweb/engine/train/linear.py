"""The linear probe: the frozen backbone's head inputs computed once (the shared feature cache of
:mod:`tlweb.engine.features`), then the linear head of :mod:`tlweb.engine.head` fitted on those
vectors and copied into the model.

The head is scikit-learn's L2-regularised multinomial logistic regression, solved by L-BFGS, the
same head and the same rule as the Embeddings tab's leaderboard (one cache entry serves both):

- every class has at least ``head.MIN_PER_CLASS_FOR_HOLDOUT`` training images: ``head.HOLDOUT_FRACTION``
  of each class is held out (:func:`tlweb.engine.head.holdout_split`), the regularization C with the
  lowest held-out loss is chosen, then the head is refitted on all the training images;
- fewer: C is chosen by stratified cross-validation on the training images, then the head is
  fitted on all of them — no image is taken away from a small training set.

The run reports the C sweep as its curve: one "step" event (training loss + L2 term) and one
"eval" event (held-out or cross-validated loss and accuracy) per C, with ``C`` set and ``epoch`` /
``step`` counting the sweep's points. Stop is checked between two values of C; the head of the
best C so far is kept.
"""

from __future__ import annotations

import time

from tlweb.engine.train.context import FitOutcome, RunContext
from tlweb.engine.train.holdout import Holdout, head_holdout
from tlweb.engine.train.model import is_cnn
from tlweb.engine.train.tasks.classification import ClassificationTask


def holdout(enc_train, class_names: list[str], seed: int) -> Holdout:
    """The linear probe's hold-out (:func:`tlweb.engine.train.holdout.head_holdout`): C chosen on it,
    then the head refitted on every training image."""
    return head_holdout(enc_train, class_names, seed)


def start_message(ctx: RunContext) -> str:
    holdout, n_test = ctx.holdout, len(ctx.enc_test)
    if holdout.selects:
        sizes = (f"{holdout.n_train} train ({holdout.n_val} of them held out to choose C, then refitted on all) / "
                 f"{n_test} test images")
    else:
        from collections import Counter

        from tlweb.engine import head

        smallest = min(Counter(ctx.enc_train.targets.tolist()).values())
        how = (f"C = {head.DEFAULT_C:g} by default (a class has a single image: no cross-validation possible)"
               if smallest < 2 else f"C by {min(head.MAX_FOLDS, smallest)}-fold cross-validation on them")
        sizes = (f"{holdout.n_train} train / {n_test} test images, none held out (fewer than "
                 f"{head.MIN_PER_CLASS_FOR_HOLDOUT} in a class): {how}, then fitted on all")
    hp = ctx.hp
    parts = [ctx.cfg.strategy, sizes, f"L2 logistic regression by L-BFGS over {len(hp['C_grid'])} values of C",
             f"{hp['device']} {hp['precision']}", "computing features once"]
    if hp.get("ignored"):
        parts.append("epochs, batch size and learning rate do not apply to the linear probe")
    return " · ".join(parts)


def _fresh_head_outcome(model, lin, labels, feat_s: float) -> FitOutcome:
    """Stopped before any head was fitted: the model keeps its fresh head."""
    import torch

    with torch.no_grad():
        logits = torch.zeros(len(labels), lin.in_features) @ lin.weight.detach().float().T
        if lin.bias is not None:
            logits = logits + lin.bias.detach().float()
    return FitOutcome(model, ClassificationTask.from_logits(logits, labels), stopped=True, best_epoch=None,
                      kept_epoch=None, epoch=0.0, step=0, extra={"features_s": feat_s})


def sweep_events(ctx: RunContext, total: int, note: str):
    """``on_eval`` for :func:`tlweb.engine.head.fit_head`: each C tried becomes a step event (the
    training loss with its L2 term) and an eval event (held-out or cross-validated loss, accuracy)."""
    state = {"note": note}

    def on_eval(p: dict) -> None:
        split = "validation" if p["split"] == "validation" else "cross-validation"
        where = "held-out images" if split == "validation" else "cross-validation folds"
        parts = [f"C = {p['C']:.3g} ({p['step']}/{total})", f"{where}: loss {p['val_loss']:.3f}",
                 f"accuracy {p['val_accuracy'] * 100:.1f}%", f"{p['iterations']} L-BFGS iterations"]
        if state["note"]:
            parts.append(state["note"])
            state["note"] = ""
        common = {"epoch": float(p["step"]), "step": int(p["step"]), "total_steps": total, "C": float(p["C"])}
        ctx.emit("step", train_loss=p["train_loss"], **common)
        ctx.emit.evaluation(p["val_accuracy"], p["val_loss"], eval_split=split, message=" · ".join(parts), **common)

    return on_eval


def fit_linear(model, ctx: RunContext) -> FitOutcome:
    """Features of the whole training split and of the test split (one cache entry each, shared with
    the leaderboard and the projector), the head fitted by :func:`tlweb.engine.head.fit_head` on the
    hold-out of :func:`tlweb.engine.train.holdout.head_holdout`, copied into the model."""
    import torch

    from tlweb.engine.features import Backbone, find_head, split_features
    from tlweb.engine.head import fit_head

    cfg, runtime, holdout = ctx.cfg, ctx.runtime, ctx.holdout
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    ctx.emit("start", total_steps=ctx.hp["total_steps"], message=start_message(ctx))
    stopped = {"hit": False}

    def stop() -> bool:
        stopped["hit"] = stopped["hit"] or ctx.stop()
        return stopped["hit"]

    t_feat = time.perf_counter()
    backbone = Backbone.loaded(ctx.spec, model, ctx.processor, ctx.settings)
    f_train = split_features(ctx.data, "train", backbone, runtime, ctx.settings, should_stop=stop)
    f_test = None if f_train is None else split_features(ctx.data, "test", backbone, runtime, ctx.settings,
                                                         should_stop=stop)
    feat_s = time.perf_counter() - t_feat
    model = model.cpu()
    if runtime.device.type == "cuda" and is_cnn(model):
        model.to(memory_format=torch.contiguous_format)
    _, lin, _ = find_head(model)
    if f_train is None or f_test is None:
        return _fresh_head_outcome(model, lin, ctx.enc_test.targets, feat_s)
    x, y = f_train.features, f_train.labels
    cached = f_train.cached and f_test.cached
    note = "features from the cache (no forward pass)" if cached else f"features computed in {feat_s:.1f} s"
    on_eval = sweep_events(ctx, ctx.hp["total_steps"], note)
    common = {"seed": cfg.seed, "device": runtime.device, "on_eval": on_eval, "should_stop": stop}
    if holdout.selects:
        head = fit_head(x[holdout.fit_idx], y[holdout.fit_idx], lin.out_features, val_features=x[holdout.val_idx],
                        val_labels=y[holdout.val_idx], refit=True, **common)
    else:
        head = fit_head(x, y, lin.out_features, **common)
    if head is None:
        return _fresh_head_outcome(model, lin, ctx.enc_test.targets, feat_s)
    with torch.no_grad():
        lin.weight.copy_(head.weight.to(lin.weight.dtype))
        if lin.bias is not None:
            lin.bias.copy_(head.bias.to(lin.bias.dtype))
    points = len(head.history)
    kept = f"kept the head with {head.selection}"
    test = ClassificationTask.from_logits(head.logits(f_test.features), ctx.enc_test.targets)
    return FitOutcome(model, test, stopped=stopped["hit"], best_epoch=None, kept_epoch=None,
                      epoch=float(points), step=points,
                      extra={"features_s": feat_s, "head_s": head.seconds, "features_cached": cached,
                             "selection": head.selection, "kept": kept, "head": head.as_dict()})
