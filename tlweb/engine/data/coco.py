"""Detection folders (and unpacked zips) → :class:`~tlweb.engine.data.detection.DetectionData`.

**COCO**: one annotation file per split — Roboflow's ``train/_annotations.coco.json`` (with
``valid/`` and ``test/``), a lone ``annotations.json``, or COCO's own
``annotations/instances_train2017.json`` next to ``train2017/``. A file is a split by its folder's name
(``train``, ``valid`` …) or by a split word in its own name. Each ``file_name`` is looked up among the
pictures found under the dataset's folder (relative to the annotation file, to the dataset's folder,
or by its base name when that is unique), never as a path of its own, so an annotation cannot point
outside the dataset.

**YOLO**: ``classes.txt`` (one class name per line) and, for every picture, a ``.txt`` with one
``class cx cy w h`` line per box (normalised to 0–1) in a ``labels/`` folder beside ``images/`` or
next to the picture; ``train/``, ``valid/``, ``test/`` split folders optional. A picture without a
label file is a negative.

Both: unknown category ids / class numbers are refused, naming them; boxes are cleaned by
:class:`~tlweb.engine.data.detection.BoxCleaner`.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from tlweb.config import Settings
from tlweb.engine.data.boxes import BoxCleaner, DetectionData, DetItem, finish, from_hf_objects, oriented_size
from tlweb.engine.data.folders import _descend, _image_ext, _split_kind, _walk_files, check_image_file
from tlweb.errors import DataError, clip, first_line

ANNOTATION_NAMES = ("_annotations.coco.json", "annotations.json")
MAX_JSON_BYTES = 64 * 1024**2  # one annotation file (COCO val2017: 25 MB; a larger one would take GBs to parse)
MAX_FILES = 40_000  # files looked at under a dataset folder (pictures + label files)
MAX_SCAN_DEPTH = 4
_SPLIT_WORD = re.compile(r"(?:^|[^a-z])(train|training|valid|validation|val|dev|test|testing)(?:[^a-z]|\d|$)")


def read_folder(folder: Path, label: str, *, split: str | None = None, test_fraction: float = 0.2, seed: int = 0,
                settings: Settings, image_column: str | None = None,
                pre_skipped: list[str] | None = None) -> DetectionData:
    """A folder holding a COCO or YOLO dataset, or a saved / parquet dataset with an ``objects`` column."""
    folder = Path(folder)
    if (folder / "dataset_dict.json").exists() or (folder / "state.json").exists() \
            or list(folder.glob("*.parquet")) or list(folder.glob("data/*.parquet")):
        import datasets

        try:
            if (folder / "dataset_dict.json").exists() or (folder / "state.json").exists():
                loaded = datasets.load_from_disk(str(folder))
            else:
                loaded = datasets.load_dataset(str(folder))
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"The saved dataset in '{label}' could not be read: {first_line(exc)}") from None
        return from_hf_objects(loaded, label, split, test_fraction, seed, image_column)
    root = _descend(folder)
    files = _scan(root)
    images = {p.relative_to(root).as_posix(): p for p in files if _image_ext(p.name)}
    annotations = [p for p in files if p.suffix.lower() == ".json" and _looks_like_coco(p)]
    skipped = list(pre_skipped or [])
    if annotations:
        return _read_coco(root, label, annotations, images, skipped, test_fraction, seed, settings)
    classes = [p for p in files if p.name.lower() in ("classes.txt", "obj.names")]
    if classes:
        return _read_yolo(root, label, sorted(classes, key=lambda p: len(p.parts))[0], files, images, skipped,
                          test_fraction, seed, settings)
    raise DataError(f"'{label}' holds no detection annotations: give COCO (annotations.json or "
                    "_annotations.coco.json beside the pictures) or YOLO (classes.txt and a .txt of boxes per picture).")


def _scan(root: Path) -> list[Path]:
    out = []
    for p in _walk_files(root):
        if len(p.relative_to(root).parts) > MAX_SCAN_DEPTH + 1:
            continue
        if p.is_symlink():
            continue
        out.append(p)
        if len(out) > MAX_FILES:
            raise DataError(f"The dataset has more than {MAX_FILES:,} files, the limit; use a smaller subset.")
    return out


def _looks_like_coco(path: Path) -> bool:
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            return False
        with open(path, "rb") as f:
            head = f.read(1 << 16)
    except OSError:
        return False
    return path.name.lower() in ANNOTATION_NAMES or (b'"images"' in head or b'"annotations"' in head)


def _split_of(path: Path, root: Path) -> str:
    """train | validation | test | all: by the annotation file's folder, else by a word in its name."""
    for part in reversed(path.relative_to(root).parts[:-1]):
        kind = _split_kind(part)
        if kind:
            return kind
    m = _SPLIT_WORD.search(path.stem.lower())
    return (_split_kind(m.group(1)) or "all") if m else "all"


