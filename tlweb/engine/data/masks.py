"""Segmentation data: pictures with masks → :class:`MaskData` (two splits, class names, what was skipped).

Sources, all ending in the same checks (:func:`tlweb.engine.data.segmentation.load_masks` picks one by
what it is given):

- a folder or a zip holding ``images/`` and ``masks/`` (a mask is the PNG with its image's file stem;
  pixel value = class index, 255 = ignore; palette PNGs are read as indices) and ``labels.txt`` (one class
  name a line, line *i* = class *i*), optionally split into ``train/`` and ``test/`` (or ``validation/``)
  each holding ``images/`` and ``masks/``. Zips are unpacked by :func:`tlweb.engine.data.extract_zip`
  (its budgets and refusals); ``labels.txt`` is read straight from the zip (a few KB at most);
- a Hugging Face dataset with an image column and a mask column (:mod:`.masks_hub`);
- image + mask pairs a person uploaded (:func:`from_pairs`).

Refused with one sentence naming the file: a mask whose size differs from its image's, a mask value
beyond the classes (255 aside), a colour (RGB) mask (convert it with :func:`rgb_to_indices` /
:func:`convert_rgb_masks`), a JPEG mask (lossy compression changes class ids). Skipped and counted in
a warning: images without a mask and masks without an image; skipped and listed: unreadable files.

Every mask is decoded once here to check it; which classes it holds is kept (``present``), so
"masks per class" (:meth:`MaskData.counts`, :func:`subsample_masks`) counts training images whose mask
contains the class, without decoding again.
"""

from __future__ import annotations

import concurrent.futures as cf
import hashlib
import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.data.maskfile import (  # noqa: F401 - part of this module's interface
    IGNORE,
    check_mask,
    convert_rgb_masks,
    mask_png,
    read_mask,
    rgb_to_indices,
)
from tlweb.errors import DataError, ImageError, clip

TASK = "image-segmentation"
MAX_CLASSES = 255  # class ids 0..254: 255 is the ignore value
LABELS_FILE = "labels.txt"
MAX_LABELS_BYTES = 64 * 1024
IMAGE_DIRS = ("images", "image", "imgs", "img")
MASK_DIRS = ("masks", "mask", "annotations", "labels")
MAX_LISTED = 3  # file names quoted in a warning


@dataclass
class MaskSplit:
    """One split: per item an image source (path or bytes), a mask source (path, bytes or array), a name
    shown to people (``images/a.jpg``) and which classes its mask holds (bool ``present[i, class]``)."""

    images: list
    masks: list
    names: list[str]
    present: object  # numpy bool [N, K]
    sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) of each image

    def __len__(self) -> int:
        return len(self.names)

    def select(self, rows) -> MaskSplit:
        rows = [int(r) for r in rows]
        return MaskSplit([self.images[r] for r in rows], [self.masks[r] for r in rows], [self.names[r] for r in rows],
                         self.present[rows], [self.sizes[r] for r in rows] if self.sizes else [])


@dataclass
class MaskData:
    """What the segmentation reader returns (the training run's ``TaskData``)."""

    train: MaskSplit
    test: MaskSplit
    class_names: list[str]  # index = class id
    source: str  # what the user gave (a file name, a Hub id; never a server path in shared mode)
    test_from: str  # "test/ folder" | "test split" | "held-out 20%"
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    base: MaskData | None = field(default=None, repr=False, compare=False)
    train_rows: list[int] | None = field(default=None, repr=False, compare=False)
    _fp: str | None = field(default=None, repr=False, compare=False)
    hub_id: str = ""  # the Hugging Face dataset it came from ("" for local data); a model card names it

    task = TASK

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def counts(self) -> dict[str, dict[str, int]]:
        """split → class → training (or test) images whose mask holds the class."""
        out = {}
        for split, part in (("train", self.train), ("test", self.test)):
            per = part.present.sum(axis=0) if len(part) else [0] * self.num_classes
            out[split] = {name: int(per[i]) for i, name in enumerate(self.class_names)}
        return out

    def fingerprint(self) -> str:
        """A stable hash of the images, the masks and the class names (the encode cache keys on it)."""
        if self._fp is None:
            if self.base is not None:
                self._fp = _sha(f"{self.base.fingerprint()}|subsample|{','.join(map(str, self.train_rows or []))}")
            else:
                h = hashlib.sha256(json.dumps(self.class_names, ensure_ascii=False).encode())
                for part in (self.train, self.test):
                    h.update(b"|split|")
                    for img, mask in zip(part.images, part.masks):
                        h.update(_digest(img))
                        h.update(_digest(mask))
                self._fp = h.hexdigest()[:24]
        return self._fp

    def summary(self) -> str:
        return (f"{self.num_classes} classes · {len(self.train)} train / {len(self.test)} test images with masks · "
                f"test = {self.test_from}" + (f" · {len(self.skipped)} files skipped" if self.skipped else ""))


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _digest(src) -> bytes:
    if isinstance(src, (bytes, bytearray, memoryview)):
        return hashlib.sha1(bytes(src)).digest()
    if isinstance(src, (str, os.PathLike)):
        try:
            st = os.stat(src)
            return f"{src}|{st.st_size}|{st.st_mtime_ns}".encode()
        except OSError:
            return f"{src}|missing".encode()
    tobytes = getattr(src, "tobytes", None)  # a numpy array from a dataset
    return hashlib.sha1(tobytes()).digest() if tobytes else repr(src).encode()


