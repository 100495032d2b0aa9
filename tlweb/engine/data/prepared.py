"""The result of every loader: :class:`PreparedData` (two labelled splits), its fingerprint,
the checks every source shares, and the stratified splits and subsamples built from it."""

from __future__ import annotations

import hashlib
import json
import os
from collections import Counter
from dataclasses import dataclass, field

from tlweb.errors import DataError

SPLIT_NAMES = {
    "train": ("train", "training"),
    "test": ("test", "testing"),
    "validation": ("validation", "valid", "val", "dev", "eval"),
}


@dataclass
class PreparedData:
    train: object  # datasets.Dataset: "image" (datasets.Image → PIL RGB), "label" (ClassLabel)
    test: object  # same features
    class_names: list[str]  # index = label id
    source: str  # what the user gave: Hub id, folder, zip file name, "sample", "uploads"
    test_from: str  # "test split" | "test/ folder" | "held-out 20% (stratified)"
    skipped: list[str] = field(default_factory=list)  # "cats/bad.jpg: not an image"
    warnings: list[str] = field(default_factory=list)  # sentences about what was changed to make the data usable
    # subsample() keeps the full data and the train rows it picked, so caches are shared
    base: PreparedData | None = field(default=None, repr=False, compare=False)
    train_rows: list[int] | None = field(default=None, repr=False, compare=False)
    _fp: str | None = field(default=None, repr=False, compare=False)
    hub_id: str = ""  # the Hugging Face dataset it came from ("" for local data); a model card names it

    def counts(self) -> dict[str, dict[str, int]]:
        out = {}
        for split, ds in (("train", self.train), ("test", self.test)):
            c = Counter(int(x) for x in ds["label"])
            out[split] = {name: int(c.get(i, 0)) for i, name in enumerate(self.class_names)}
        return out

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def fingerprint(self) -> str:
        """A stable hash of the images (paths + sizes + mtimes, or bytes) and labels."""
        if self._fp is None:
            if self.base is not None:
                rows = ",".join(map(str, self.train_rows or []))
                self._fp = _sha(f"{self.base.fingerprint()}|subsample|{rows}")
            else:
                h = hashlib.sha256(json.dumps(self.class_names, ensure_ascii=False).encode())
                for ds in (self.train, self.test):
                    h.update(b"|split|")
                    h.update(_dataset_digest(ds).encode())
                self._fp = h.hexdigest()[:24]
        return self._fp

    def summary(self) -> str:
        c = self.counts()
        return (f"{len(self.class_names)} classes · {sum(c['train'].values())} train / "
                f"{sum(c['test'].values())} test images · test = {self.test_from}"
                + (f" · {len(self.skipped)} files skipped" if self.skipped else ""))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _dataset_digest(ds) -> str:
    import datasets

    col = ds.cast_column("image", datasets.Image(decode=False)) if isinstance(ds.features["image"], datasets.Image) else ds
    h = hashlib.sha256()
    if ds.cache_files and ds._indices is None:
        h.update(str(ds._fingerprint).encode())  # arrow-backed (Hub / load_from_disk): datasets' own hash
        return h.hexdigest()
    images = col["image"]
    labels = ds["label"]
    for item, label in zip(images, labels):
        if isinstance(item, dict) and item.get("bytes") is not None:
            h.update(hashlib.sha1(item["bytes"]).digest())
        else:
            path = item.get("path") if isinstance(item, dict) else str(item)
            try:
                st = os.stat(path)
                h.update(f"{path}|{st.st_size}|{st.st_mtime_ns}".encode())
            except (OSError, TypeError):
                h.update(f"{path}|missing".encode())
        h.update(f"|{int(label)};".encode())
    return h.hexdigest()


def _check_classes(classes: dict[str, list], source_label: str, where: str = "") -> None:
    if not classes:
        raise DataError(f"'{source_label}' has no class folders with images: put each class in its own folder.")
    total = sum(len(v) for v in classes.values())
    if total == 0:
        raise DataError(f"'{source_label}' has no readable images.")
    empty = [n for n, v in classes.items() if not v]
    if empty:
        raise DataError(f"The class '{empty[0]}' {('in ' + where + ' ') if where else ''}has no readable images: "
                        "add some or remove it.")
    if len(classes) < 2:
        only = next(iter(classes))
        raise DataError(f"Only one class ('{only}') was found: a classifier needs at least two classes.")


def _paths_dataset(paths: list[str], labels: list[int], names: list[str]):
    import datasets

    features = datasets.Features({"image": datasets.Image(mode="RGB"), "label": datasets.ClassLabel(names=list(names))})
    return datasets.Dataset.from_dict({"image": list(paths), "label": list(labels)}, features=features)


def _finish_single(ds, names: list[str], source: str, skipped: list[str], test_fraction: float, seed: int,
                   checked: bool = False) -> PreparedData:
    """One labelled dataset → a stratified held-out test split."""
    labels = [int(x) for x in ds["label"]]
    if not checked:
        per = {n: [] for n in names}
        for i, lab in enumerate(labels):
            per[names[lab]].append(i)
        _check_classes(per, source)
    train_idx, test_idx = stratified_split(labels, len(names), test_fraction, seed, names)
    pct = round(test_fraction * 100)
    return PreparedData(ds.select(train_idx), ds.select(test_idx), list(names), source,
                        f"held-out {pct}% (stratified)", list(skipped))


def stratified_split(labels: list[int], num_classes: int, test_fraction: float, seed: int,
                     names: list[str] | None = None) -> tuple[list[int], list[int]]:
    """Per class: hold out round(n·fraction) images (at least 1, and at least 1 left to train on).

    Our own split rather than ``Dataset.train_test_split(stratify_by_column=…)``: that one refuses
    test sets smaller than the number of classes, which small per-class uploads hit all the time.
    """
    import numpy as np

    if not 0 < test_fraction < 1:
        raise DataError("The test fraction must be between 0 and 1 (for example 0.2).")
    rng = np.random.default_rng(seed)
    arr = np.asarray(labels, dtype=np.int64)
    train, test = [], []
    for c in range(num_classes):
        idx = np.flatnonzero(arr == c)
        if len(idx) == 0:
            continue
        if len(idx) < 2:
            name = names[c] if names else str(c)
            raise DataError(f"The class '{name}' has only 1 image; holding out a test image needs at least 2 per class.")
        idx = rng.permutation(idx)
        n_test = min(len(idx) - 1, max(1, int(round(len(idx) * test_fraction))))
        test.extend(int(i) for i in idx[:n_test])
        train.extend(int(i) for i in idx[n_test:])
    return sorted(train), sorted(test)


def subsample(data: PreparedData, per_class: int, seed: int = 0) -> PreparedData:
    """At most ``per_class`` training images per class (the test split is untouched)."""
    import numpy as np

    per_class = int(per_class)
    if per_class < 1:
        raise DataError("Images per class must be at least 1.")
    base = data.base if data.base is not None else data
    base_rows = data.train_rows if data.base is not None else list(range(len(data.train)))
    labels = np.asarray(list(data.train["label"]), dtype=np.int64)
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    for c in range(len(data.class_names)):
        idx = np.flatnonzero(labels == c)
        if len(idx) == 0:
            continue
        take = rng.permutation(idx)[: min(per_class, len(idx))]
        picked.extend(int(i) for i in take)
    picked.sort()
    return PreparedData(
        train=data.train.select(picked),
        test=data.test,
        class_names=list(data.class_names),
        source=data.source,
        test_from=data.test_from,
        skipped=list(data.skipped),
        warnings=list(data.warnings),
        base=base,
        train_rows=[base_rows[i] for i in picked],
    )
