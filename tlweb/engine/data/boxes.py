"""Detection data as tlweb holds it: :class:`DetectionData` (pictures with boxes, the training run's
``TaskData`` for detection), the box cleaning every reader shares (:class:`BoxCleaner`), the splits
(:func:`finish`, :func:`held_out`), :func:`subsample` (images per class = pictures holding the class)
and the reader of Hugging Face datasets with an ``objects`` column (:func:`from_hf_objects`).
The folder readers are in :mod:`.coco`; the entry points in :mod:`.detection`.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field

from tlweb.errors import DataError, clip

TASK = "object-detection"
MAX_IMAGES = 20_000  # pictures in one dataset, all splits together (as folders.MAX_FILES)
MAX_BOXES = 1_000_000  # boxes in one dataset


@dataclass
class DetItem:
    """One picture and its boxes (COCO ``[x, y, width, height]`` in the picture's pixels, clipped)."""

    source: object  # a path (str) or the encoded bytes
    name: str  # shown to people: a relative path or "image #i"
    width: int
    height: int
    boxes: list[list[float]] = field(default_factory=list)
    labels: list[int] = field(default_factory=list)  # class index 0…K−1 per box


@dataclass
class DetectionData:
    """What every detection reader returns (the training run's ``TaskData``)."""

    train: list[DetItem]
    test: list[DetItem]
    class_names: list[str]  # index = class id 0…K−1
    source: str  # what the user gave (a name, never a server path in shared mode)
    test_from: str  # "test/ folder" | "test split" | "held-out 20%" …
    validation: list[DetItem] = field(default_factory=list)  # a given validation split (valid/), else empty
    skipped: list[str] = field(default_factory=list)  # "train/b.png: not an image"
    warnings: list[str] = field(default_factory=list)  # sentences about what was cleaned
    base: DetectionData | None = field(default=None, repr=False, compare=False)  # subsample(): the full data
    train_rows: list[int] | None = field(default=None, repr=False, compare=False)  # … and the rows it kept
    _fp: str | None = field(default=None, repr=False, compare=False)

    task = TASK

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def split(self, name: str) -> list[DetItem]:
        return {"train": self.train, "test": self.test, "validation": self.validation}[name]

    def counts(self) -> dict[str, dict[str, int]]:
        """split → class → pictures holding at least one box of the class."""
        out = {}
        for split in ("train", "validation", "test"):
            items = self.split(split)
            if split == "validation" and not items:
                continue
            per = [0] * len(self.class_names)
            for it in items:
                for c in set(it.labels):
                    per[c] += 1
            out[split] = dict(zip(self.class_names, per))
        return out

    def box_counts(self) -> dict[str, dict[str, int]]:
        """split → class → boxes."""
        out = {}
        for split in ("train", "validation", "test"):
            per = [0] * len(self.class_names)
            for it in self.split(split):
                for c in it.labels:
                    per[c] += 1
            out[split] = dict(zip(self.class_names, per))
        return out

    def fingerprint(self) -> str:
        """A stable hash of the pictures (paths + sizes + mtimes, or bytes) and their boxes."""
        if self._fp is None:
            if self.base is not None:
                self._fp = _sha(f"{self.base.fingerprint()}|subsample|{','.join(map(str, self.train_rows or []))}")
            else:
                h = hashlib.sha256(json.dumps(self.class_names, ensure_ascii=False).encode())
                for split in ("train", "validation", "test"):
                    h.update(f"|{split}|".encode())
                    for it in self.split(split):
                        h.update(_source_digest(it.source))
                        h.update(json.dumps([it.width, it.height, it.boxes, it.labels]).encode())
                self._fp = h.hexdigest()[:24]
        return self._fp

    def summary(self) -> str:
        boxes = sum(len(it.labels) for it in self.train)
        val = f" / {len(self.validation)} validation" if self.validation else ""
        return (f"{len(self.class_names)} classes · {len(self.train)} train{val} / {len(self.test)} test images · "
                f"{boxes} training boxes · test = {self.test_from}"
                + (f" · {len(self.skipped)} files skipped" if self.skipped else ""))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _source_digest(source) -> bytes:
    if isinstance(source, (bytes, bytearray)):
        return hashlib.sha1(source).digest()
    try:
        st = os.stat(source)
        return f"{source}|{st.st_size}|{st.st_mtime_ns}".encode()
    except (OSError, TypeError):
        return f"{source}|missing".encode()


# --------------------------------------------------------------------------- cleaning boxes


class BoxCleaner:
    """Clips boxes to their picture and drops the ones with nothing left, counting both."""

    def __init__(self):
        self.clipped = 0
        self.dropped = 0
        self.negatives = 0
        self.boxes = 0

    def box(self, bbox, width: int, height: int) -> list[float] | None:
        """COCO ``[x, y, w, h]`` → the clipped box, or None (dropped: outside, zero area, not numbers)."""
        try:
            x, y, w, h = (float(v) for v in bbox)
        except (TypeError, ValueError):
            self.dropped += 1
            return None
        if not all(math.isfinite(v) for v in (x, y, w, h)) or w <= 0 or h <= 0:
            self.dropped += 1
            return None
        x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(width), x + w), min(float(height), y + h)
        if x1 - x0 <= 0 or y1 - y0 <= 0:
            self.dropped += 1
            return None
        if x0 - x > 1e-3 or y0 - y > 1e-3 or (x + w) - x1 > 1e-3 or (y + h) - y1 > 1e-3:
            self.clipped += 1
        self.boxes += 1
        if self.boxes > MAX_BOXES:
            raise DataError(f"The dataset has more than {MAX_BOXES:,} boxes, the limit; use a smaller subset.")
        return [x0, y0, x1 - x0, y1 - y0]

    def item(self, item: DetItem) -> DetItem:
        if not item.labels:
            self.negatives += 1
        return item

    def warnings(self) -> list[str]:
        out = []
        if self.clipped or self.dropped:
            parts = []
            if self.clipped:
                parts.append(f"{self.clipped} box{'es' if self.clipped != 1 else ''} partly outside "
                             f"{'their' if self.clipped != 1 else 'its'} picture {'were' if self.clipped != 1 else 'was'} clipped")
            if self.dropped:
                parts.append(f"{self.dropped} box{'es' if self.dropped != 1 else ''} wholly outside "
                             f"{'their pictures' if self.dropped != 1 else 'its picture'} or of zero area "
                             f"{'were' if self.dropped != 1 else 'was'} dropped")
            out.append("; ".join(parts) + ".")
        if self.negatives:
            out.append(f"{self.negatives} picture{'s have' if self.negatives != 1 else ' has'} no boxes: kept as "
                       "negatives (pictures where the model should find nothing).")
        return out