# --------------------------------------------------------------------------- labels


def parse_labels(text: str, where: str = LABELS_FILE) -> list[str]:
    """Class names, one a line (line i = class i); trailing blank lines dropped."""
    lines = [line.strip() for line in text.replace("\r\n", "\n").split("\n")]
    while lines and not lines[-1]:
        lines.pop()
    if not lines:
        raise DataError(f"{where} is empty: list the class names, one a line (line 1 = class 0).")
    if "" in lines:
        raise DataError(f"{where} has an empty line {lines.index('') + 1}: every class id needs a name.")
    seen: dict[str, int] = {}
    for i, name in enumerate(lines):
        if name in seen:
            raise DataError(f"{where} names the class '{clip(name)}' twice (lines {seen[name] + 1} and {i + 1}).")
        seen[name] = i
    if len(lines) > MAX_CLASSES:
        raise DataError(f"{where} lists {len(lines)} classes; at most {MAX_CLASSES} fit (255 marks ignored pixels).")
    if len(lines) < 2:
        raise DataError(f"{where} lists one class: segmentation needs at least two (for example background and "
                        "the object).")
    return lines


def class_list(labels, where: str = "the class list", settings: Settings | None = None) -> list[str]:
    """Class names given as a list, a ``labels.txt``-style text (lines, or commas on one line), or in local
    mode a path to a labels.txt."""
    if labels is None or (isinstance(labels, str) and not labels.strip()):
        return []
    if isinstance(labels, (list, tuple)):
        return parse_labels("\n".join(str(n) for n in labels), where)
    text = str(labels)
    shared = (settings or get_settings()).shared
    if not shared and "\n" not in text and len(text) < 1024 and text.endswith(".txt") and Path(text).is_file():
        return parse_labels(Path(text).read_text(encoding="utf-8", errors="replace"), Path(text).name)
    return parse_labels(text.replace(",", "\n") if "\n" not in text else text, where)


# --------------------------------------------------------------------------- folders and zips


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in ("__MACOSX", "Thumbs.db", "desktop.ini")


def _subdir(folder: Path, names) -> Path | None:
    for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink()):
        if sub.name.lower() in names:
            return sub
    return None


def _find_root(folder: Path) -> Path:
    """The folder holding images/ + masks/ (or train/ …): step into single wrapping folders."""
    from tlweb.engine.data.prepared import SPLIT_NAMES

    splits = {n for names in SPLIT_NAMES.values() for n in names}
    for _ in range(5):
        if _subdir(folder, IMAGE_DIRS) or _subdir(folder, splits):
            return folder
        subs = [p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not _is_hidden(p.name)]
        if len(subs) != 1:
            break
        folder = subs[0]
    return folder


def _read_labels_near(root: Path, top: Path) -> list[str] | None:
    for where in (root, root / "train", top):
        path = where / LABELS_FILE
        if path.is_file() and not path.is_symlink():
            if path.stat().st_size > MAX_LABELS_BYTES:
                raise DataError(f"{LABELS_FILE} is over {MAX_LABELS_BYTES // 1024} KB; it lists class names, one a line.")
            return parse_labels(path.read_text(encoding="utf-8", errors="replace"))
    return None


