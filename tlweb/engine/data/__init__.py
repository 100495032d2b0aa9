"""Datasets for fine-tuning: Hub ids, class folders, zips, per-class uploads, a built-in sample.

Everything ends up as a :class:`PreparedData`: two ``datasets.Dataset`` splits with an ``image``
column (``datasets.Image`` → RGB PIL) and a ``label`` column (``ClassLabel``), the class names,
where the test split came from, and what was skipped (corrupt files, non-images).

Modules: :mod:`.prepared` (the result type, shared checks, stratified split, subsample),
:mod:`.folders` (class folders, zips, per-class uploads), :mod:`.hub` (Hugging Face datasets,
column detection), :mod:`.shapes` (generated pictures, the built-in sample) and :mod:`.encode`
(decode once into uint8 tensors, cached). Everything public is importable from here.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from tlweb import access
from tlweb.config import Settings, get_settings
from tlweb.engine.data.encode import (
    Encoded,
    EncodedSplit,
    clear_encoded_cache,
    encode_split,
    image_bytes_png,
    image_sources,
    preprocess_uint8,
    processor_geometry,
    row_name,
)
from tlweb.engine.data.folders import (
    MAX_FILES,
    MAX_RATIO,
    MAX_UNZIPPED_BYTES,
    MAX_ZIP_BYTES,
    _load_folder,
    check_image_file,
    extract_zip,
    from_class_uploads,
)
from tlweb.engine.data.hub import _load_hub, detect_columns, hub_source
from tlweb.engine.data.prepared import SPLIT_NAMES, PreparedData, stratified_split, subsample
from tlweb.engine.data.shapes import SAMPLE_CLASSES, SAMPLE_VERSION, draw_shape, sample_data, write_shapes_dataset
from tlweb.errors import DataError, clip

__all__ = [
    "MAX_FILES", "MAX_RATIO", "MAX_UNZIPPED_BYTES", "MAX_ZIP_BYTES", "SAMPLE_CLASSES", "SAMPLE_VERSION",
    "SPLIT_NAMES", "Encoded", "EncodedSplit", "PreparedData", "check_image_file", "clear_encoded_cache", "detect_columns",
    "draw_shape", "encode_split", "extract_zip", "from_class_uploads", "image_bytes_png", "image_sources",
    "load_data", "load_hub_dataset", "load_upload", "preprocess_uint8", "processor_geometry", "row_name", "sample_data", "stratified_split",
    "subsample", "write_shapes_dataset",
]


def load_data(source: str, *, image_column: str | None = None, label_column: str | None = None,
              split: str | None = None, test_fraction: float = 0.2, seed: int = 0,
              settings: Settings | None = None) -> PreparedData:
    """Load a dataset from a Hub id, a folder (class folders, or a saved/parquet dataset) or a zip.

    ``split`` (Hub / saved datasets) names the training split, optionally followed by the test
    split after a comma, with datasets' slicing: ``"train[:2000]"``, ``"train,validation"``.
    Folders and zips on this machine are read in local mode only (the command line); in shared
    mode ``source`` is the built-in sample or a Hub id, and nothing is looked up on disk.
    """
    settings = settings or get_settings()
    if source is None or not str(source).strip():
        raise DataError("Give a dataset: a Hugging Face dataset id, a folder of class folders or a .zip of them.")
    source = str(source).strip()
    if source in ("sample", "builtin", "sample:shapes"):
        return sample_data(settings)
    if settings.shared:
        return load_hub_dataset(source, image_column=image_column, label_column=label_column, split=split,
                                test_fraction=test_fraction, seed=seed, settings=settings)
    path = Path(source).expanduser()
    try:
        exists = path.exists()
    except OSError:  # a name too long for the file system
        exists = False
    if exists:
        if path.is_dir():
            return _load_folder(path, source_label=clip(source), image_column=image_column,
                                label_column=label_column, split=split, test_fraction=test_fraction,
                                seed=seed, settings=settings)
        if zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
            return load_upload(path, test_fraction=test_fraction, seed=seed, settings=settings, delete=False)
        raise DataError(f"'{clip(path.name)}' is a file but not a .zip: give a folder of class folders or a zip of them.")
    if source.startswith(("/", "./", "../", "~")) or "\\" in source or source.lower().endswith(".zip"):
        raise DataError(f"The dataset path '{clip(source)}' does not exist.")
    if not access.is_hub_id(source):
        raise DataError(f"'{clip(source)}' is neither a local folder, a .zip, nor a valid Hugging Face dataset id "
                        "(ids look like 'beans' or 'owner/name').")
    return load_hub_dataset(source, image_column=image_column, label_column=label_column, split=split,
                            test_fraction=test_fraction, seed=seed, settings=settings)


def load_upload(path, *, test_fraction: float = 0.2, seed: int = 0, settings: Settings | None = None,
                delete: bool = True) -> PreparedData:
    """A zip the client uploaded: unpacked within the budgets (:func:`extract_zip`), then read as
    class folders. With ``delete`` (the web app's upload copies) the zip is deleted afterwards,
    whether it was used or refused; what it unpacked to stays for the session that holds it."""
    settings = settings or get_settings()
    path = Path(path)
    try:
        root, skipped = extract_zip(path, settings)
        return _load_folder(root, source_label=clip(path.name), test_fraction=test_fraction, seed=seed,
                            settings=settings, pre_skipped=skipped)
    finally:
        if delete:
            discard_upload(path)


def discard_upload(path) -> None:
    """Delete an upload copy and its folder when that is left empty (gradio keeps each upload in
    a folder named by its hash)."""
    path = Path(path)
    try:
        path.unlink()
    except OSError:
        return
    if len(path.parent.name) >= 32 and all(c in "0123456789abcdef" for c in path.parent.name):
        try:  # gradio's per-upload folder (named by the content hash), when left empty
            path.parent.rmdir()
        except OSError:
            pass


def load_hub_dataset(hub_id: str, *, image_column: str | None = None, label_column: str | None = None,
                     split: str | None = None, test_fraction: float = 0.2, seed: int = 0,
                     settings: Settings | None = None) -> PreparedData:
    """A Hugging Face dataset by id, in every mode checked as an id (never a path on the server;
    nothing under the working directory is read in its place)."""
    settings = settings or get_settings()
    source = hub_source(hub_id, settings)
    image_column = access.column_name(image_column, "image column")
    label_column = access.column_name(label_column, "label column")
    split = access.column_name(split, "split")
    return _load_hub(source, image_column=image_column, label_column=label_column, split=split,
                     test_fraction=test_fraction, seed=seed, settings=settings)