def oriented_size(path) -> tuple[int, int] | None:
    """(width, height) from an image file's header, as :func:`tlweb.engine.images.load_image` will
    return it (EXIF orientations that turn the picture swap the two); None when unreadable."""
    from PIL import Image

    import tlweb.engine.images  # noqa: F401 - PIL's pixel ceiling

    try:
        src = path if isinstance(path, (str, os.PathLike)) else __import__("io").BytesIO(path)
        with Image.open(src) as im:
            w, h = im.size
            try:
                turned = im.getexif().get(0x0112) in (5, 6, 7, 8)
            except Exception:  # noqa: BLE001 - a broken EXIF block: the picture as stored
                turned = False
    except Exception:  # noqa: BLE001
        return None
    return (h, w) if turned else (w, h)


# --------------------------------------------------------------------------- splits


def finish(splits: dict[str, list[DetItem]], class_names: list[str], source: str, skipped: list[str],
           warnings: list[str], test_fraction: float, seed: int, split_word: str = "folder") -> DetectionData:
    """Given splits (``train`` required, ``validation`` / ``test`` optional) → :class:`DetectionData`:
    without a test split, ``validation`` becomes the test split, else a random ``test_fraction`` of
    the training pictures is held out."""
    train = list(splits.get("train") or [])
    val = list(splits.get("validation") or [])
    test = list(splits.get("test") or [])
    if not class_names:
        raise DataError(f"'{source}' has no categories: a detector needs at least one class of object.")
    if not train:
        raise DataError(f"'{source}' has no readable training pictures.")
    if not any(it.labels for it in train):
        raise DataError(f"None of the training pictures of '{source}' has a box: a detector needs boxes to learn from.")
    total = len(train) + len(val) + len(test)
    if total > MAX_IMAGES:
        raise DataError(f"The dataset has {total:,} pictures; the limit is {MAX_IMAGES:,}.")
    names = {"train": "train/", "validation": "valid/", "test": "test/"} if split_word == "folder" else {}
    if test:
        test_from = f"{names['test']} folder" if names else "test split"
    elif val:
        test, val = val, []
        test_from = f"{names['validation']} folder" if names else "validation split"
    else:
        train, test = held_out(train, test_fraction, seed)
        test_from = f"held-out {round(test_fraction * 100)}%"
    return DetectionData(train, test, list(class_names), source, test_from, val, list(skipped), list(warnings))


