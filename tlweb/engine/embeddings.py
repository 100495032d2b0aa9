"""Embeddings of a dataset: k-NN accuracy, silhouette, a 2-D projection, nearest neighbours.

The vectors are the head inputs of :mod:`tlweb.engine.features` (cached: a second projection of the
same data and model runs no forward pass). What is measured:

- **k-NN accuracy** (:func:`knn_accuracy`): cosine similarity, majority vote among the ``k``
  nearest training images (ties go to the lowest class index, as scikit-learn's
  ``KNeighborsClassifier``), ``k`` picked by leave-one-out cross-validation on the training images
  (each training image classified by the others), then measured on the test split;
- **silhouette** (:func:`silhouette`): scikit-learn's definition with cosine distance, on the
  full-dimensional vectors of the plotted points (not on the 2-D picture);
- **projection** (:func:`project`): PCA always; t-SNE on request. t-SNE rather than UMAP because it
  comes with scikit-learn (already a dependency, no numba JIT compile in every new process) and
  is deterministic for a seed; it runs on the 50 leading PCA components, and its result is cached.

:func:`embed` returns a :class:`Projection`; :func:`pretrained_vs_random` the same architecture with
pretrained and with random weights (same points, same seeds) — the picture of why transfer works;
:func:`before_after` a fine-tuned run next to the backbone it started from.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.progress import run_with_progress
from tlweb.engine.zerogpu import TRAIN_CAP_S, gpu_task
from tlweb.errors import DataError, ModelError

KS = (1, 3, 5, 7, 9, 11, 15, 21, 31)  # k-NN candidates (those below the training-set size)
METHODS = {"pca": "PCA", "tsne": "t-SNE"}
MAX_POINTS = 5000
NEIGHBOURS = 6
THUMB = 40  # thumbnail side in pixels (32 above 2,000 points)
_CHUNK = 2048


# --------------------------------------------------------------------------- k-NN and silhouette


def _unit(x):
    import torch

    x = torch.as_tensor(x).float()
    return x / x.norm(dim=1, keepdim=True).clamp_min(1e-12)


def _topk_cosine(queries, keys, k: int, exclude_self: bool = False):
    """Indices [Nq, k] of the ``k`` most cosine-similar ``keys`` for each query (chunked)."""
    import torch

    q, kk = _unit(queries), _unit(keys)
    out = []
    for i in range(0, len(q), _CHUNK):
        sims = q[i:i + _CHUNK] @ kk.T
        if exclude_self:
            r = torch.arange(i, min(i + _CHUNK, len(q)))
            sims[r - i, r] = -math.inf
        out.append(sims.topk(k, dim=1).indices)
    return torch.cat(out) if out else torch.zeros(0, k, dtype=torch.long)


def _vote(neighbour_labels, k: int, num_classes: int):
    import torch

    lab = neighbour_labels[:, :k]
    votes = torch.zeros(lab.shape[0], num_classes).scatter_add_(1, lab, torch.ones(lab.shape, dtype=torch.float32))
    return votes.argmax(1)  # first maximum: the lowest class index wins a tie


def knn_predict(train_x, train_y, query_x, k: int, num_classes: int | None = None):
    """Cosine k-NN predictions for ``query_x`` (majority vote, ties → lowest class index)."""
    import torch

    y = torch.as_tensor(train_y).long()
    n_cls = int(num_classes or int(y.max()) + 1)
    k = max(1, min(int(k), len(y)))
    idx = _topk_cosine(query_x, train_x, k)
    return _vote(y[idx], k, n_cls)


def choose_k(train_x, train_y, num_classes: int | None = None, ks=KS) -> tuple[int, dict[int, float]]:
    """``k`` by leave-one-out accuracy on the training images (ties → the smaller ``k``)."""
    import torch

    y = torch.as_tensor(train_y).long()
    n_cls = int(num_classes or int(y.max()) + 1)
    cands = [k for k in ks if k <= len(y) - 1] or [1]
    if len(y) < 2:
        return 1, {}
    idx = _topk_cosine(train_x, train_x, max(cands), exclude_self=True)
    neigh = y[idx]
    scores = {k: float((_vote(neigh, k, n_cls) == y).float().mean()) for k in cands}
    best = max(cands, key=lambda k: (scores[k], -k))
    return best, scores


def knn_accuracy(train_x, train_y, test_x, test_y, num_classes: int | None = None, ks=KS) -> dict:
    """``{"accuracy", "k", "loo": {k: accuracy}, "test_images"}``: k chosen on the training images."""
    import torch

    k, loo = choose_k(train_x, train_y, num_classes, ks)
    pred = knn_predict(train_x, train_y, test_x, k, num_classes)
    y = torch.as_tensor(test_y).long()
    acc = float((pred == y).float().mean()) if len(y) else 0.0
    return {"accuracy": acc, "k": k, "loo": loo, "test_images": len(y)}


def silhouette(x, labels) -> float:
    """Mean silhouette coefficient with cosine distance (scikit-learn's ``silhouette_score(X,
    labels, metric="cosine")``); points alone in their class count 0. NaN with fewer than two
    classes."""
    import torch

    u = _unit(x)
    y = torch.as_tensor(labels).long()
    classes, y = torch.unique(y, return_inverse=True)
    n_cls = len(classes)
    if n_cls < 2 or len(y) <= n_cls:
        return float("nan")
    onehot = torch.zeros(len(y), n_cls).scatter_(1, y[:, None], 1.0)
    sizes = onehot.sum(0)
    scores = []
    for i in range(0, len(y), _CHUNK):
        d = (1.0 - u[i:i + _CHUNK] @ u.T).clamp(0.0, 2.0)
        r = torch.arange(i, min(i + _CHUNK, len(y)))
        d[r - i, r] = 0.0
        sums = d @ onehot  # [chunk, classes]: summed distance to each class
        own = y[i:i + _CHUNK]
        own_size = sizes[own]
        a = sums.gather(1, own[:, None]).squeeze(1) / (own_size - 1).clamp_min(1)
        mean_other = sums / sizes
        mean_other.scatter_(1, own[:, None], math.inf)
        b = mean_other.min(1).values
        s = (b - a) / torch.maximum(a, b).clamp_min(1e-12)
        s = torch.where(own_size > 1, s, torch.zeros_like(s))
        scores.append(s)
    return float(torch.cat(scores).mean())


# --------------------------------------------------------------------------- 2-D projection


def pca(x, dims: int = 2):
    """(coordinates [N, dims], explained variance ratios): PCA by SVD, signs fixed so the largest
    loading of each component is positive (the same picture every time)."""
    import numpy as np

    a = np.asarray(x, dtype=np.float64)
    a = a - a.mean(0)
    dims = max(1, min(dims, a.shape[0], a.shape[1]))
    u, s, vt = np.linalg.svd(a, full_matrices=False)
    signs = np.sign(vt[np.arange(len(vt)), np.abs(vt).argmax(1)])
    signs[signs == 0] = 1
    u, vt = u * signs, vt * signs[:, None]
    total = float((s ** 2).sum()) or 1.0
    coords = u[:, :dims] * s[:dims]
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return coords, [float(v) / total for v in (s[:dims] ** 2)]


def tsne(x, seed: int = 0):
    """t-SNE (scikit-learn, PCA init) on the 50 leading PCA components."""
    import numpy as np
    from sklearn.manifold import TSNE

    a = np.asarray(x, dtype=np.float64)
    n = len(a)
    if n < 5:
        return pca(a)[0]
    reduced = pca(a, 50)[0] if a.shape[1] > 50 else a - a.mean(0)
    perplexity = float(min(30.0, max(2.0, (n - 1) / 3.0)))
    return TSNE(n_components=2, init="pca", perplexity=perplexity, learning_rate="auto", random_state=seed,
                n_jobs=1).fit_transform(reduced.astype(np.float32))


def project(x, method: str = "pca", seed: int = 0, settings: Settings | None = None, cache_key: dict | None = None):
    """(coordinates [N, 2] numpy, PCA explained variance or None). t-SNE results are cached on disk
    under ``cache_key`` (its features' key + the points) when one is given."""
    import numpy as np

    method = (method or "pca").lower().replace("-", "")
    if method not in METHODS:
        raise DataError(f"Unknown projection '{method}'; pick one of: {', '.join(METHODS.values())}.")
    if method == "pca":
        coords, ratio = pca(x)
        return coords, ratio
    path = None
    if cache_key is not None:
        settings = settings or get_settings()
        digest = hashlib.sha256(json.dumps({**cache_key, "method": method, "seed": seed}, sort_keys=True,
                                           default=str).encode()).hexdigest()[:32]
        path = settings.cache_dir / "projections" / f"{digest}.npy"
        if path.exists():
            try:
                return np.load(path), None
            except (OSError, ValueError):
                pass
    coords = tsne(x, seed)
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            np.save(path, coords)
        except OSError:
            pass
    return coords, None


# --------------------------------------------------------------------------- the projector


@dataclass
class Projection:
    """One model's embedding of a dataset, ready to draw."""

    model: str  # display name
    weights: str  # "pretrained" | "random init" | "fine-tuned (run …)"
    method: str  # "PCA" | "t-SNE"
    xy: object  # numpy [N, 2]
    labels: list[int]
    splits: list[str]  # "train" | "test" per point
    rows: list[int]  # row of each point in its split's dataset
    class_names: list[str]
    knn: dict  # knn_accuracy(): trained on the train split, measured on the test split
    silhouette: float
    neighbours: object  # numpy [N, NEIGHBOURS] indices of the nearest points (cosine, full dimension)
    explained: list[float] | None = None  # PCA: variance ratio of each axis
    sprite: bytes = b""  # JPEG: every point's thumbnail in a grid (row-major, ``sprite_cols`` per row)
    sprite_cols: int = 0
    thumb: int = THUMB
    total_images: int = 0  # images in both splits (points may be a sample of them)
    cached: bool = False  # features came from the cache (no forward pass)
    seconds: float = 0.0

    @property
    def points(self) -> int:
        return len(self.labels)

    @property
    def knn_accuracy(self) -> float:
        return float(self.knn.get("accuracy", float("nan")))

    def title(self) -> str:
        return f"{self.model} · {self.weights}"

    def as_dict(self) -> dict:
        sil = None if math.isnan(self.silhouette) else round(self.silhouette, 6)
        return {"model": self.model, "weights": self.weights, "method": self.method, "points": self.points,
                "total_images": self.total_images, "knn_accuracy": round(self.knn_accuracy, 6),
                "knn_k": self.knn.get("k"), "knn_test_images": self.knn.get("test_images"), "silhouette": sil,
                "explained_variance": self.explained, "cached": self.cached, "seconds": round(self.seconds, 3),
                "class_names": list(self.class_names)}


def pick_points(labels_by_split: dict[str, list[int]], max_points: int, seed: int = 0) -> list[tuple[str, int]]:
    """(split, position) of the points to draw: every image, or a per-class proportional sample
    of ``max_points`` of them (deterministic for a seed)."""
    import numpy as np

    items = [(s, i, lab) for s, labs in labels_by_split.items() for i, lab in enumerate(labs)]
    if len(items) <= max_points:
        return [(s, i) for s, i, _ in items]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(items))[:max_points]
    return [(items[j][0], items[j][1]) for j in sorted(order)]