def _load_json(path: Path, root: Path) -> dict:
    rel = path.relative_to(root).as_posix()
    if path.stat().st_size > MAX_JSON_BYTES:
        raise DataError(f"The annotation file '{clip(rel)}' is over {MAX_JSON_BYTES // 1024**2} MB, the limit.")
    try:
        coco = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError) as exc:
        raise DataError(f"The annotation file '{clip(rel)}' is not valid JSON ({first_line(exc, 80)}).") from None
    if not isinstance(coco, dict) or not isinstance(coco.get("images"), list) \
            or not isinstance(coco.get("annotations", []), list) or not isinstance(coco.get("categories"), list):
        raise DataError(f"The annotation file '{clip(rel)}' is not COCO: it needs lists of 'images', "
                        "'annotations' and 'categories'.")
    return coco


def _categories(files: dict[str, dict], root: Path) -> dict[int, str]:
    """{COCO category id: name} over every split's file; the same id must name the same class."""
    cats: dict[int, str] = {}
    for rel, coco in files.items():
        for c in coco["categories"]:
            if not isinstance(c, dict) or "id" not in c:
                raise DataError(f"A category in '{clip(rel)}' has no id.")
            try:
                cid = int(c["id"])
            except (TypeError, ValueError):
                raise DataError(f"The category id '{clip(str(c['id']), 20)}' in '{clip(rel)}' is not a number.") from None
            name = " ".join(str(c.get("name", cid)).split())[:100] or str(cid)
            if cid in cats and cats[cid] != name:
                raise DataError(f"The category id {cid} is '{clip(cats[cid], 30)}' in one annotation file and "
                                f"'{clip(name, 30)}' in another: the splits must share one category list.")
            cats[cid] = name
    return cats


def _roboflow_parent(files: dict[str, dict], cats: dict[int, str], used: set[int]) -> int | None:
    """Roboflow exports add the dataset's own name as a category (id 0) that no box uses and that every
    real category names as its supercategory: that id, or None."""
    unused = [cid for cid in cats if cid not in used]
    if len(unused) != 1 or len(cats) < 2:
        return None
    cid = unused[0]
    supers = {str(c.get("supercategory")) for coco in files.values() for c in coco["categories"]
              if isinstance(c, dict) and c.get("id") != cid}
    return cid if supers == {cats[cid]} else None