def held_out(items: list[DetItem], test_fraction: float, seed: int) -> tuple[list[DetItem], list[DetItem]]:
    """A random ``test_fraction`` of the pictures (at least one, and at least one left to train on)."""
    import numpy as np

    if not 0 < test_fraction < 1:
        raise DataError("The test fraction must be between 0 and 1 (for example 0.2).")
    if len(items) < 2:
        raise DataError("Holding out a test picture needs at least 2 pictures; add more, or give a test/ folder.")
    order = np.random.default_rng(seed).permutation(len(items))
    n_test = min(len(items) - 1, max(1, int(round(len(items) * test_fraction))))
    test = sorted(int(i) for i in order[:n_test])
    train = sorted(int(i) for i in order[n_test:])
    return [items[i] for i in train], [items[i] for i in test]


def subsample(data: DetectionData, per_class: int, seed: int = 0) -> DetectionData:
    """Training pictures picked so that each class is in at least ``per_class`` of them (or all it has):
    classes in a random order each take random pictures holding them until they have enough (a picture
    holding two classes counts for both). Negatives are left out. Test and validation stay."""
    import numpy as np

    per_class = int(per_class)
    if per_class < 1:
        raise DataError("Images per class must be at least 1.")
    base = data.base if data.base is not None else data
    base_rows = data.train_rows if data.base is not None else list(range(len(data.train)))
    rng = np.random.default_rng(seed)
    picked: set[int] = set()
    have = [0] * len(data.class_names)
    for c in rng.permutation(len(data.class_names)):
        holding = [i for i, it in enumerate(data.train) if int(c) in it.labels]
        for i in rng.permutation(len(holding)):
            if have[c] >= per_class:
                break
            row = holding[int(i)]
            if row in picked:
                continue
            picked.add(row)
            for k in set(data.train[row].labels):
                have[k] += 1
    rows = sorted(picked)
    return DetectionData([data.train[i] for i in rows], data.test, list(data.class_names), data.source,
                         data.test_from, data.validation, list(data.skipped), list(data.warnings), base=base,
                         train_rows=[base_rows[i] for i in rows])


# --------------------------------------------------------------------------- Hugging Face datasets


