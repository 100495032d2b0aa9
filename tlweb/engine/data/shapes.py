"""Generated pictures: :func:`draw_shape`, :func:`write_shapes_dataset` and the built-in offline
sample dataset (:func:`sample_data`)."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.data.folders import _load_folder
from tlweb.engine.data.prepared import PreparedData

SAMPLE_VERSION = 1
SAMPLE_CLASSES = ("circle", "square", "triangle", "stripes")
_SAMPLE_LOCK = threading.Lock()


def sample_data(settings: Settings | None = None) -> PreparedData:
    """The built-in offline sample: 4 classes of synthetic pictures (circle, square, triangle,
    stripes) in random colours, 40 per class (32 train / 8 test), generated once, deterministic."""
    settings = settings or get_settings()
    root = settings.cache_dir / f"sample-shapes-v{SAMPLE_VERSION}"
    marker = root / ".complete"
    with _SAMPLE_LOCK:
        if not marker.exists():
            tmp = root.with_name(root.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            write_shapes_dataset(tmp, SAMPLE_CLASSES, per_class=40, test_per_class=8, size=96, seed=1234)
            (tmp / ".complete").write_text("ok")
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
    data = _load_folder(root, source_label="sample", settings=settings)
    data.source = "sample"
    return data


def draw_shape(kind: str, rng, size: int = 64, color=None, background=None, scale_range=(0.45, 0.8),
               noise: float = 8.0):
    """One synthetic picture (numpy uint8 H×W×3): a circle, square, triangle, cross, x, ring,
    diamond, half (disc), stripes or checker in a colour on a noisy background, random size and
    position."""
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    bg = np.asarray(background if background is not None else rng.integers(0, 90, 3), dtype=np.float32)
    fg = np.asarray(color if color is not None else rng.integers(120, 256, 3), dtype=np.float32)
    s = float(rng.uniform(*scale_range)) * size / 2  # half-extent
    cx = float(rng.uniform(s, size - s))
    cy = float(rng.uniform(s, size - s))
    mask = shape_mask(kind, rng, xx, yy, cx, cy, s, size)
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = bg
    img[mask] = fg
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8)


def shape_mask(kind: str, rng, xx, yy, cx: float, cy: float, s: float, size: int):
    """The boolean mask of one shape of half-extent ``s`` centred at (``cx``, ``cy``) on the pixel grid
    ``xx``, ``yy`` (stripes and checker fill the whole grid and draw their period from ``rng``)."""
    import numpy as np

    dx, dy = xx - cx, yy - cy
    if kind == "circle":
        mask = dx**2 + dy**2 <= s**2
    elif kind == "ring":
        r2 = dx**2 + dy**2
        mask = (r2 <= s**2) & (r2 >= (0.55 * s) ** 2)
    elif kind == "square":
        mask = (np.abs(dx) <= s * 0.85) & (np.abs(dy) <= s * 0.85)
    elif kind == "diamond":
        mask = np.abs(dx) + np.abs(dy) <= s
    elif kind == "triangle":
        mask = (dy <= s * 0.8) & (dy >= -s) & (np.abs(dx) <= (dy + s) * 0.58)
    elif kind == "cross":
        w = s * 0.3
        mask = ((np.abs(dx) <= w) & (np.abs(dy) <= s)) | ((np.abs(dy) <= w) & (np.abs(dx) <= s))
    elif kind == "x":  # a diagonal cross
        w = s * 0.3
        u, v = (dx + dy) / 1.4142, (dx - dy) / 1.4142
        mask = ((np.abs(u) <= w) & (np.abs(v) <= s)) | ((np.abs(v) <= w) & (np.abs(u) <= s))
    elif kind == "half":  # a half disc, flat side down
        mask = (dx**2 + dy**2 <= s**2) & (dy <= s * 0.1)
    elif kind == "stripes":
        period = max(4.0, size / float(rng.integers(4, 8)))
        angle = float(rng.uniform(0, np.pi))
        mask = (np.sin((xx * np.cos(angle) + yy * np.sin(angle)) * 2 * np.pi / period) > 0)
    elif kind == "checker":
        period = max(4, int(size / rng.integers(3, 6)))
        mask = ((xx // period + yy // period) % 2) == 0
    else:
        raise ValueError(kind)
    return mask


def write_shapes_dataset(root: str | os.PathLike, classes=SAMPLE_CLASSES, per_class: int = 40,
                         test_per_class: int = 0, size: int = 64, seed: int = 0, fmt: str = "png",
                         color_range=None, background_range=None, scale_range=(0.45, 0.8)) -> Path:
    """Write an imagefolder dataset of :func:`draw_shape` pictures (``train/``, ``test/`` when
    ``test_per_class``), deterministic for a seed. Used by the sample dataset, tests and benchmarks.

    ``classes``: shape kinds, or ``{folder name: shape kind}``. ``color_range`` /
    ``background_range``: ``(low, high)`` per channel (numbers or RGB triples)
    for the shape's and the background's colours."""
    import numpy as np
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    pairs = list(classes.items()) if isinstance(classes, dict) else [(c, c) for c in classes]
    for split, n in (("train", per_class - test_per_class), ("test", test_per_class)):
        if n <= 0:
            continue
        for name, kind in pairs:
            d = root / split / name if test_per_class else root / name
            d.mkdir(parents=True, exist_ok=True)
            for i in range(n):
                color = rng.integers(color_range[0], color_range[1], 3) if color_range else None
                bg = rng.integers(background_range[0], background_range[1], 3) if background_range else None
                arr = draw_shape(kind, rng, size=size, color=color, background=bg, scale_range=scale_range)
                path = d / f"{name}_{i:04d}.{fmt}"
                Image.fromarray(arr).save(path, quality=90) if fmt in ("jpg", "jpeg") else Image.fromarray(arr).save(path)
    return root

