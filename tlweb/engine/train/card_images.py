"""The pictures of a model card, drawn with matplotlib into PNG files beside the model (a Space has no
browser for plotly's image export): the training curves, the confusion matrix, and a bar chart of any
per-class score (IoU, AP, F1).

Each function takes plain numbers read from the run folder (events.jsonl, metrics.json) and writes one
PNG; nothing here knows about the run's task beyond the names it is given. matplotlib is imported when
a picture is drawn, and only its object interface is used (``Figure``), so no global backend or pyplot
state is touched.
"""

from __future__ import annotations

import math
from pathlib import Path

DPI = 110
MAX_BARS = 40  # per-class bar charts: the lowest and highest scores beyond this many classes
MAX_MATRIX = 30  # confusion matrices: numbers in the cells up to this many classes
LOSS_COLOR, METRIC_COLOR, VAL_COLOR = "#4F46E5", "#059669", "#D97706"


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI)
    fig.patch.set_facecolor("white")
    return fig


def _save(fig, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, format="png", facecolor="white")
    return path


def _points(events: list[dict], key: str, x: str = "epoch") -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for e in events:
        v, at = e.get(key), e.get(x)
        if isinstance(v, (int, float)) and isinstance(at, (int, float)) and math.isfinite(v):
            xs.append(float(at))
            ys.append(float(v))
    return xs, ys


def curves(events: list[dict], path: Path, metric_label: str, *, sweep: bool = False) -> Path | None:
    """Training loss and the validation loss / metric per epoch (a network run), or the held-out loss
    and accuracy over C, the inverse regularisation strength (the linear probe's sweep, ``sweep``). None when
    the run left no point to draw."""
    steps = [e for e in events if e.get("kind") == "step"]
    evals = [e for e in events if e.get("kind") == "eval"]
    x = "C" if sweep else "epoch"
    xlabel = "C, inverse regularisation strength (log scale)" if sweep else "epoch"
    train_x, train_y = _points(steps, "train_loss", x)
    val_x, val_y = _points(evals, "val_loss", x)
    met_x, met_y = _points(evals, "val_metric", x)
    if not (train_x or val_x or met_x):
        return None
    split = next((e.get("eval_split") for e in evals if e.get("eval_split")), "validation")
    where = {"validation": "held-out images", "cross-validation": "cross-validation folds",
             "test": "test images (monitoring only)"}.get(split, split)
    fig = _figure(8.4, 3.3)
    ax = fig.add_subplot(1, 2, 1)
    if train_x:
        ax.plot(train_x, train_y, color=LOSS_COLOR, lw=1.2, label="training loss")
    if val_x:
        ax.plot(val_x, val_y, color=VAL_COLOR, lw=1.6, marker="o", ms=3, label=f"loss on {where}")
    ax.set(xlabel=xlabel, ylabel="cross-entropy loss (lower is better)" if sweep else "loss (lower is better)",
           title="Loss")
    ax.legend(fontsize=8, frameon=False)
    ax2 = fig.add_subplot(1, 2, 2)
    if met_x:
        ax2.plot(met_x, [v * 100 for v in met_y], color=METRIC_COLOR, lw=1.6, marker="o", ms=3)
    ax2.set(xlabel=xlabel, ylabel=f"{metric_label} (%)", title=f"{metric_label} on {where}")
    ax2.set_ylim(0, 100)
    for a in (ax, ax2):
        a.grid(alpha=0.3)
        if sweep:
            a.set_xscale("log")
    return _save(fig, path)


def confusion(matrix: list[list[int]], names: list[str], path: Path) -> Path | None:
    """The test split's confusion matrix: rows the true class, columns the predicted one, counts of images."""
    import numpy as np

    cm = np.asarray(matrix, dtype=float)
    k = len(names)
    if cm.ndim != 2 or cm.shape != (k, k) or k == 0:
        return None
    side = min(12.0, 2.2 + 0.42 * k)
    fig = _figure(side + 1.2, side)
    ax = fig.add_subplot(1, 1, 1)
    rows = cm.sum(axis=1, keepdims=True)
    share = np.divide(cm, rows, out=np.zeros_like(cm), where=rows > 0)
    im = ax.imshow(share * 100, cmap="Blues", vmin=0, vmax=100)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of the true class's test images (%)")
    ticks = range(k)
    small = max(5, 10 - k // 6)
    ax.set_xticks(list(ticks), [str(n)[:18] for n in names], rotation=45 if k > 4 else 0, ha="right" if k > 4 else "center",
                  fontsize=small)
    ax.set_yticks(list(ticks), [str(n)[:18] for n in names], fontsize=small)
    ax.set(xlabel="predicted class", ylabel="true class", title="Confusion matrix on the test images (counts)")
    if k <= MAX_MATRIX:
        for i in range(k):
            for j in range(k):
                ax.text(j, i, f"{int(cm[i, j])}", ha="center", va="center", fontsize=small,
                        color="white" if share[i, j] > 0.6 else "#111827")
    return _save(fig, path)


def per_class(scores: dict, path: Path, label: str, title: str) -> Path | None:
    """Horizontal bars of one score per class (0..1, drawn in %); classes without a score (None: the
    class never occurs in the test images) are listed as "n/a". Beyond :data:`MAX_BARS` classes, the
    lowest and the highest scores."""
    items = [(str(n), None if v is None else float(v)) for n, v in scores.items()]
    if not items:
        return None
    scored = sorted((i for i in items if i[1] is not None), key=lambda i: i[1])
    missing = [n for n, v in items if v is None]
    note = ""
    if len(scored) > MAX_BARS:
        half = MAX_BARS // 2
        note = f" (lowest and highest {half} of {len(scored)} classes)"
        scored = scored[:half] + scored[-half:]
    fig = _figure(7.0, min(14.0, 1.2 + 0.28 * max(1, len(scored))))
    ax = fig.add_subplot(1, 1, 1)
    names = [n[:24] for n, _ in scored]
    ax.barh(range(len(scored)), [v * 100 for _, v in scored], color=METRIC_COLOR)
    ax.set_yticks(range(len(scored)), names, fontsize=8)
    ax.set_xlim(0, 100)
    ax.set(xlabel=f"{label} on the test images (%)", title=title + note)
    for y, (_, v) in enumerate(scored):
        ax.text(min(v * 100 + 1, 92), y, f"{v * 100:.1f}", va="center", fontsize=7)
    ax.grid(axis="x", alpha=0.3)
    if missing:
        fig.text(0.01, 0.005, f"n/a (not in the test images): {', '.join(missing[:8])}"
                 + (" …" if len(missing) > 8 else ""), fontsize=7, color="#6B7280")
    return _save(fig, path)