def _read_coco(root: Path, label: str, paths: list[Path], images: dict[str, Path], skipped: list[str],
               test_fraction: float, seed: int, settings: Settings) -> DetectionData:
    by_split: dict[str, Path] = {}
    for p in sorted(paths, key=lambda q: (len(q.parts), q.name.lower() not in ANNOTATION_NAMES)):
        kind = _split_of(p, root)
        if kind in by_split:
            if len(p.parts) > len(by_split[kind].parts):
                continue  # a deeper copy (a backup, an export's extra): the shallower one wins
            raise DataError(f"'{label}' has two annotation files for the {kind if kind != 'all' else 'same'} split "
                            f"('{clip(by_split[kind].relative_to(root).as_posix())}' and "
                            f"'{clip(p.relative_to(root).as_posix())}'): keep one.")
        by_split[kind] = p
    if "all" in by_split and len(by_split) > 1:
        by_split = {"all": by_split["all"]}
    files = {p.relative_to(root).as_posix(): _load_json(p, root) for p in by_split.values()}
    cats = _categories(files, root)
    used: set[int] = set()
    for coco in files.values():
        for a in coco["annotations"]:
            if isinstance(a, dict) and not a.get("iscrowd"):
                try:
                    used.add(int(a.get("category_id")))
                except (TypeError, ValueError):
                    pass
    warnings = []
    parent = _roboflow_parent(files, cats, used)
    if parent is not None:
        warnings.append(f"The category '{clip(cats[parent], 40)}' has no boxes and is every other category's "
                        "supercategory (the dataset's own name in Roboflow exports): left out.")
        del cats[parent]
    unknown = sorted(used - set(cats))
    if unknown:
        raise DataError(f"Boxes use the category id{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(map(str, unknown[:8]))}{' …' if len(unknown) > 8 else ''}, which the "
                        "categories list does not name: fix the annotation file.")
    ids = sorted(cats)
    index = {cid: i for i, cid in enumerate(ids)}
    names = [cats[c] for c in ids]
    empty = [cats[c] for c in ids if c not in used]
    if empty:
        warnings.append(f"{len(empty)} categor{'ies have' if len(empty) > 1 else 'y has'} no boxes "
                        f"({', '.join(clip(n, 30) for n in empty[:5])}); the model still gets a class for each.")
    cleaner = BoxCleaner()
    by_base: dict[str, list[Path]] = {}
    for p in images.values():
        by_base.setdefault(p.name, []).append(p)
    splits: dict[str, list[DetItem]] = {}
    crowd = [0]
    for kind, path in by_split.items():
        coco = files[path.relative_to(root).as_posix()]
        splits["train" if kind == "all" else kind] = _coco_items(coco, path, root, images, by_base, index,
                                                                cleaner, skipped, crowd, settings)
    if crowd[0]:
        warnings.append(f"{crowd[0]} crowd annotation{'s' if crowd[0] > 1 else ''} (iscrowd=1) left out of training.")
    return finish(splits, names, label, skipped, warnings + cleaner.warnings(), test_fraction, seed)


def _find_image(file_name, ann_dir: Path, root: Path, images: dict[str, Path], by_base: dict[str, list[Path]]):
    name = str(file_name).replace("\\", "/").lstrip("./") if file_name is not None else ""
    if not name:
        return None
    rel_dir = ann_dir.relative_to(root).as_posix()
    for cand in (f"{rel_dir}/{name}" if rel_dir != "." else name, f"{rel_dir}/images/{name}", name, f"images/{name}"):
        cand = re.sub(r"^\./", "", cand)
        if cand in images:
            return images[cand]
    same = by_base.get(name.rsplit("/", 1)[-1], [])
    return same[0] if len(same) == 1 else None