def _sprite(tile, n: int, side: int, chunk: int = 256) -> tuple[bytes, int]:
    """``tile(i)`` (uint8 [3,H,W]) for i < n → one JPEG grid of ``side``-pixel thumbnails and its
    number of columns. Resized a chunk at a time: 5,000 images at 224 px never sit in memory as floats."""
    import numpy as np
    import torch
    import torch.nn.functional as F
    from PIL import Image

    cols = max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    canvas = np.full((rows * side, cols * side, 3), 255, dtype=np.uint8)
    for start in range(0, n, chunk):
        batch = torch.stack([tile(i) for i in range(start, min(n, start + chunk))]).float()
        small = F.interpolate(batch, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
        small = small.clamp(0, 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
        for j, img in enumerate(small):
            r, c = divmod(start + j, cols)
            canvas[r * side:(r + 1) * side, c * side:(c + 1) * side] = img
    buf = io.BytesIO()
    Image.fromarray(canvas).save(buf, format="JPEG", quality=82)
    return buf.getvalue(), cols


def embed(data, model, *, random_weights: bool = False, method: str = "pca", max_points: int = MAX_POINTS,
          seed: int = 0, settings: Settings | None = None, runtime=None, on_progress=None, should_stop=None,
          weights_label: str | None = None, backbone=None) -> Projection | None:
    """Embed both splits of ``data`` with ``model`` (features cached), measure k-NN accuracy
    (train → test) and silhouette, project ``max_points`` of them to 2-D.

    ``on_progress(message, fraction)``; None when ``should_stop()`` turned true."""
    import numpy as np
    import torch

    from tlweb.engine.accel import Runtime
    from tlweb.engine.data import encode_split
    from tlweb.engine.features import Backbone, split_features

    settings = settings or get_settings()
    runtime = runtime or Runtime(settings)
    t0 = time.perf_counter()
    report = on_progress or (lambda message, fraction: None)
    bb = backbone or Backbone(model, settings, random_init=random_weights, seed=seed)
    what = weights_label or ("random init" if bb.random_init else "pretrained")
    feats = {}
    for i, split in enumerate(("train", "test")):
        report(f"{bb.name} ({what}): features of the {split} images", i / 2)
        fs = split_features(data, split, bb, runtime, settings, should_stop,
                            on_progress=lambda d, n, i=i, split=split: report(
                                f"{bb.name} ({what}): features of the {split} images {d}/{n}", (i + d / max(n, 1)) / 2))
        if fs is None:
            return None
        feats[split] = fs
    report(f"{bb.name} ({what}): k-NN, silhouette and the {METHODS.get(method, method)} projection", 1.0)
    n_cls = len(data.class_names)
    knn = knn_accuracy(feats["train"].features, feats["train"].labels, feats["test"].features, feats["test"].labels,
                       n_cls)
    chosen = pick_points({s: feats[s].labels.tolist() for s in feats}, int(max_points), seed)
    x = torch.stack([feats[s].features[i] for s, i in chosen]) if chosen else torch.zeros(0, 1)
    labels = [int(feats[s].labels[i]) for s, i in chosen]
    sil = silhouette(x, labels)
    k_nb = min(NEIGHBOURS, max(1, len(chosen) - 1))
    neighbours = _topk_cosine(x, x, k_nb, exclude_self=True).numpy() if len(chosen) > 1 else np.zeros((len(chosen), 0))
    cache_key = {"features": [_feature_id(data, bb, s) for s in ("train", "test")], "points": _points_id(chosen)}
    xy, explained = project(x.numpy(), method, seed, settings, cache_key)
    encs = {s: encode_split(data, s, bb.processor, settings) for s in feats}
    side = THUMB if len(chosen) <= 2000 else 32
    sprite, cols = _sprite(lambda j: encs[chosen[j][0]].pixels[chosen[j][1]], len(chosen), side) if chosen else (b"", 0)
    return Projection(model=bb.name, weights=what, method=METHODS.get(method.lower().replace("-", ""), method),
                      xy=np.asarray(xy), labels=labels, splits=[s for s, _ in chosen],
                      rows=[feats[s].rows[i] for s, i in chosen], class_names=list(data.class_names), knn=knn,
                      silhouette=sil, neighbours=neighbours, explained=explained, sprite=sprite, sprite_cols=cols,
                      thumb=side, total_images=sum(len(f) for f in feats.values()),
                      cached=all(f.cached for f in feats.values()), seconds=time.perf_counter() - t0)


def _feature_id(data, bb, split: str) -> str:
    return f"{bb.identity()}|{data.fingerprint()}|{split}"


def _points_id(chosen) -> str:
    return hashlib.sha256(repr(chosen).encode()).hexdigest()[:20]


def pretrained_vs_random(data, model, *, method: str = "pca", max_points: int = MAX_POINTS, seed: int = 0,
                         settings: Settings | None = None, on_progress=None, should_stop=None):
    """(pretrained, random-init) projections of the same points with the same architecture."""
    from tlweb.engine.accel import Runtime

    settings = settings or get_settings()
    runtime = Runtime(settings)
    report = on_progress or (lambda message, fraction: None)
    out = []
    for i, random_init in enumerate((False, True)):
        proj = embed(data, model, random_weights=random_init, method=method, max_points=max_points, seed=seed,
                     settings=settings, runtime=runtime, should_stop=should_stop,
                     on_progress=lambda m, f, i=i: report(m, (i + f) / 2))
        if proj is None:
            return None
        out.append(proj)
    return tuple(out)


def run_base_model(run: str, settings: Settings | None = None) -> tuple[str, str]:
    """(the run's model folder, the backbone it was fine-tuned from) for a run key or folder."""
    from tlweb.engine.listing import resolve

    settings = settings or get_settings()
    spec = resolve(run, settings=settings)
    folder = Path(spec.hub_id)
    config_path = folder.parent / "config.json"
    try:
        config = json.loads(config_path.read_text())
    except (OSError, ValueError):
        raise ModelError(f"'{run}' is not a fine-tuned run of this app (no run config.json beside its model).") from None
    for name in (config.get("base_model"), config.get("base_model_path")):
        if not name:
            continue
        try:
            resolve(name, settings=settings)
            return str(folder), str(name)
        except ModelError:
            continue
    raise ModelError(f"The backbone the run '{run}' started from ({config.get('base_model')}) is not available here.")


def before_after(data, run: str, *, method: str = "pca", max_points: int = MAX_POINTS, seed: int = 0,
                 settings: Settings | None = None, on_progress=None, should_stop=None):
    """(backbone before, fine-tuned after) projections of the same points for a run."""
    from tlweb.engine.accel import Runtime
    from tlweb.engine.listing import resolve

    settings = settings or get_settings()
    runtime = Runtime(settings)
    folder, base = run_base_model(run, settings)
    run_spec = resolve(run, settings=settings)
    report = on_progress or (lambda message, fraction: None)
    out = []
    for i, (name, label) in enumerate(((base, "before fine-tuning"), (folder, f"after fine-tuning ({run_spec.key})"))):
        proj = embed(data, name, method=method, max_points=max_points, seed=seed, settings=settings, runtime=runtime,
                     should_stop=should_stop, weights_label=label, on_progress=lambda m, f, i=i: report(m, (i + f) / 2))
        if proj is None:
            return None
        out.append(proj)
    return tuple(out)


PROJECTION_MODES = ("random", "single", "run")  # pretrained vs random init, one backbone, a run before/after


@gpu_task(images="data", models="model", image_factor=0.4, cap=TRAIN_CAP_S)  # two models' features of every image
def iter_projections(data, model, mode: str = "random", *, method: str = "pca", max_points: int = MAX_POINTS,
                     seed: int = 0, settings: Settings | None = None):
    """The projector's GPU function: yields progress messages (str) while it works, then the tuple of
    :class:`Projection` (``mode``: "random" = :func:`pretrained_vs_random`, "single" = :func:`embed`, "run" =
    :func:`before_after` with ``model`` the run). Everything it yields pickles (ZeroGPU streams it)."""
    if mode not in PROJECTION_MODES:
        raise DataError(f"Unknown projector mode '{mode}': pick one of {', '.join(PROJECTION_MODES)}.")
    kw = {"method": method, "max_points": max_points, "seed": seed, "settings": settings}

    def work(report):
        progress = {"on_progress": lambda message, fraction: report(message)}
        if mode == "run":
            return before_after(data, model, **progress, **kw)
        if mode == "single":
            return (embed(data, model, **progress, **kw),)
        return pretrained_vs_random(data, model, **progress, **kw)

    projections = yield from run_with_progress(work)
    yield tuple(p for p in (projections or ()) if p is not None)


def neighbour_images(data, projection: Projection, index: int, settings: Settings | None = None,
                     max_side: int = 256) -> list[tuple[object, str]]:
    """(PIL image, caption) of point ``index`` ("★ class") then its nearest neighbours ("#1: class" …,
    in feature space)."""
    from tlweb.engine.data import image_sources, row_name
    from tlweb.engine.images import load_image

    settings = settings or get_settings()
    n = projection.points
    if not 0 <= int(index) < n:
        raise DataError(f"There is no point {index}: pick a number from 0 to {n - 1}.")
    index = int(index)
    sources = {s: image_sources(getattr(data, s)) for s in set(projection.splits)}
    out = []
    for rank, j in enumerate([index] + [int(v) for v in projection.neighbours[index]]):
        split, row = projection.splits[j], projection.rows[j]
        src = sources[split][row]
        img = load_image(src, settings, name=row_name(src, row))
        img.thumbnail((max_side, max_side))
        label = projection.class_names[projection.labels[j]]
        out.append((img, f"★ {label}" if rank == 0 else f"#{rank}: {label}"))
    return out


def point_name(data, projection: Projection, index: int) -> str:
    """Where point ``index`` comes from: "circle/circle_0007.png (train split)"."""
    from tlweb.engine.data import image_sources, row_name

    split, row = projection.splits[index], projection.rows[index]
    return f"{row_name(image_sources(getattr(data, split))[row], row)} ({split} split)"