def _pairs_in(split_dir: Path, rel_to: Path, skipped: list[str], warnings: list[str]):
    """(image path, mask path, shown name) for one split folder holding images/ and masks/."""
    from tlweb.engine.images import IMAGE_EXTENSIONS

    images_dir, masks_dir = _subdir(split_dir, IMAGE_DIRS), _subdir(split_dir, MASK_DIRS)
    where = split_dir.relative_to(rel_to).as_posix() if split_dir != rel_to else "the dataset"
    if images_dir is None or masks_dir is None:
        raise DataError(f"{where} needs an images/ folder and a masks/ folder (a mask per image, same file name, "
                        "PNG).")

    def files(d: Path) -> dict[str, Path]:
        out: dict[str, Path] = {}
        for p in sorted(d.rglob("*")):
            if not p.is_file() or any(_is_hidden(part) for part in p.relative_to(d).parts):
                continue
            rel = p.relative_to(rel_to).as_posix()
            if p.is_symlink():
                skipped.append(f"{rel}: a link, not a file")
            elif p.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append(f"{rel}: not an image file")
            else:
                key = p.relative_to(d).with_suffix("").as_posix()
                if key in out:
                    skipped.append(f"{rel}: a second file with the name {key}")
                else:
                    out[key] = p
        return out

    imgs, masks = files(images_dir), files(masks_dir)
    pairs = [(str(imgs[k]), str(masks[k]), imgs[k].relative_to(rel_to).as_posix(), masks[k].relative_to(rel_to).as_posix())
             for k in imgs if k in masks]
    _note_unmatched(sorted(k for k in imgs if k not in masks), sorted(k for k in masks if k not in imgs),
                    where, warnings)
    return pairs


def _note_unmatched(no_mask: list[str], no_image: list[str], where: str, warnings: list[str]) -> None:
    def some(keys):
        return ", ".join(clip(k, 40) for k in keys[:MAX_LISTED]) + (" …" if len(keys) > MAX_LISTED else "")

    if no_mask:
        warnings.append(f"{len(no_mask)} image{'s' if len(no_mask) > 1 else ''} in {where} "
                        f"{'have' if len(no_mask) > 1 else 'has'} no mask and {'were' if len(no_mask) > 1 else 'was'} "
                        f"skipped ({some(no_mask)}).")
    if no_image:
        warnings.append(f"{len(no_image)} mask{'s' if len(no_image) > 1 else ''} in {where} "
                        f"{'have' if len(no_image) > 1 else 'has'} no image and {'were' if len(no_image) > 1 else 'was'} "
                        f"skipped ({some(no_image)}).")


def load_mask_folder(folder, *, source_label: str, labels=None, test_fraction: float = 0.2, seed: int = 0,
                     settings: Settings | None = None, pre_skipped: list[str] | None = None,
                     zip_labels: list[str] | None = None) -> MaskData:
    """A folder with images/ + masks/ + labels.txt (or train/ and test/ each with images/ + masks/)."""
    from tlweb.engine.data.prepared import SPLIT_NAMES

    settings = settings or get_settings()
    top = Path(folder)
    root = _find_root(top)
    names = class_list(labels, settings=settings) or zip_labels or _read_labels_near(root, top)
    if not names:
        raise DataError(f"'{source_label}' has no {LABELS_FILE}: list the class names, one a line (line 1 = class 0, "
                        "the value 0 in the masks).")
    skipped, warnings = list(pre_skipped or []), []
    split_dirs = {}
    for kind in ("train", "test", "validation"):
        d = _subdir(root, SPLIT_NAMES[kind])
        if d is not None:
            split_dirs[kind] = d
    if split_dirs:
        if "train" not in split_dirs:
            raise DataError(f"'{source_label}' has a {'/'.join(d.name for d in split_dirs.values())} folder but no "
                            "train/ folder: put the training images and masks in train/images/ and train/masks/.")
        test_dir = split_dirs.get("test") or split_dirs.get("validation")
        train = _pairs_in(split_dirs["train"], root, skipped, warnings)
        if test_dir is not None:
            test = _pairs_in(test_dir, root, skipped, warnings)
            return finish(train, test, names, source_label, f"{test_dir.name}/ folder", skipped, warnings,
                           settings)
        pairs = train
    else:
        pairs = _pairs_in(root, root, skipped, warnings)
    return finish(pairs, None, names, source_label, None, skipped, warnings, settings, test_fraction, seed)