def _coco_items(coco: dict, path: Path, root: Path, images: dict[str, Path], by_base, index: dict[int, int],
                cleaner: BoxCleaner, skipped: list[str], crowd: list[int], settings: Settings) -> list[DetItem]:
    per_image: dict[object, list[dict]] = {}
    for a in coco["annotations"]:
        if isinstance(a, dict):
            per_image.setdefault(a.get("image_id"), []).append(a)
    items = []
    seen = set()
    for im in coco["images"]:
        if not isinstance(im, dict):
            continue
        file_name = im.get("file_name")
        shown = clip(str(file_name), 80)
        found = _find_image(file_name, path.parent, root, images, by_base)
        if found is None:
            skipped.append(f"{shown}: named in {path.name} but not found beside it")
            continue
        if found in seen:
            continue
        seen.add(found)
        problem = check_image_file(found, settings)
        size = None if problem else oriented_size(found)
        if problem or size is None:
            skipped.append(f"{shown}: {problem or 'not an image'}")
            continue
        given = (im.get("width"), im.get("height"))
        if all(isinstance(v, (int, float)) and v > 0 for v in given) and tuple(int(v) for v in given) != size:
            skipped.append(f"{shown}: {int(given[0])}×{int(given[1])} in {path.name} but the picture is "
                           f"{size[0]}×{size[1]}")
            continue
        boxes, labels = [], []
        for a in per_image.get(im.get("id"), []):
            if a.get("iscrowd"):
                crowd[0] += 1
                continue
            b = cleaner.box(a.get("bbox"), *size)
            if b is not None:
                boxes.append(b)
                labels.append(index[int(a["category_id"])])
        items.append(cleaner.item(DetItem(str(found), found.relative_to(root).as_posix(), size[0], size[1],
                                          boxes, labels)))
    return items


# --------------------------------------------------------------------------- YOLO


def _read_yolo(root: Path, label: str, classes_file: Path, files: list[Path], images: dict[str, Path],
               skipped: list[str], test_fraction: float, seed: int, settings: Settings) -> DetectionData:
    try:
        lines = classes_file.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        raise DataError(f"'{classes_file.name}' could not be read.") from None
    names = [" ".join(n.split())[:100] for n in lines if n.strip()]
    if not names:
        raise DataError(f"'{classes_file.name}' names no classes: write one class name per line.")
    texts = {p.relative_to(root).as_posix(): p for p in files if p.suffix.lower() == ".txt" and p != classes_file}
    cleaner = BoxCleaner()
    splits: dict[str, list[DetItem]] = {}
    unknown: set[str] = set()
    for rel, img in sorted(images.items()):
        parts = rel.split("/")
        kind = next((k for k in (_split_kind(p) for p in parts[:-1]) if k), "train")
        problem = check_image_file(img, settings)
        size = None if problem else oriented_size(img)
        if problem or size is None:
            skipped.append(f"{clip(rel, 80)}: {problem or 'not an image'}")
            continue
        stem = rel.rsplit(".", 1)[0]
        cands = [stem + ".txt"]
        if "images" in parts[:-1]:
            i = len(parts) - 2 - parts[:-1][::-1].index("images")
            cands.insert(0, "/".join(parts[:i] + ["labels"] + parts[i + 1:]).rsplit(".", 1)[0] + ".txt")
        txt = next((texts[c] for c in cands if c in texts), None)
        boxes, labels = [], []
        if txt is not None:
            for line in txt.read_text(encoding="utf-8", errors="replace").splitlines()[:10_000]:
                fields = line.split()
                if not fields:
                    continue
                if len(fields) < 5:
                    cleaner.dropped += 1
                    continue
                try:
                    c = int(float(fields[0]))
                    cx, cy, w, h = (float(v) for v in fields[1:5])
                except ValueError:
                    cleaner.dropped += 1
                    continue
                if not 0 <= c < len(names):
                    unknown.add(fields[0])
                    continue
                b = cleaner.box([(cx - w / 2) * size[0], (cy - h / 2) * size[1], w * size[0], h * size[1]], *size)
                if b is not None:
                    boxes.append(b)
                    labels.append(c)
        splits.setdefault(kind, []).append(cleaner.item(DetItem(str(img), rel, size[0], size[1], boxes, labels)))
    if unknown:
        raise DataError(f"Label files use the class number{'s' if len(unknown) > 1 else ''} "
                        f"{', '.join(sorted(unknown)[:8])}, which {classes_file.name} (classes 0–{len(names) - 1}) "
                        "does not name.")
    if not splits:
        raise DataError(f"'{label}' has a {classes_file.name} but no readable pictures.")
    return finish(splits, names, label, skipped, cleaner.warnings(), test_fraction, seed)