def from_hf_objects(loaded, source: str, split: str | None, test_fraction: float, seed: int,
                    image_column: str | None = None) -> DetectionData:
    """A datasets ``DatasetDict`` / ``Dataset`` with an image column and an ``objects`` column
    (``bbox`` COCO ``[x, y, w, h]`` pixels, ``category`` a ClassLabel or ints / names)."""
    import datasets

    from tlweb.engine.data.folders import _split_kind

    if isinstance(loaded, datasets.Dataset):
        parts = {"train": loaded}
    elif isinstance(loaded, datasets.DatasetDict):
        if split:
            if split not in loaded:
                raise DataError(f"The dataset '{source}' has no split '{clip(split)}'; its splits are {', '.join(loaded)}.")
            parts = {"train": loaded[split]}
        else:
            parts = {}
            for name in loaded:
                kind = _split_kind(name)
                if kind and kind not in parts:
                    parts[kind] = loaded[name]
            if "train" not in parts:
                parts["train"] = loaded[next(iter(loaded))]
    else:
        raise DataError(f"'{source}' is a streaming or unknown dataset type; it cannot be used here.")
    features = parts["train"].features
    img = image_column or next((c for c in features if isinstance(features[c], datasets.Image)), None)
    if img is None or img not in features:
        raise DataError(f"No image column was found in '{source}' (columns: {', '.join(features)}).")
    if "objects" not in features:
        raise DataError(f"'{source}' has no 'objects' column: a detection dataset needs one, with 'bbox' "
                        "(x, y, width, height in pixels) and 'category' for every box.")
    names, to_index = _hf_categories(parts, source)
    cleaner = BoxCleaner()
    skipped: list[str] = []
    splits = {}
    for kind, ds in parts.items():
        if len(ds) > MAX_IMAGES:
            raise DataError(f"The {kind} split of '{source}' has {len(ds):,} pictures; the limit is {MAX_IMAGES:,}.")
        splits[kind] = _hf_items(ds, img, kind, to_index, cleaner, skipped)
    return finish(splits, names, source, skipped, cleaner.warnings(), test_fraction, seed, split_word="split")


def _objects_feature(features):
    obj = features["objects"]
    inner = getattr(obj, "feature", obj)  # List({...}) or {...: List(...)}
    if not isinstance(inner, dict) or "bbox" not in inner:
        raise DataError("The 'objects' column needs a 'bbox' field (x, y, width, height in pixels) for every box.")
    cat = next((k for k in ("category", "category_id", "label", "labels") if k in inner), None)
    if cat is None:
        raise DataError("The 'objects' column needs a 'category' field (the class of every box).")
    return inner, cat


def _hf_categories(parts: dict, source: str) -> tuple[list[str], dict]:
    import datasets

    inner, cat = _objects_feature(parts["train"].features)
    feat = getattr(inner[cat], "feature", inner[cat])
    if isinstance(feat, datasets.ClassLabel):
        names = [str(n) for n in feat.names]
        return names, {i: i for i in range(len(names))} | {n: i for i, n in enumerate(names)}
    values = set()
    for ds in parts.values():
        for objs in ds["objects"]:
            values.update(_field(objs, cat))
    if all(isinstance(v, int) for v in values):
        ids = sorted(values)
        return [str(v) for v in ids], {v: i for i, v in enumerate(ids)}
    names = sorted(str(v) for v in values)
    return names, {n: i for i, n in enumerate(names)}


def _field(objs, key) -> list:
    if isinstance(objs, dict):
        return list(objs.get(key) or [])
    return [o.get(key) for o in objs or []]


def _hf_items(ds, img: str, kind: str, to_index: dict, cleaner: BoxCleaner, skipped: list[str]) -> list[DetItem]:
    import datasets

    _, cat = _objects_feature(ds.features)
    raw = ds.cast_column(img, datasets.Image(decode=False))
    has_size = "width" in ds.features and "height" in ds.features
    items = []
    unknown = set()
    for r, row in enumerate(raw):
        ref = row[img] or {}
        src = ref.get("bytes") if ref.get("bytes") is not None else ref.get("path")
        name = f"{kind} image #{r}"
        size = (int(row["width"]), int(row["height"])) if has_size else None
        if size is None or min(size) <= 0:
            size = oriented_size(src) if src is not None else None
        if src is None or size is None:
            skipped.append(f"{name}: not a readable image")
            continue
        boxes, labels = [], []
        for bbox, c in zip(_field(row["objects"], "bbox"), _field(row["objects"], cat)):
            if c not in to_index:
                unknown.add(c)
                continue
            b = cleaner.box(bbox, *size)
            if b is not None:
                boxes.append(b)
                labels.append(to_index[c])
        items.append(cleaner.item(DetItem(src, name, size[0], size[1], boxes, labels)))
    if unknown:
        raise DataError(f"The {kind} split has boxes of categories the training split does not name: "
                        f"{', '.join(clip(str(u), 30) for u in sorted(unknown, key=str)[:5])}.")
    return items
