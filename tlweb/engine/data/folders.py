"""Class folders, zips of them, and per-class uploads → :class:`PreparedData`.

Folders and zips use the imagefolder layout (one folder per class, optional ``train/`` and
``test/`` — or ``validation/`` — split folders). They are scanned here rather than through
``load_dataset("imagefolder")``: the builder took ~12 s for 10,000 small files on 2 cores where
a scan + header check + ``Dataset.from_dict`` takes ~0.5 s, and a scan lets us skip and report
every unreadable file instead of failing later.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import threading
import zipfile
from pathlib import Path

from tlweb import access
from tlweb.config import Settings, get_settings
from tlweb.engine import budget
from tlweb.engine.data.hub import _from_hf
from tlweb.engine.data.prepared import (
    SPLIT_NAMES,
    PreparedData,
    _check_classes,
    _finish_single,
    _paths_dataset,
)
from tlweb.errors import DataError, clip, first_line

# Zip limits (a dataset is bigger than a single image upload, but not unbounded).
MAX_ZIP_BYTES = 2 * 1024**3  # the zip file itself
MAX_UNZIPPED_BYTES = 4 * 1024**3  # default of Settings.max_unzipped_mb: all entries together
MAX_FILES = 20_000  # entries in a zip / images in a folder
MAX_RATIO = 100  # uncompressed/compressed, for the whole zip and for each entry over 1 MB: a zip bomb beyond
RATIO_FLOOR = 8 * 1024**2  # below this many unpacked bytes in all, no ratio is a bomb


def from_class_uploads(classes: dict[str, list[str]], *, test_fraction: float = 0.2, seed: int = 0,
                       settings: Settings | None = None) -> PreparedData:
    """Teachable-Machine style: ``{class name: [image paths]}`` → a held-out stratified split."""
    settings = settings or get_settings()
    if not classes:
        raise DataError("Add at least two classes with a few images each.")
    names: list[str] = []
    paths: list[str] = []
    labels: list[int] = []
    skipped: list[str] = []
    seen = set()
    for raw_name, files in classes.items():
        name = str(raw_name or "").strip()
        if not name:
            raise DataError("Every class needs a name: one of the classes has an empty name.")
        if name in seen:
            raise DataError(f"Two classes are both called '{name}': give each class its own name.")
        seen.add(name)
        idx = len(names)
        names.append(name)
        for f in files or []:
            p = str(f)
            problem = check_image_file(p, settings)
            if problem:
                skipped.append(f"{name}/{Path(p).name}: {problem}")
                continue
            paths.append(p)
            labels.append(idx)
    ds = _paths_dataset(paths, labels, names)
    return _finish_single(ds, names, "uploads", skipped, test_fraction, seed)


def check_image_file(path: str | os.PathLike, settings: Settings) -> str | None:
    """A cheap check (header only): None when the file looks like a readable image, else why not."""
    from PIL import Image, UnidentifiedImageError

    import tlweb.engine.images  # noqa: F401 - sets PIL's fixed pixel ceiling once

    p = Path(path)
    try:
        size = p.stat().st_size
    except OSError:
        return "missing"
    if size == 0:
        return "empty file"
    if size > settings.max_upload_bytes:
        return f"larger than {settings.max_upload_mb} MB"
    try:
        with Image.open(p) as im:  # the header only; PIL's fixed ceiling is a backstop, the limit is ours
            w, h = im.size
    except Image.DecompressionBombError:
        return f"over the {settings.max_pixels / 1e6:.0f}-megapixel limit"
    except UnidentifiedImageError:
        return "not an image"
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        return f"corrupt ({first_line(exc, 60)})"
    if w <= 0 or h <= 0:
        return "no pixels"
    if w * h > settings.max_pixels:
        return f"{w}×{h} pixels is over the {settings.max_pixels / 1e6:.0f}-megapixel limit"
    return None


def _is_hidden(name: str) -> bool:
    return name.startswith(".") or name in ("__MACOSX", "Thumbs.db", "desktop.ini")


def _image_ext(name: str) -> bool:
    from tlweb.engine.images import IMAGE_EXTENSIONS

    return Path(name).suffix.lower() in IMAGE_EXTENSIONS


def _walk_files(folder: Path):
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not _is_hidden(d))
        for f in sorted(filenames):
            if not _is_hidden(f):
                yield Path(dirpath) / f


def _split_kind(name: str) -> str | None:
    low = name.lower()
    for kind, names in SPLIT_NAMES.items():
        if low in names:
            return kind
    return None


def _subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.is_symlink() and not _is_hidden(p.name))


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and not _is_hidden(p.name))


def _descend(root: Path) -> Path:
    """A zip often wraps everything in one folder: step into single folders that hold no files."""
    for _ in range(5):
        subs = _subdirs(root)
        if len(subs) == 1 and not _files(root) and _split_kind(subs[0].name) is None:
            inner = _subdirs(subs[0])
            if inner:  # the single folder holds class (or split) folders → step in
                root = subs[0]
                continue
        break
    return root


def _scan_classes(folder: Path, settings: Settings, rel_to: Path, skipped: list[str], budget: list[int]):
    """{class name: [image paths]} for one split folder; non-images and corrupt files reported."""
    loose = [f for f in _files(folder) if _image_ext(f.name)]
    classes: dict[str, list[str]] = {}
    for sub in _subdirs(folder):
        good: list[str] = []
        for f in _walk_files(sub):
            budget[0] += 1
            if budget[0] > MAX_FILES:
                raise DataError(f"The dataset has more than {MAX_FILES:,} files, the limit; use a smaller subset.")
            rel = f.relative_to(rel_to).as_posix()
            if f.is_symlink():
                skipped.append(f"{rel}: a link, not a file")
                continue
            if not _image_ext(f.name):
                skipped.append(f"{rel}: not an image file")
                continue
            problem = check_image_file(f, settings)
            if problem:
                skipped.append(f"{rel}: {problem}")
                continue
            good.append(str(f))
        classes[sub.name] = good
    for f in _files(folder):
        if not _image_ext(f.name):
            skipped.append(f"{f.relative_to(rel_to).as_posix()}: not an image file")
    return classes, loose


def _load_folder(folder: Path, *, source_label: str, image_column=None, label_column=None, split=None,
                 test_fraction: float = 0.2, seed: int = 0, settings: Settings,
                 pre_skipped: list[str] | None = None) -> PreparedData:
    folder = Path(folder)
    # a dataset saved with save_to_disk, or parquet files: the Hub path's column logic applies
    if (folder / "dataset_dict.json").exists() or (folder / "state.json").exists():
        import datasets

        try:
            loaded = datasets.load_from_disk(str(folder))
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"The saved dataset in '{folder.name}' could not be read: {first_line(exc)}") from None
        return _from_hf(loaded, source_label, image_column, label_column, split, test_fraction, seed)
    if list(folder.glob("*.parquet")) or list(folder.glob("data/*.parquet")):
        import datasets

        try:
            loaded = datasets.load_dataset(str(folder))
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"The parquet dataset in '{folder.name}' could not be read: {first_line(exc)}") from None
        return _from_hf(loaded, source_label, image_column, label_column, split, test_fraction, seed)

    skipped: list[str] = list(pre_skipped or [])
    root = _descend(folder)
    budget = [0]
    split_dirs = {}
    for sub in _subdirs(root):
        kind = _split_kind(sub.name)
        if kind and kind not in split_dirs:
            split_dirs[kind] = sub
    if split_dirs:
        if "train" not in split_dirs:
            raise DataError(f"'{source_label}' has a {'/'.join(s.name for s in split_dirs.values())} folder "
                            "but no train/ folder: put the training images in train/<class>/.")
        train_classes, loose = _scan_classes(split_dirs["train"], settings, root, skipped, budget)
        if loose and not train_classes:
            raise DataError("The images in train/ must sit in one folder per class (train/<class>/image.jpg).")
        test_dir = split_dirs.get("test") or split_dirs.get("validation")
        if test_dir is not None:
            test_classes, _ = _scan_classes(test_dir, settings, root, skipped, budget)
            names = sorted(set(train_classes) | set(test_classes))
            _check_classes({n: train_classes.get(n, []) for n in names}, source_label, where="train/")
            missing = [n for n in test_classes if n not in train_classes]
            if missing:
                raise DataError(f"The class '{missing[0]}' is in {test_dir.name}/ but has no training images in train/.")
            if not any(test_classes.values()):
                raise DataError(f"The {test_dir.name}/ folder of '{source_label}' has no readable images.")
            train = _paths_dataset(*_flatten(train_classes, names), names)
            test = _paths_dataset(*_flatten(test_classes, names), names)
            return PreparedData(train, test, names, source_label, f"{test_dir.name}/ folder", skipped)
        classes = train_classes
    else:
        classes, loose = _scan_classes(root, settings, root, skipped, budget)
        if loose and not classes:
            raise DataError(f"'{source_label}' has images but no class folders: put each class in its own folder "
                            "(for example cats/1.jpg, dogs/1.jpg).")
    names = sorted(classes)
    _check_classes(classes, source_label)
    ds = _paths_dataset(*_flatten(classes, names), names)
    return _finish_single(ds, names, source_label, skipped, test_fraction, seed, checked=True)


def _flatten(classes: dict[str, list[str]], names: list[str]) -> tuple[list[str], list[int]]:
    paths, labels = [], []
    for i, n in enumerate(names):
        for p in classes.get(n, []):
            paths.append(p)
            labels.append(i)
    return paths, labels


# --------------------------------------------------------------------------- zips


def extract_zip(path: str | os.PathLike, settings: Settings | None = None,
                keep: tuple[str, ...] = ()) -> tuple[Path, list[str]]:
    """Extract a zip of class folders safely into the cache; returns (folder, skipped files).
    ``keep``: more suffixes to extract (detection's ``.json`` / ``.txt`` annotations), cached apart.

    Refused: files over :data:`MAX_ZIP_BYTES`, more than :data:`MAX_FILES` entries, more than
    ``Settings.max_unzipped_mb`` once extracted (all entries together, counted while writing, so a
    header that lies is caught), a compression ratio over :data:`MAX_RATIO` for the whole zip
    (many small entries) or for one large entry, more than the session may still unpack
    (``Settings.session_disk_mb``) or the home budget can hold, absolute paths, ``..`` components,
    links and encrypted entries. Non-image files are skipped and reported. The same zip (by content
    hash) is extracted once; an extraction that fails is deleted.
    """
    settings = settings or get_settings()
    path = Path(path)
    name = clip(path.name)
    try:
        size = path.stat().st_size
    except OSError:
        raise DataError(f"The zip '{name}' does not exist.") from None
    if size > MAX_ZIP_BYTES:
        raise DataError(f"The zip '{name}' is {size / 1024**3:.1f} GB; the limit is {MAX_ZIP_BYTES / 1024**3:.0f} GB.")
    digest = _file_sha(path)
    dest = settings.cache_dir / "zips" / (digest[:24] + ("-" + "".join(sorted(keep)).replace(".", "") if keep else ""))
    marker = dest / ".tlweb-complete"
    budget.hold(access.current_client(), dest)  # before looking: a session ending now keeps it for us
    if marker.exists():
        try:
            skipped_before = json.loads(marker.read_text())
            budget.touch(marker)
            return dest / "data", skipped_before
        except ValueError:
            pass
    try:
        zf = zipfile.ZipFile(path)
    except Exception as exc:  # noqa: BLE001 - BadZipFile, OSError, struct.error … all mean the same to the user
        raise DataError(f"'{name}' is not a readable zip file ({first_line(exc, 80)}).") from None
    skipped: list[str] = []
    with zf:
        infos = zf.infolist()
        files = [i for i in infos if i.filename and not i.filename.endswith("/")]  # ZipInfo.is_dir fails on ""
        if len(files) > MAX_FILES:
            raise DataError(f"The zip '{name}' has {len(files):,} files; the limit is {MAX_FILES:,}.")
        _check_sizes(path, infos, files, size, name, settings)
        plan = []
        for info in files:
            entry = info.filename.replace("\\", "/")
            parts = [p for p in entry.split("/") if p not in ("", ".")]
            if entry.startswith("/") or re.match(r"^[A-Za-z]:", entry) or ".." in parts:
                raise DataError(f"The zip '{name}' contains the path '{info.filename}', which points outside "
                                "the zip's folder; it was refused.")
            mode = (info.external_attr >> 16) & 0o170000
            if mode == stat.S_IFLNK:
                raise DataError(f"The zip '{name}' contains a link ('{info.filename}'); zips with links are refused.")
            if info.flag_bits & 0x1:
                raise DataError(f"The zip '{name}' is encrypted; unzip it with its password first.")
            if not parts or any(_is_hidden(p) for p in parts):  # "." or "./" names nothing (found by fuzzing)
                continue
            if not _image_ext(parts[-1]) and Path(parts[-1]).suffix.lower() not in keep:
                skipped.append(f"{'/'.join(parts)}: not an image file")
                continue
            if info.file_size > settings.max_upload_bytes:
                skipped.append(f"{'/'.join(parts)}: larger than {settings.max_upload_mb} MB")
                continue
            if info.file_size > 1024**2 and info.file_size > MAX_RATIO * max(1, info.compress_size):
                raise DataError(f"The zip '{name}' compresses '{info.filename}' more than {MAX_RATIO}:1, "
                                "like a zip bomb; it was refused.")
            plan.append((info, parts))
        if not plan:
            raise DataError(f"The zip '{name}' has no image files (JPEG, PNG, WebP, GIF, BMP, TIFF).")
        planned = sum(info.file_size for info, _ in plan)
        client = access.current_client()
        budget.make_room(planned, settings, what=f"Unpacking '{name}'")
        budget.charge(client, planned, settings, what=f"The zip '{name}'")
        tmp = dest.with_name(dest.name + f".tmp{os.getpid()}-{threading.get_ident()}")
        shutil.rmtree(tmp, ignore_errors=True)
        out_root = (tmp / "data").resolve()
        out_root.mkdir(parents=True)
        written = 0
        try:
            for info, parts in plan:
                target = out_root.joinpath(*parts).resolve()
                if out_root not in target.parents:
                    raise DataError(f"The zip '{name}' contains the path '{info.filename}', which points outside "
                                    "the zip's folder; it was refused.")
                target.parent.mkdir(parents=True, exist_ok=True)
                limit = info.file_size  # the entry's declared size; ``planned`` is all of them
                with zf.open(info) as src, open(target, "wb") as dst:
                    n = 0
                    while True:
                        chunk = src.read(1 << 20)
                        if not chunk:
                            break
                        n += len(chunk)
                        if n > limit or written + n > planned:  # a header lied about a size
                            raise DataError(f"The zip '{name}' declares a wrong size for '{info.filename}'; refused.")
                        dst.write(chunk)
                written += n
        except DataError:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        except Exception as exc:  # noqa: BLE001 - damaged streams raise zlib.error, struct.error … (fuzzing)
            shutil.rmtree(tmp, ignore_errors=True)
            raise DataError(f"The zip '{name}' is damaged and could not be unpacked "
                            f"({type(exc).__name__}).") from None
    (tmp / ".tlweb-complete").write_text(json.dumps(skipped))
    shutil.rmtree(dest, ignore_errors=True)
    try:
        tmp.rename(dest)
    except OSError:  # another process extracted the same zip meanwhile
        shutil.rmtree(tmp, ignore_errors=True)
    return dest / "data", skipped


def _check_sizes(path: Path, infos, files, size: int, name: str, settings: Settings) -> None:
    """What the headers claim, checked before anything is written: the total against
    ``TLWEB_MAX_UNZIPPED_MB``, entries whose data overlap, and the ratio against the file itself."""
    total = sum(i.file_size for i in files)
    limit = settings.max_unzipped_mb * 1024**2
    if total > limit:
        raise DataError(f"The zip '{name}' unpacks to {budget.human(total)}; the limit is {budget.human(limit)} "
                        "(TLWEB_MAX_UNZIPPED_MB).")
    overlap = _overlapping(path, infos)
    if overlap is not None:  # one entry's data quoting another's header: the sizes in the headers bound nothing
        raise DataError(f"The zip '{name}' has entries whose data overlap ('{clip(overlap)}'), like a zip bomb; "
                        "it was refused.")
    packed = min(size, sum(i.compress_size for i in files))  # never more than the file itself holds
    if total > RATIO_FLOOR and total > MAX_RATIO * max(1, packed):
        raise DataError(f"The zip '{name}' would unpack {budget.human(packed)} into {budget.human(total)}, "
                        f"more than {MAX_RATIO}:1 like a zip bomb; it was refused.")


def _overlapping(path: Path, infos) -> str | None:
    """The name of an entry whose bytes (local header, name, extra field, compressed data) overlap
    another entry's, else None. Each local header is read for its own name and extra lengths."""
    import struct

    spans = []
    damaged = DataError(f"The zip '{clip(path.name)}' is damaged (an entry's header is missing).")
    with open(path, "rb") as f:
        for info in infos:
            if info.header_offset < 0:
                raise damaged
            try:
                f.seek(info.header_offset)
                head = f.read(30)
            except (OSError, ValueError, OverflowError):
                raise damaged from None
            if len(head) < 30 or head[:4] != b"PK\x03\x04":
                raise damaged
            name_len, extra_len = struct.unpack("<HH", head[26:30])
            spans.append((info.header_offset, info.header_offset + 30 + name_len + extra_len + info.compress_size,
                          info.filename))
    spans.sort()
    for (_, end, _), (start, _, later) in zip(spans, spans[1:]):
        if start < end:
            return later
    return None


def _file_sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 22), b""):
            h.update(chunk)
    return h.hexdigest()
