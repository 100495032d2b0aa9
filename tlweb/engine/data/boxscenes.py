"""Generated detection pictures: a few shapes at random places on a noisy background, each with its
tight box, written as a COCO dataset (:func:`write_detection_dataset`).

Used by the built-in detection sample, the demo detector's pretraining, the transfer measurement,
the tests and the benchmark. The shapes are :mod:`.shapes`' kinds; ``stripes`` and ``checker``
(patterns that fill the picture in the classification sample) are cut to a square patch here.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from tlweb.engine.data.shapes import shape_mask

DETECTION_SAMPLE_CLASSES = ("circle", "square", "triangle")  # the transfer target (as the classification sample)
PATTERNS = ("stripes", "checker")


def draw_scene(kinds, rng, size: int = 64, scale_range=(0.14, 0.3), noise: float = 8.0, max_tries: int = 60):
    """One picture with one shape of each kind in ``kinds`` (numpy uint8 H×W×3) and their boxes.

    Returns ``(image, boxes, kinds)``: boxes are COCO ``[x, y, width, height]`` in pixels, the
    tight box of each shape's pixels; shapes do not overlap (a shape that finds no free place in
    ``max_tries`` draws is left out, and so is its box). ``scale_range``: half-extent as a fraction
    of the side.
    """
    import numpy as np

    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    bg = rng.integers(0, 90, 3).astype(np.float32)
    img = np.empty((size, size, 3), dtype=np.float32)
    img[:] = bg
    taken = np.zeros((size, size), dtype=bool)
    boxes, placed = [], []
    for kind in kinds:
        for _ in range(max_tries):
            s = float(rng.uniform(*scale_range)) * size
            cx = float(rng.uniform(s, size - s))
            cy = float(rng.uniform(s, size - s))
            x0, x1 = int(max(0, cx - s - 1)), int(min(size, cx + s + 2))
            y0, y1 = int(max(0, cy - s - 1)), int(min(size, cy + s + 2))
            if not taken[y0:y1, x0:x1].any():
                break
        else:
            continue
        mask = shape_mask(kind, xx, yy, cx, cy, s, rng, size)
        if kind in PATTERNS:
            mask &= (np.abs(xx - cx) <= s * 0.85) & (np.abs(yy - cy) <= s * 0.85)
        cols = np.flatnonzero(mask.any(axis=0))
        rows = np.flatnonzero(mask.any(axis=1))
        if len(cols) == 0 or len(rows) == 0:
            continue
        taken[y0:y1, x0:x1] = True
        img[mask] = rng.integers(120, 256, 3).astype(np.float32)
        boxes.append([float(cols[0]), float(rows[0]), float(cols[-1] + 1 - cols[0]), float(rows[-1] + 1 - rows[0])])
        placed.append(kind)
    img += rng.normal(0, noise, img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), boxes, placed


def write_detection_dataset(root: str | os.PathLike, classes=DETECTION_SAMPLE_CLASSES, train: int = 40,
                            test: int = 10, valid: int = 0, size: int = 64, seed: int = 0, max_objects: int = 2,
                            layout: str = "roboflow", scale_range=(0.14, 0.3), first_id: int = 1,
                            single_class: bool = False) -> Path:
    """Write a COCO detection dataset of :func:`draw_scene` pictures, deterministic for a seed.

    ``layout``: ``"roboflow"`` (``train/``, ``valid/``, ``test/`` folders, each with its pictures and
    ``_annotations.coco.json``) or ``"coco"`` (``images/`` and one ``annotations.json`` with every
    picture: no split, the reader holds some out). Each picture holds 1 to ``max_objects`` shapes
    (``single_class``: of one kind only, so images per class is exactly the pictures that hold it).
    Category ids start at ``first_id``.
    """
    import numpy as np
    from PIL import Image

    root = Path(root)
    rng = np.random.default_rng(seed)
    classes = list(classes)
    categories = [{"id": first_id + i, "name": c, "supercategory": "shape"} for i, c in enumerate(classes)]
    splits = [("train", train), ("valid", valid), ("test", test)]
    single = {"images": [], "annotations": [], "categories": categories}
    image_id = 0
    for split, n in splits:
        if n <= 0:
            continue
        folder = root / (split if layout == "roboflow" else "images")
        folder.mkdir(parents=True, exist_ok=True)
        coco = single if layout != "roboflow" else {"images": [], "annotations": [], "categories": categories}
        for i in range(n):
            k = int(rng.integers(1, max_objects + 1))
            if single_class:
                kinds = [classes[int(rng.integers(len(classes)))]] * k
            else:
                kinds = [classes[int(j)] for j in rng.integers(0, len(classes), k)]
            img, boxes, placed = draw_scene(kinds, rng, size=size, scale_range=scale_range)
            name = f"{split}_{i:04d}.png"
            Image.fromarray(img).save(folder / name)
            image_id += 1
            coco["images"].append({"id": image_id, "file_name": name, "width": size, "height": size})
            for box, kind in zip(boxes, placed):
                coco["annotations"].append({"id": len(coco["annotations"]) + 1, "image_id": image_id,
                                            "category_id": first_id + classes.index(kind), "bbox": box,
                                            "area": box[2] * box[3], "iscrowd": 0})
        if layout == "roboflow":
            (folder / "_annotations.coco.json").write_text(json.dumps(coco))
    if layout != "roboflow":
        (root / "annotations.json").write_text(json.dumps(single))
    return root
