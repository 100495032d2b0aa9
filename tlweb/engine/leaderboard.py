"""Backbone leaderboard: which pretrained backbone suits *these* images, and at what cost.

2–8 backbones on the same stratified split of one dataset (any :func:`tlweb.engine.data.load_data`
source, per-class uploads, or the built-in sample). For each backbone:

- **linear-probe accuracy and macro-F1** on the test split: the head of :mod:`tlweb.engine.head`
  (``C`` chosen on held-out training images, or by cross-validation below 10 per class) on the
  cached features of :mod:`tlweb.engine.features`;
- **k-NN accuracy**: cosine, ``k`` by leave-one-out on the training images
  (:func:`tlweb.engine.embeddings.knn_accuracy`);
- **latency per image, parameters, GFLOPs** of the backbone without its head
  (:func:`tlweb.engine.features.model_facts`: the latency timed afresh on every run, the median of
  warm one-image passes; parameters and GFLOPs counted once), and the **feature time** (forward
  passes over both splits; the stored time when the features came from the cache).

An optional **zero-shot row** (:mod:`tlweb.engine.zeroshot`): a CLIP or SigLIP model classifies
the same test split from the class names alone — the "0 images per class" baseline.

The **Pareto front** holds the models no other model beats on both accuracy and latency; the
**best trade-off** is the fastest model on it whose accuracy is within one standard error (at
least 1 point) of the most accurate one. A model that fails keeps its row with the reason; the
others still run. Features are cached, so a second leaderboard on the same data runs no forward
pass over the data — only the few passes that time each model again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from tlweb.config import Settings, get_settings
from tlweb.engine.progress import run_with_progress
from tlweb.engine.zerogpu import TRAIN_CAP_S, gpu_task
from tlweb.errors import TlwebError, first_line

MIN_MODELS = 2
MAX_MODELS = 8


@dataclass
class LeaderboardRow:
    model: str  # as the user gave it
    name: str = ""  # display name
    kind: str = "backbone"  # "backbone" | "zero-shot"
    linear_accuracy: float | None = None
    linear_macro_f1: float | None = None
    linear_C: float | None = None
    linear_selection: str = ""
    linear_how: str = ""  # the same in a few words ("24 held out", "5-fold CV")
    knn_accuracy: float | None = None
    knn_k: int | None = None
    zero_shot_accuracy: float | None = None
    zero_shot_macro_f1: float | None = None
    templates: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    params: int | None = None
    gflops: float | None = None
    input_size: int | None = None
    feature_s: float | None = None
    head_s: float | None = None
    cached: bool = False  # features (and costs) came from the cache: no forward pass
    train_images: int = 0
    test_images: int = 0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def accuracy(self) -> float | None:
        """What the chart and the Pareto front use: linear probe, or zero-shot for that row."""
        return self.zero_shot_accuracy if self.kind == "zero-shot" else self.linear_accuracy

    def as_dict(self) -> dict:
        def r(x, nd=6):
            return None if x is None else round(float(x), nd)

        out = {"model": self.model, "name": self.name or self.model, "kind": self.kind,
               "linear_accuracy": r(self.linear_accuracy), "linear_macro_f1": r(self.linear_macro_f1),
               "linear_C": self.linear_C, "linear_selection": self.linear_selection, "linear_how": self.linear_how,
               "knn_accuracy": r(self.knn_accuracy), "knn_k": self.knn_k,
               "latency_ms": r(self.latency_ms, 4), "params": self.params, "gflops": r(self.gflops),
               "input_size": self.input_size, "feature_s": r(self.feature_s, 3), "head_s": r(self.head_s, 3),
               "cached": self.cached, "train_images": self.train_images, "test_images": self.test_images,
               "error": self.error}
        if self.kind == "zero-shot":
            out.update({"zero_shot_accuracy": r(self.zero_shot_accuracy), "zero_shot_macro_f1": r(self.zero_shot_macro_f1),
                        "templates": list(self.templates)})
        return out


@dataclass
class LeaderboardResult:
    rows: list[LeaderboardRow]
    class_names: list[str]
    train_images: int
    test_images: int
    test_from: str
    source: str
    device: str = ""
    precision: str = ""
    pareto: list[str] = field(default_factory=list)  # display names on the front, fastest first
    best: str | None = None  # the best trade-off's model (as given)
    best_sentence: str = ""
    elapsed_s: float = 0.0

    @property
    def ok_rows(self) -> list[LeaderboardRow]:
        return [r for r in self.rows if r.ok]

    def as_dict(self) -> dict:
        return {"rows": [r.as_dict() for r in self.rows], "best": self.best, "best_sentence": self.best_sentence,
                "pareto": list(self.pareto), "classes": list(self.class_names), "train_images": self.train_images,
                "test_images": self.test_images, "test_from": self.test_from, "data": self.source,
                "device": self.device, "precision": self.precision, "elapsed_s": round(self.elapsed_s, 3)}


@dataclass
class LeaderboardProgress:
    done: int  # models finished
    total: int
    message: str
    result: LeaderboardResult
    finished: bool = False


# --------------------------------------------------------------------------- Pareto front


def pareto_front(points: Sequence[tuple[str, float, float]]) -> list[str]:
    """Names of the (name, latency, accuracy) points that no other point beats on both counts
    (faster or as fast *and* more accurate), fastest first."""
    ordered = sorted(points, key=lambda p: (p[1], -p[2]))
    front, best_acc = [], -math.inf
    for name, _lat, acc in ordered:
        if acc > best_acc:
            front.append(name)
            best_acc = acc
    return front


def best_tradeoff(rows: Sequence[LeaderboardRow]) -> tuple[LeaderboardRow | None, str, list[str]]:
    """(best trade-off row, one sentence naming it, Pareto names)."""
    ok = [r for r in rows if r.ok and r.accuracy is not None and r.latency_ms is not None]
    if not ok:
        return None, "", []
    by_name = {r.name: r for r in ok}
    front = pareto_front([(r.name, r.latency_ms, r.accuracy) for r in ok])
    top = max(ok, key=lambda r: (r.accuracy, -r.latency_ms))
    n = max(top.test_images, 1)
    se = math.sqrt(max(top.accuracy * (1 - top.accuracy), 0.0) / n)
    tol = max(0.01, se)
    pick = next(by_name[name] for name in front if by_name[name].accuracy >= top.accuracy - tol)
    what = "zero-shot" if pick.kind == "zero-shot" else "linear-probe"
    acc = f"{pick.accuracy * 100:.1f}% {what} accuracy ({round(pick.accuracy * pick.test_images)}/{pick.test_images})"
    if pick is top:
        others = [r for r in ok if r is not top]
        faster = [r for r in others if r.latency_ms < top.latency_ms]
        tail = ("and the fastest too" if not faster else
                f"no faster model comes within {tol * 100:.1f} points of it")
        sentence = f"Best trade-off: {pick.name}, the most accurate — {acc} at {pick.latency_ms:.3g} ms per image; {tail}."
    else:
        ratio = top.latency_ms / max(pick.latency_ms, 1e-9)
        sentence = (f"Best trade-off: {pick.name} — {acc} at {pick.latency_ms:.3g} ms per image, within "
                    f"{tol * 100:.1f} points (one standard error on {n} test images, at least 1) of the most accurate, "
                    f"{top.name} ({top.accuracy * 100:.1f}%), and {ratio:.1f}× faster.")
    return pick, sentence, front


# --------------------------------------------------------------------------- running


def check_models(models) -> list[str]:
    from tlweb.engine import compare

    return compare.check_models(models, MIN_MODELS, MAX_MODELS,
                                too_few="Pick at least {low} backbones for the leaderboard (you picked {n}).",
                                too_many="Put at most {high} backbones on the leaderboard (you picked {n}).")


def _backbone_row(row: LeaderboardRow, data, seed: int, runtime, settings: Settings, stop, report) -> None:
    """Fill one backbone's row (features cached; the model is loaded only when something is missing)."""
    from tlweb.engine.embeddings import knn_accuracy
    from tlweb.engine.features import Backbone, model_facts, split_features
    from tlweb.engine.head import auto_head
    from tlweb.engine.metrics import classification_metrics

    bb = Backbone(row.model, settings)
    row.name = bb.name
    feats = {}
    for split in ("train", "test"):
        fs = split_features(data, split, bb, runtime, settings, stop,
                            on_progress=lambda d, n, split=split: report(f"{row.name}: {split} features {d}/{n}"))
        if fs is None:
            raise _Stopped
        feats[split] = fs
    row.feature_s = sum(f.seconds for f in feats.values())
    row.train_images, row.test_images = len(feats["train"]), len(feats["test"])
    report(f"{row.name}: linear head")
    dev = runtime.device
    head = auto_head(feats["train"].features, feats["train"].labels, len(data.class_names), seed=seed, device=dev,
                     should_stop=stop)
    if head is None:
        raise _Stopped
    pred = head.predict(feats["test"].features).tolist()
    m = classification_metrics(pred, feats["test"].labels.tolist(), data.class_names)
    row.linear_accuracy, row.linear_macro_f1 = m["accuracy"], m["macro_f1"]
    row.linear_C, row.linear_selection, row.linear_how, row.head_s = head.C, head.selection, head.how, head.seconds
    report(f"{row.name}: k-NN")
    knn = knn_accuracy(feats["train"].features, feats["train"].labels, feats["test"].features, feats["test"].labels,
                       len(data.class_names))
    row.knn_accuracy, row.knn_k = knn["accuracy"], knn["k"]
    report(f"{row.name}: latency, parameters, GFLOPs")
    facts = model_facts(bb, runtime, settings)
    row.latency_ms, row.params, row.gflops = facts["latency_ms"], facts["params"], facts["gflops"]
    row.input_size = facts.get("input_size")
    row.cached = all(f.cached for f in feats.values()) and bool(facts.get("cached"))
    if bb.is_loaded:
        bb.model.cpu()