def labels_in_zip(path) -> list[str] | None:
    """``labels.txt`` read from a zip without unpacking anything else (the shallowest one)."""
    try:
        with zipfile.ZipFile(path) as zf:
            hits = [i for i in zf.infolist() if i.filename.replace("\\", "/").rsplit("/", 1)[-1] == LABELS_FILE
                    and not any(_is_hidden(p) for p in i.filename.replace("\\", "/").split("/"))]
            if not hits:
                return None
            info = min(hits, key=lambda i: i.filename.count("/"))
            if info.file_size > MAX_LABELS_BYTES:
                raise DataError(f"{LABELS_FILE} in the zip is over {MAX_LABELS_BYTES // 1024} KB; it lists class "
                                "names, one a line.")
            with zf.open(info) as f:
                raw = f.read(MAX_LABELS_BYTES + 1)
    except (zipfile.BadZipFile, OSError):
        return None  # extract_zip says what is wrong with the zip
    if len(raw) > MAX_LABELS_BYTES:
        raise DataError(f"{LABELS_FILE} in the zip is over {MAX_LABELS_BYTES // 1024} KB.")
    return parse_labels(raw.decode("utf-8", errors="replace"))


def load_mask_upload(path, *, labels=None, test_fraction: float = 0.2, seed: int = 0,
                     settings: Settings | None = None, delete: bool = True) -> MaskData:
    """A zip of images/ + masks/ + labels.txt, unpacked within the budgets by :func:`extract_zip`
    (deleted afterwards with ``delete``, used or refused)."""
    from tlweb.engine.data import discard_upload, extract_zip

    settings = settings or get_settings()
    path = Path(path)
    try:
        names = class_list(labels, settings=settings) or labels_in_zip(path)
        root, skipped = extract_zip(path, settings)
        skipped = [s for s in skipped if not s.split(":", 1)[0].endswith(LABELS_FILE)]
        return load_mask_folder(root, source_label=clip(path.name), test_fraction=test_fraction, seed=seed,
                                settings=settings, pre_skipped=skipped, zip_labels=names)
    finally:
        if delete:
            discard_upload(path)


def from_pairs(pairs, class_names, *, test_fraction: float = 0.2, seed: int = 0,
               settings: Settings | None = None, source: str = "uploads") -> MaskData:
    """Image + mask pairs a person uploaded: ``[(image path or bytes, mask path or bytes), …]``."""
    settings = settings or get_settings()
    names = class_list(class_names, settings=settings)
    if not names:
        raise DataError("Name the classes (one a line: line 1 = class 0, the value 0 in the masks).")
    items = []
    for i, pair in enumerate(pairs or []):
        img, mask = pair[0], pair[1]
        if img is None or mask is None:
            continue
        shown = Path(img).name if isinstance(img, (str, os.PathLike)) else f"image {i + 1}"
        mask_shown = Path(mask).name if isinstance(mask, (str, os.PathLike)) else f"the mask of {shown}"
        items.append((img, mask, shown, mask_shown))
    return finish(items, None, names, source, None, [], [], settings, test_fraction, seed)


# --------------------------------------------------------------------------- checks and splits


def image_size(src, settings: Settings, name: str) -> tuple[int, int]:
    """(width, height) of an image as :func:`load_image` shows it (EXIF rotation applied), from its header."""
    from PIL import Image

    from tlweb.engine import images

    if isinstance(src, Image.Image):
        img = src
    elif isinstance(src, (str, os.PathLike)):
        img = images._guarded(lambda path, *_: Image.open(path), str(src), settings, clip(name))
    else:
        img = images._guarded(images._open, bytes(src), settings, clip(name))
    images._check_pixels(img.size, settings, clip(name))
    w, h = img.size
    try:
        orientation = img.getexif().get(0x0112, 1)
    except Exception:  # noqa: BLE001 - a broken EXIF block: as stored
        orientation = 1
    return (h, w) if orientation in (5, 6, 7, 8) else (w, h)


def check_pair(img, mask, num_classes: int, name: str, mname: str, settings: Settings):
    """(present classes, image size) of one pair; ImageError when a file cannot be read (skipped),
    DataError when the pair is wrong (refused)."""
    from tlweb.engine.data.folders import check_image_file

    for src, shown in ((img, name), (mask, mname)):
        if isinstance(src, (str, os.PathLike)):
            problem = check_image_file(src, settings)
            if problem:
                raise ImageError(f"{shown}: {problem}")
    size = image_size(img, settings, name)
    arr = read_mask(mask, settings, mname)
    return check_mask(arr, num_classes, mname, size, name), size


