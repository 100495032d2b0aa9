"""The linear head on frozen features: multinomial logistic regression, as good as the reference.

The objective is scikit-learn's ``LogisticRegression`` (multinomial, L2 on the weights, intercept
not penalised) — mean cross-entropy + ``||W||² / (2·C·n)`` has the same minimiser as
``C·Σ cross-entropy + ||W||² / 2`` — solved by full-batch L-BFGS with a strong-Wolfe line search in
torch, on whatever device the features are (CPU or GPU), on standardised features. Each ``C`` of
the grid starts from the previous solution (strongest regularisation first), so the sweep costs a
few full fits.

How ``C`` is chosen (no test image decides anything):

- **held-out images** given (``val_features``): the ``C`` with the lowest validation log-loss (then
  the best validation accuracy). The loss rather than the accuracy: on a few hundred held-out
  images accuracy moves in steps of one image and ties across many ``C``, so the choice would hinge
  on rounding; the loss is smooth (the same choice as the reference solver's), and once it has risen
  for :data:`PATIENCE` values of ``C`` in a row the sweep stops — the weakly regularised fits are the
  slowest;
- **cross-validation** otherwise (stratified folds over the training images, ``min(5, smallest
  class)`` of them) — the policy of :func:`auto_head` below :data:`MIN_PER_CLASS_FOR_HOLDOUT`
  images per class, so no validation images are taken away from a small training set; then the head
  is refitted on all the training images;
- with one image in some class, folds are impossible: ``C = DEFAULT_C``, said in ``selection``.

The returned :class:`LinearHead` maps raw (unstandardised) features: ``x @ weight.T + bias``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

CS = tuple(10.0 ** (k / 2) for k in range(-8, 7))  # 1e-4 … 1e3, half-decade steps
DEFAULT_C = 1.0
MIN_PER_CLASS_FOR_HOLDOUT = 10  # below it: C by cross-validation on the training images, refit on all
HOLDOUT_FRACTION = 0.2  # of each class, when auto_head holds images out
MAX_FOLDS = 5
MAX_ITER = 300
SMALL = 4_000_000  # features × dimensions: below it a CPU fit runs on one thread (faster than a thread pool)
PATIENCE = 3  # stop the sweep after this many C values without a lower validation loss


@dataclass
class LinearHead:
    weight: object  # torch.float32 [classes, dim] on the CPU, for raw features
    bias: object  # torch.float32 [classes]
    C: float
    selection: str  # how C was chosen, in words
    history: list[dict] = field(default_factory=list)  # one dict per C tried
    fit_images: int = 0  # images the final head was fitted on
    val_images: int = 0  # held-out images that chose C (0 with cross-validation)
    folds: int = 0
    seconds: float = 0.0

    @property
    def how(self) -> str:
        """How C was chosen, in a few words."""
        if self.val_images:
            return f"{self.val_images} held out"
        return f"{self.folds}-fold CV" if self.folds else "default"

    def logits(self, features):
        import torch

        x = torch.as_tensor(features).float().cpu()
        return x @ self.weight.T + self.bias

    def predict(self, features):
        return self.logits(features).argmax(-1)

    def as_dict(self) -> dict:
        return {"C": self.C, "selection": self.selection, "how": self.how, "fit_images": self.fit_images,
                "val_images": self.val_images, "folds": self.folds, "seconds": round(self.seconds, 4),
                "history": self.history}


def _standardizer(x):
    mu = x.mean(0)
    sd = x.std(0, unbiased=False).clamp_min(1e-6)
    return mu, sd


def lbfgs_fit(x, y, num_classes: int, C: float, init=None, max_iter: int = MAX_ITER):
    """(W [K,D], b [K], final loss, iterations) minimising mean CE + ||W||²/(2·C·n) on ``x``."""
    import torch
    import torch.nn.functional as F

    n, d = x.shape
    if init is None:
        W = torch.zeros(num_classes, d, device=x.device, dtype=x.dtype)
        b = torch.zeros(num_classes, device=x.device, dtype=x.dtype)
    else:
        W, b = (t.detach().clone() for t in init)
    W.requires_grad_(True)
    b.requires_grad_(True)
    lam = 1.0 / (C * n)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=max_iter, max_eval=int(max_iter * 1.25), history_size=20,
                            tolerance_grad=1e-6, tolerance_change=1e-10, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(x @ W.T + b, y) + 0.5 * lam * (W * W).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    iters = int(opt.state[opt._params[0]].get("n_iter", 0))
    with torch.no_grad():
        loss = F.cross_entropy(x @ W.T + b, y) + 0.5 * lam * (W * W).sum()
    return W.detach(), b.detach(), float(loss), iters


def _evaluate(W, b, x, y) -> tuple[int, float]:
    """(correct predictions, summed cross-entropy) of a head on standardised features."""
    import torch
    import torch.nn.functional as F

    with torch.no_grad():
        logits = x @ W.T + b
        return int((logits.argmax(-1) == y).sum()), float(F.cross_entropy(logits, y, reduction="sum"))


def stratified_folds(labels, k: int, seed: int = 0) -> list[list[int]]:
    """``k`` folds of positions, each class spread evenly over them (deterministic for a seed)."""
    import numpy as np

    arr = np.asarray(labels, dtype=np.int64)
    rng = np.random.default_rng(seed)
    folds: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for c in np.unique(arr):
        idx = rng.permutation(np.flatnonzero(arr == c))
        for j, i in enumerate(idx):
            folds[(j + offset) % k].append(int(i))
        offset += len(idx)  # the next class starts where this one ended: fold sizes stay even
    return [sorted(f) for f in folds]


@contextlib.contextmanager
def _cpu_threads(x):
    """One torch thread for a small problem on the CPU: a pool's synchronisation costs more than
    it saves there (and far more on a busy machine). Restored afterwards."""
    import torch

    if x.device.type != "cpu" or x.numel() > SMALL:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _prepare(features, labels, device):
    import torch

    x = torch.as_tensor(features).float()
    y = torch.as_tensor(labels).long()
    dev = torch.device(device) if device is not None else x.device
    return x.to(dev), y.to(dev)


def fit_head(features, labels, num_classes: int | None = None, *, val_features=None, val_labels=None,
             folds: int | None = None, seed: int = 0, Cs=CS, device=None,
             on_eval: Callable[[dict], None] | None = None, should_stop: Callable[[], bool] | None = None,
             refit: bool = False, max_iter: int = MAX_ITER) -> LinearHead | None:
    """Fit the linear head, choosing ``C`` on ``val_features`` when given, else by ``folds``-fold
    stratified cross-validation on ``features`` (``None``: ``min(5, smallest class)``).

    ``on_eval`` gets one dict per ``C`` tried: ``{"step", "total", "C", "val_accuracy",
    "val_loss", "train_loss", "iterations", "split"}`` ("validation" | "cross-validation").
    ``refit`` (held-out case): refit on training + validation images with the chosen ``C``.
    Returns None when ``should_stop()`` turned true before any ``C`` was tried.
    """
    x, y = _prepare(features, labels, device)
    with _cpu_threads(x):
        return _fit_head(x, y, num_classes, val_features, val_labels, folds, seed, Cs, on_eval, should_stop, refit,
                         max_iter)


def _fit_head(x, y, num_classes, val_features, val_labels, folds, seed, Cs, on_eval, should_stop, refit,
              max_iter) -> LinearHead | None:
    import torch

    t0 = time.perf_counter()
    k_classes = int(num_classes or (int(y.max()) + 1))
    stop = should_stop or (lambda: False)
    counts = torch.bincount(y, minlength=k_classes)
    present = counts[counts > 0]
    Cs = [float(c) for c in Cs]
    if val_features is not None:
        xv, yv = _prepare(val_features, val_labels, x.device)
        splits = [(x, y, xv, yv)]
        how = "validation"
    else:
        n_folds = int(folds) if folds else min(MAX_FOLDS, int(present.min()) if len(present) else 0)
        n_folds = min(n_folds, int(present.min()) if len(present) else 0)
        if n_folds < 2:
            return _final(x, y, k_classes, DEFAULT_C, f"C = {DEFAULT_C:g} by default (a class has a single training "
                          "image: no cross-validation possible)", [], 0, 0, t0, max_iter)
        parts = stratified_folds(y.cpu().tolist(), n_folds, seed)
        splits = []
        for i in range(n_folds):
            val_idx = torch.tensor(parts[i], dtype=torch.long, device=x.device)
            mask = torch.ones(len(y), dtype=torch.bool, device=x.device)
            mask[val_idx] = False
            splits.append((x[mask], y[mask], x[val_idx], y[val_idx]))
        how = "cross-validation"
    standardized = []
    for xf, yf, xv_, yv_ in splits:
        mu, sd = _standardizer(xf)
        standardized.append(((xf - mu) / sd, yf, (xv_ - mu) / sd, yv_))
    history: list[dict] = []
    inits: list = [None] * len(standardized)
    best = None
    since_best = 0
    for step, C in enumerate(Cs, start=1):
        if stop():
            break
        correct = total = 0
        loss_sum = train_loss = 0.0
        iters = 0
        for j, (xf, yf, xv_, yv_) in enumerate(standardized):
            W, b, tl, it = lbfgs_fit(xf, yf, k_classes, C, inits[j], max_iter)
            inits[j] = (W, b)
            c, ls = _evaluate(W, b, xv_, yv_)
            correct += c
            total += len(yv_)
            loss_sum += ls
            train_loss += tl / len(standardized)
            iters += it
        point = {"step": step, "total": len(Cs), "C": C, "val_accuracy": correct / max(total, 1),
                 "val_loss": loss_sum / max(total, 1), "train_loss": train_loss, "iterations": iters, "split": how}
        history.append(point)
        if on_eval is not None:
            on_eval(dict(point))
        key = (-point["val_loss"], point["val_accuracy"])
        if best is None or key > best[0]:
            best, since_best = (key, C, inits[0]), 0
        else:
            since_best += 1
            if since_best >= PATIENCE:
                break
    if best is None:
        return None
    chosen = best[1]
    if how == "validation":
        n_val = len(splits[0][3])
        if refit:
            xa, ya = torch.cat([x, splits[0][2]]), torch.cat([y, splits[0][3]])
            return _final(xa, ya, k_classes, chosen, f"C = {chosen:g} chosen on {n_val} held-out images, refitted "
                          "on all", history, n_val, 0, t0, max_iter)
        return _final(x, y, k_classes, chosen, f"C = {chosen:g} chosen on {n_val} held-out images", history,
                      n_val, 0, t0, max_iter)
    n_folds = len(splits)
    return _final(x, y, k_classes, chosen, f"C = {chosen:g} chosen by {n_folds}-fold cross-validation on the "
                  "training images, then fitted on all of them", history, 0, n_folds, t0, max_iter)


def _final(x, y, k_classes: int, C: float, selection: str, history, n_val: int, n_folds: int, t0: float,
           max_iter: int) -> LinearHead:
    """The head with the chosen C on (x, y), mapped back to raw features."""
    mu, sd = _standardizer(x)
    W, b, _, _ = lbfgs_fit((x - mu) / sd, y, k_classes, C, None, max_iter)
    W_raw = (W / sd).float().cpu()
    b_raw = (b - (W * (mu / sd)).sum(1)).float().cpu()
    return LinearHead(W_raw, b_raw, float(C), selection, history, fit_images=len(y), val_images=n_val,
                      folds=n_folds, seconds=time.perf_counter() - t0)


def auto_head(features, labels, num_classes: int | None = None, *, seed: int = 0, device=None, on_eval=None,
              should_stop=None, Cs=CS, max_iter: int = MAX_ITER) -> LinearHead | None:
    """The leaderboard's policy: with at least :data:`MIN_PER_CLASS_FOR_HOLDOUT` images in every
    class, hold out :data:`HOLDOUT_FRACTION` of each class to choose ``C`` and refit on all; with
    fewer, choose ``C`` by cross-validation on the training images and fit on all of them."""
    import torch

    from tlweb.engine.data import stratified_split

    y = torch.as_tensor(labels).long()
    k = int(num_classes or (int(y.max()) + 1))
    counts = torch.bincount(y, minlength=k)
    present = counts[counts > 0]
    if len(present) and int(present.min()) >= MIN_PER_CLASS_FOR_HOLDOUT:
        fit_pos, val_pos = stratified_split(y.tolist(), k, HOLDOUT_FRACTION, seed)
        x = torch.as_tensor(features).float()
        fi, vi = torch.tensor(fit_pos), torch.tensor(val_pos)
        return fit_head(x[fi], y[fi], k, val_features=x[vi], val_labels=y[vi], seed=seed, Cs=Cs, device=device,
                        on_eval=on_eval, should_stop=should_stop, refit=True, max_iter=max_iter)
    return fit_head(features, y, k, seed=seed, Cs=Cs, device=device, on_eval=on_eval, should_stop=should_stop,
                    max_iter=max_iter)