def _zero_shot_row(row: LeaderboardRow, data, templates, settings: Settings, stop, report) -> None:
    from tlweb.engine.zeroshot import zero_shot_eval

    res = zero_shot_eval(data, row.model, templates, settings=settings, should_stop=stop,
                         on_progress=lambda d, n: report(f"{row.model} (zero-shot): test images {d}/{n}"))
    if res is None:
        raise _Stopped
    row.name = res.model
    row.zero_shot_accuracy, row.zero_shot_macro_f1 = res.accuracy, res.macro_f1
    row.templates = list(res.templates)
    row.latency_ms, row.params, row.gflops = res.latency_ms, res.params, res.gflops
    row.feature_s, row.cached, row.test_images = res.seconds, res.cached, res.images


class _Stopped(Exception):
    pass


def _error_sentence(exc: BaseException) -> str:
    if isinstance(exc, TlwebError):
        return str(exc)
    if "out of memory" in str(exc).lower():
        return "The device ran out of memory with this model."
    return f"It failed while running ({type(exc).__name__}: {first_line(exc)})."


@gpu_task(images="data", models="models", image_factor=0.2, cap=TRAIN_CAP_S)  # batched features of every image
def iter_leaderboard(data, models, zero_shot: str | None = None, templates=None, seed: int = 0,
                     settings: Settings | None = None, should_stop=None) -> Iterator[LeaderboardProgress]:
    """Rank ``models`` (2–8 names, a list or comma-separated) on ``data`` (a PreparedData or a
    :func:`~tlweb.engine.data.load_data` source), plus an optional zero-shot row; yields progress
    (live messages during feature extraction, a row after each model); the last has ``finished``."""
    from tlweb.engine.accel import Runtime
    from tlweb.engine.data import PreparedData, load_data

    settings = settings or get_settings()
    t_start = time.perf_counter()
    names = check_models(models)
    stop = should_stop or (lambda: False)
    if not isinstance(data, PreparedData):
        data = load_data(data, seed=seed, settings=settings)
    counts = data.counts()
    runtime = Runtime(settings)
    rows = [LeaderboardRow(model=n, name=n) for n in names]
    if zero_shot and str(zero_shot).strip():
        rows.append(LeaderboardRow(model=str(zero_shot).strip(), name=str(zero_shot).strip(), kind="zero-shot"))
    result = LeaderboardResult(rows=[], class_names=list(data.class_names), train_images=sum(counts["train"].values()),
                               test_images=sum(counts["test"].values()), test_from=data.test_from, source=data.source,
                               device=str(runtime.device), precision=runtime.precision)

    def snapshot(done: int) -> LeaderboardResult:
        out = LeaderboardResult(**{**result.__dict__, "rows": list(rows[:done])})
        best, out.best_sentence, out.pareto = best_tradeoff(out.rows)
        out.best = best.model if best is not None else None
        out.elapsed_s = time.perf_counter() - t_start
        return out

    total = len(rows)
    yield LeaderboardProgress(0, total, f"{data.summary()}; starting with {rows[0].model}", snapshot(0))
    done = 0
    for i, row in enumerate(rows):
        if stop():
            break
        label = f"{row.model} ({i + 1}/{total})"

        def work(report, row=row):
            if row.kind == "zero-shot":
                _zero_shot_row(row, data, templates, settings, stop, report)
            else:
                _backbone_row(row, data, seed, runtime, settings, stop, report)

        try:
            for message in run_with_progress(work):
                yield LeaderboardProgress(i, total, f"{label}: {message}", snapshot(i))
        except _Stopped:
            row.error = "stopped"
            done = i + 1
            break
        except Exception as exc:  # noqa: BLE001 - one model failing must not stop the others
            row.error = _error_sentence(exc)
        done = i + 1
        status = "failed" if row.error else f"{(row.accuracy or 0) * 100:.1f}% at {row.latency_ms or 0:.3g} ms/image"
        yield LeaderboardProgress(i + 1, total, f"{row.name}: {status}", snapshot(i + 1))
    final = snapshot(done)
    ran = [r for r in final.rows if r.ok]
    msg = f"Ranked {len(ran)} of {total} models on {final.test_images} test images in {final.elapsed_s:.1f} s."
    yield LeaderboardProgress(total, total, msg, final, finished=True)


def leaderboard(data, models, zero_shot: str | None = None, templates=None, seed: int = 0,
                settings: Settings | None = None, should_stop=None) -> LeaderboardResult:
    """Run :func:`iter_leaderboard` to the end and return its result."""
    steps = list(iter_leaderboard(data, models, zero_shot, templates, seed, settings, should_stop))
    return steps[-1].result
