"""Detection datasets: pictures with boxes → :class:`DetectionData`.

Sources (:func:`load_detection_data`): COCO (``annotations.json`` or Roboflow's
``_annotations.coco.json``, optionally in ``train/``, ``valid/``, ``test/``) and YOLO txt labels with
a ``classes.txt`` — as a folder or a zip (:mod:`.coco` reads both) —, a Hugging Face dataset with an
``objects`` column (``bbox`` in COCO ``[x, y, width, height]`` pixels, ``category``), and the built-in
generated ``sample`` (circles, squares and triangles: :mod:`.scenes`).

Every reader cleans the boxes the same way (:class:`BoxCleaner`): boxes partly outside their picture
are clipped, boxes wholly outside or of zero area are dropped, both counted in ``warnings``; pictures
without boxes stay as negatives (said). Classes are the dataset's categories, numbered 0…K−1 in the
order of their ids whatever those ids were (no background, no "N/A").
"""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from tlweb import access
from tlweb.config import Settings, get_settings
from tlweb.engine.data.boxes import (
    MAX_BOXES,
    MAX_IMAGES,
    TASK,
    BoxCleaner,
    DetectionData,
    DetItem,
    finish,
    from_hf_objects,
    held_out,
    oriented_size,
    subsample,
)
from tlweb.engine.data.coco import read_folder
from tlweb.errors import DataError, clip, first_line

__all__ = ["MAX_BOXES", "MAX_IMAGES", "TASK", "BoxCleaner", "DetItem", "DetectionData", "detection_sample", "finish",
           "from_hf_objects", "held_out", "load_detection_data", "load_detection_upload", "load_hub_detection",
           "oriented_size", "subsample"]

SAMPLE_VERSION = 1
_SAMPLE_LOCK = threading.Lock()


# --------------------------------------------------------------------------- entry point


def load_detection_data(source, *, split: str | None = None, image_column: str | None = None,
                        test_fraction: float = 0.2, seed: int = 0, settings: Settings | None = None) -> DetectionData:
    """A detection dataset from a folder or zip (COCO or YOLO), a saved / parquet / Hub dataset with an
    ``objects`` column, or ``"sample"``. As :func:`tlweb.engine.data.load_data`: folders and zips on
    this machine are read in local mode only; in shared mode ``source`` is the sample or a Hub id."""
    settings = settings or get_settings()
    if source is None or not str(source).strip():
        raise DataError("Give a detection dataset: a COCO or YOLO folder or zip, a Hugging Face dataset id "
                        "with an 'objects' column, or 'sample'.")
    source = str(source).strip()
    if source in ("sample", "builtin", "sample:shapes"):
        return detection_sample(settings)
    if not settings.shared:
        path = Path(source).expanduser()
        try:
            exists = path.exists()
        except OSError:
            exists = False
        if exists and path.is_dir():
            return read_folder(path, clip(source), split=split, test_fraction=test_fraction, seed=seed,
                               settings=settings, image_column=image_column)
        if exists:
            return load_detection_upload(path, test_fraction=test_fraction, seed=seed, settings=settings,
                                         delete=False)
        if source.startswith(("/", "./", "../", "~")) or "\\" in source or source.lower().endswith(".zip"):
            raise DataError(f"The dataset path '{clip(source)}' does not exist.")
    return load_hub_detection(source, split=split, image_column=image_column, test_fraction=test_fraction,
                              seed=seed, settings=settings)


def load_hub_detection(hub_id: str, *, split: str | None = None, image_column: str | None = None,
                       test_fraction: float = 0.2, seed: int = 0, settings: Settings | None = None) -> DetectionData:
    """A Hugging Face detection dataset by id (checked as an id in every mode)."""
    import datasets

    from tlweb.engine.data.hub import fetch_hub, hub_source

    settings = settings or get_settings()
    source = hub_source(hub_id, settings)
    image_column = access.column_name(image_column, "image column")
    split = access.column_name(split, "split")
    if "," in (split or ""):
        raise DataError("Give one split name (the training split); the test split is found by its name.")
    loaded, rest = fetch_hub(source, split, settings)
    if rest and not isinstance(loaded, datasets.Dataset):
        split = rest
    else:
        split = None
    return from_hf_objects(loaded, source, split, test_fraction, seed, image_column)


def load_detection_upload(path, *, test_fraction: float = 0.2, seed: int = 0, settings: Settings | None = None,
                          delete: bool = True) -> DetectionData:
    """A zip of a COCO or YOLO dataset: unpacked within the zip budgets (images plus ``.json`` and
    ``.txt`` annotation files), then read as a folder; with ``delete`` the zip goes afterwards."""
    import zipfile

    from tlweb.engine.data import discard_upload
    from tlweb.engine.data.folders import extract_zip

    settings = settings or get_settings()
    path = Path(path)
    try:
        if not zipfile.is_zipfile(path):
            raise DataError(f"'{clip(path.name)}' is a file but not a .zip: give a COCO or YOLO folder or a zip of one.")
        root, skipped = extract_zip(path, settings, keep=(".json", ".txt"))
        return read_folder(root, clip(path.name), test_fraction=test_fraction, seed=seed, settings=settings,
                           pre_skipped=skipped)
    finally:
        if delete:
            discard_upload(path)


def detection_sample(settings: Settings | None = None) -> DetectionData:
    """The built-in detection sample: generated pictures of circles, squares and triangles (1–2 a
    picture, 96 px), 60 train / 20 test, written once as a Roboflow-style COCO folder."""
    import os

    from tlweb.engine.data.boxscenes import write_detection_dataset

    settings = settings or get_settings()
    root = settings.cache_dir / f"detection-sample-v{SAMPLE_VERSION}"
    with _SAMPLE_LOCK:
        if not (root / ".complete").exists():
            tmp = root.with_name(root.name + f".tmp{os.getpid()}")
            shutil.rmtree(tmp, ignore_errors=True)
            write_detection_dataset(tmp, train=60, test=20, size=96, seed=4321)
            (tmp / ".complete").write_text("ok")
            shutil.rmtree(root, ignore_errors=True)
            tmp.rename(root)
    try:
        data = read_folder(root, "sample", settings=settings)
    except DataError as exc:  # pragma: no cover - our own files
        raise DataError(f"The built-in detection sample could not be read: {first_line(exc)}") from None
    data.source = "sample"
    return data