def scan_pairs(items, num_classes: int, settings: Settings, skipped: list[str], on_progress=None):
    """Check every (image, mask, name, mask name) item, in threads; returns the kept ones with their presence
    rows and sizes. The first bad pair (in the given order) raises its sentence."""
    import numpy as np

    results: list = [None] * len(items)

    def work(i):
        img, mask, name, mname = items[i]
        try:
            results[i] = ("ok", *check_pair(img, mask, num_classes, name, mname, settings))
        except ImageError as exc:
            text = str(exc)
            results[i] = ("skip", text if text.startswith(name) else f"{name}: {text}")
        except DataError as exc:
            results[i] = ("bad", exc)

    workers = max(1, min(8, os.cpu_count() or 2))
    if len(items) > 16 and workers > 1:
        with cf.ThreadPoolExecutor(workers) as pool:
            for k, _ in enumerate(pool.map(work, range(len(items)))):
                if on_progress and k % 64 == 0:
                    on_progress(k, len(items))
    else:
        for i in range(len(items)):
            work(i)
    kept, present, sizes = [], [], []
    for item, res in zip(items, results):
        if res[0] == "bad":
            raise res[1]
        if res[0] == "skip":
            skipped.append(res[1])
            continue
        kept.append(item)
        present.append(res[1])
        sizes.append(res[2])
    pres = np.stack(present) if present else np.zeros((0, num_classes), dtype=bool)
    return kept, pres, sizes


def _split_of(items, present, sizes) -> MaskSplit:
    return MaskSplit([i[0] for i in items], [i[1] for i in items], [i[2] for i in items], present, list(sizes))


def held_out(n: int, test_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """A seeded random hold-out: round(n·fraction) test items, at least one of each side."""
    import numpy as np

    if not 0 < test_fraction < 1:
        raise DataError("The test fraction must be between 0 and 1 (for example 0.2).")
    if n < 2:
        raise DataError("Holding out a test image needs at least 2 images with masks.")
    perm = np.random.default_rng(seed).permutation(n)
    n_test = min(n - 1, max(1, int(round(n * test_fraction))))
    return sorted(int(i) for i in perm[n_test:]), sorted(int(i) for i in perm[:n_test])


def finish(train_items, test_items, names, source, test_from, skipped, warnings, settings, test_fraction=0.2,
            seed=0) -> MaskData:
    """Checked pairs → :class:`MaskData`: the test split given, or a seeded hold-out of ``test_fraction``."""
    k = len(names)
    train_items, train_pres, train_sizes = scan_pairs(train_items, k, settings, skipped)
    if not train_items:
        raise DataError(f"'{source}' has no readable image with a mask"
                        + (" in train/." if test_items is not None else "."))
    if test_items is None:
        tr, te = held_out(len(train_items), test_fraction, seed)
        split = _split_of(train_items, train_pres, train_sizes)
        train, test = split.select(tr), split.select(te)
        test_from = f"held-out {round(test_fraction * 100)}%"
    else:
        test_items, test_pres, test_sizes = scan_pairs(test_items, k, settings, skipped)
        if not test_items:
            raise DataError(f"The {test_from} of '{source}' has no readable image with a mask.")
        train = _split_of(train_items, train_pres, train_sizes)
        test = _split_of(test_items, test_pres, test_sizes)
    absent = [n for n, c in zip(names, train.present.sum(axis=0)) if c == 0]
    if absent:
        warnings.append(f"{len(absent)} class{'es' if len(absent) > 1 else ''} ({', '.join(clip(a, 30) for a in absent[:5])}"
                        f"{' …' if len(absent) > 5 else ''}) occur in no training mask.")
    return MaskData(train, test, list(names), source, test_from, skipped, warnings)


def subsample_masks(data: MaskData, per_class: int, seed: int = 0) -> MaskData:
    """Few masks per class, for the data-efficiency curve: training images in a seeded order, each kept when
    its mask holds a class that has fewer than ``per_class`` kept images so far. Every class then occurs in
    at least ``per_class`` kept masks (or in all it had); a class sharing images with others may occur in
    more. The test split is untouched."""
    import numpy as np

    per_class = int(per_class)
    if per_class < 1:
        raise DataError("Masks per class must be at least 1.")
    base = data.base if data.base is not None else data
    base_rows = data.train_rows if data.base is not None else list(range(len(data.train)))
    present = np.asarray(data.train.present, dtype=bool)
    have = np.zeros(present.shape[1], dtype=np.int64)
    picked = []
    for i in np.random.default_rng(seed).permutation(len(data.train)):
        if (present[i] & (have < per_class)).any():
            picked.append(int(i))
            have += present[i]
    picked.sort()
    return MaskData(data.train.select(picked), data.test, list(data.class_names), data.source, data.test_from,
                    list(data.skipped), list(data.warnings), base=base, train_rows=[base_rows[i] for i in picked])
