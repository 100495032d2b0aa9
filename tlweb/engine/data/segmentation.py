"""Segmentation data's entry point: a folder, a zip or a Hugging Face dataset id → :class:`MaskData`.

The readers live below: :mod:`.masks` (folders, zips, uploaded pairs; the checks every source ends in) and
:mod:`.masks_hub` (Hub datasets, and datasets saved with ``save_to_disk``).
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from tlweb import access
from tlweb.config import Settings, get_settings
from tlweb.engine.data.masks import MaskData, load_mask_folder, load_mask_upload
from tlweb.engine.data.masks_hub import load_hub_masks, masks_from_saved
from tlweb.errors import DataError, clip


def load_masks(source, *, labels=None, image_column: str | None = None, mask_column: str | None = None,
               split: str | None = None, test_fraction: float = 0.2, seed: int = 0,
               settings: Settings | None = None) -> MaskData:
    """Segmentation data from a folder or zip (local mode: the command line) or a Hugging Face dataset id
    (every mode). ``labels``: the class names (a list, a labels.txt-style text or file) when the source
    has none; ``mask_column`` / ``image_column``: Hub datasets' columns (auto-detected)."""
    settings = settings or get_settings()
    if source is None or not str(source).strip():
        raise DataError("Give segmentation data: a folder or .zip with images/, masks/ and labels.txt, a Hugging "
                        "Face dataset id, or sample.")
    source = str(source).strip()
    if source in ("sample", "builtin", "sample:scenes"):
        from tlweb.engine.data.scenes import segmentation_sample

        return segmentation_sample(settings)
    hub = dict(labels=labels, image_column=image_column, mask_column=mask_column, split=split,
               test_fraction=test_fraction, seed=seed, settings=settings)
    if settings.shared:
        return load_hub_masks(source, **hub)
    path = Path(source).expanduser()
    try:
        exists = path.exists()
    except OSError:
        exists = False
    if exists:
        if path.is_dir():
            if (path / "dataset_dict.json").exists() or (path / "state.json").exists() or list(path.glob("*.parquet")):
                return masks_from_saved(path, source_label=clip(source), **hub)
            return load_mask_folder(path, source_label=clip(source), labels=labels, test_fraction=test_fraction,
                                    seed=seed, settings=settings)
        if zipfile.is_zipfile(path) or path.suffix.lower() == ".zip":
            return load_mask_upload(path, labels=labels, test_fraction=test_fraction, seed=seed, settings=settings,
                                    delete=False)
        raise DataError(f"'{clip(path.name)}' is a file but not a .zip: give a folder with images/ and masks/, or a "
                        "zip of one.")
    if source.startswith(("/", "./", "../", "~")) or "\\" in source or source.lower().endswith(".zip"):
        raise DataError(f"The dataset path '{clip(source)}' does not exist.")
    if not access.is_hub_id(source):
        raise DataError(f"'{clip(source)}' is neither a local folder, a .zip, nor a valid Hugging Face dataset id.")
    return load_hub_masks(source, **hub)
