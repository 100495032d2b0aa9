"""Generated segmentation scenes: a few shapes (:func:`tlweb.engine.data.shapes.shape_mask`) in random
colours, sizes and places on a textured background, with the mask that says which pixel is which shape.
Shape colours are drawn independently of the class, so only the outline tells the classes apart.

Used by the demo segmenter's pretraining (:mod:`tlweb.engine.demo_recipes.segmenter`), the tests and the
benchmarks. Class 0 is ``background``; shape kind i of ``kinds`` is class i + 1.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

BACKGROUND = "background"
PATTERNS = ("stripes", "checker")  # kinds that fill the grid: cut to a square around their centre


def draw_scene(kinds, rng, size: int = 64, shapes=(1, 3), scale_range=(0.22, 0.42), noise: float = 10.0):
    """(RGB uint8 H×W×3, mask uint8 H×W) with 1–3 shapes of ``kinds`` (mask value = kind index + 1; later
    shapes cover earlier ones) on a background of two mixed colours, a wave texture and noise."""
    import numpy as np

    from tlweb.engine.data.shapes import shape_mask

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    a, b = rng.integers(0, 256, 3).astype(np.float32), rng.integers(0, 256, 3).astype(np.float32)
    freq = rng.uniform(0.5, 3.0, 2) * 2 * np.pi / size
    phase = rng.uniform(0, 2 * np.pi, 2)
    wave = 0.5 + 0.25 * (np.sin(xx * freq[0] + phase[0]) + np.sin(yy * freq[1] + phase[1]))
    img = a * wave[..., None] + b * (1 - wave[..., None])
    mask = np.zeros((size, size), dtype=np.uint8)
    for _ in range(int(rng.integers(shapes[0], shapes[1] + 1))):
        k = int(rng.integers(0, len(kinds)))
        s = float(rng.uniform(*scale_range)) * size
        cx, cy = float(rng.uniform(s * 0.6, size - s * 0.6)), float(rng.uniform(s * 0.6, size - s * 0.6))
        m = shape_mask(kinds[k], xx, yy, cx, cy, s, rng, size)
        if kinds[k] in PATTERNS:
            m &= (np.abs(xx - cx) <= s * 0.85) & (np.abs(yy - cy) <= s * 0.85)
        if not m.any():
            continue
        under = img[m].mean(axis=0)
        color = rng.integers(0, 256, 3).astype(np.float32)
        for _ in range(20):  # visible on what it covers
            if np.abs(color - under).sum() >= 120:
                break
            color = rng.integers(0, 256, 3).astype(np.float32)
        img[m] = color
        mask[m] = k + 1
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), mask


def write_scenes(root: str | os.PathLike, kinds, n_train: int, n_test: int = 0, size: int = 64, seed: int = 0,
                 fmt: str = "png", **scene) -> Path:
    """A segmentation folder of :func:`draw_scene` pictures: ``labels.txt`` (background, then ``kinds``) and
    ``images/`` + ``masks/`` (or ``train/`` and ``test/`` each holding both when ``n_test``), deterministic
    for a seed."""
    import numpy as np
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "labels.txt").write_text("\n".join([BACKGROUND, *kinds]) + "\n")
    rng = np.random.default_rng(seed)
    for split, n in (("train", n_train), ("test", n_test)):
        if n <= 0:
            continue
        base = root / split if n_test else root
        (base / "images").mkdir(parents=True, exist_ok=True)
        (base / "masks").mkdir(parents=True, exist_ok=True)
        for i in range(n):
            img, mask = draw_scene(kinds, rng, size, **scene)
            Image.fromarray(img).save(base / "images" / f"{split}_{i:04d}.{fmt}", **({"quality": 92} if fmt == "jpg"
                                                                                     else {}))
            Image.fromarray(mask).save(base / "masks" / f"{split}_{i:04d}.png")
    return root


SAMPLE_KINDS = ("circle", "square", "triangle")  # none of the demo segmenter's pretraining kinds
SAMPLE_VERSION = 1
_SAMPLE_LOCK = threading.Lock()


def segmentation_sample(settings=None):
    """The built-in segmentation sample: generated scenes of circles, squares and triangles (1–3 a scene,
    64 px) with their masks, 40 train / 20 test, written once under the cache folder and read like any
    mask folder (:func:`tlweb.engine.data.masks.load_mask_folder`). Offline, no typing: the Fine-tune
    tab's first segmentation source and ``--data sample`` of the CLI."""
    import shutil

    from tlweb.config import get_settings
    from tlweb.engine.data.masks import load_mask_folder

    settings = settings or get_settings()
    root = Path(settings.cache_dir) / f"segmentation-sample-v{SAMPLE_VERSION}"
    with _SAMPLE_LOCK:
        if not (root / ".complete").exists():
            tmp = root.with_name(root.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            write_scenes(tmp, list(SAMPLE_KINDS), 40, 20, size=64, seed=21)
            (tmp / ".complete").write_text("ok")
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
    data = load_mask_folder(root, source_label="sample", settings=settings)
    data.source = "sample"
    return data

