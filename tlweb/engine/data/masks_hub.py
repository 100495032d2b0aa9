"""Segmentation data from Hugging Face datasets (Hub ids, ``save_to_disk`` folders, parquet): an image
column and a mask column (``annotation``, ``label``, ``semantic_map`` … auto-detected, or named), class
names from the caller's list or the dataset's features, then the checks every source shares
(:func:`tlweb.engine.data.masks.scan_pairs`)."""

from __future__ import annotations

from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.data.masks import MaskData, class_list
from tlweb.errors import DataError, clip, first_line

MASK_NAMES = ("annotation", "annotations", "semantic_map", "semantic_segmentation", "segmentation", "mask", "masks",
              "label", "labels", "seg", "gt", "label_map", "segmentation_mask", "sem_seg")
IMAGE_NAMES = ("image", "pixel_values", "img", "images", "picture", "photo")
TEST_SPLITS = ("test", "testing", "validation", "valid", "val", "dev", "eval")


def _is_mask_feature(feat) -> bool:
    import datasets

    if isinstance(feat, datasets.Image):
        return True
    if isinstance(feat, (datasets.Array2D,)):
        return True
    inner = getattr(feat, "feature", None)  # a Sequence / List of Sequences of ints
    return inner is not None and getattr(inner, "feature", None) is not None


def detect_mask_columns(features, image_column: str | None = None, mask_column: str | None = None) -> tuple[str, str]:
    """(image column, mask column): names given win; else the first Image column with an image-like name
    (or the first Image column) and a mask column named like one (or the other Image column)."""
    import datasets

    cols = list(features)
    for given in (image_column, mask_column):
        if given and given not in features:
            raise DataError(f"There is no column '{clip(given)}'; the columns are: {', '.join(cols)}.")
    images = [c for c in cols if isinstance(features[c], datasets.Image)]
    img = image_column or next((c for c in IMAGE_NAMES if c in images and c != mask_column), None) \
        or next((c for c in images if c != mask_column and c.lower() not in MASK_NAMES), None)
    if img is None:
        raise DataError(f"No image column was found (columns: {', '.join(cols)}); name it with the image column option.")
    mask = mask_column or next((c for c in MASK_NAMES if c in features and c != img and _is_mask_feature(features[c])),
                               None) or next((c for c in images if c != img), None)
    if mask is None:
        raise DataError(f"No mask column was found (columns: {', '.join(cols)}); name it with the mask column option "
                        "(a column of label maps: one class id per pixel).")
    if not _is_mask_feature(features[mask]):
        raise DataError(f"The column '{clip(mask)}' does not hold masks (label maps with one class id per pixel).")
    return img, mask


def names_from_features(features, mask: str) -> list[str] | None:
    """Class names a dataset declares for its mask column (a ClassLabel inside it), if any."""
    import datasets

    feat = features[mask]
    for _ in range(3):
        if isinstance(feat, datasets.ClassLabel):
            return [str(n) for n in feat.names]
        feat = getattr(feat, "feature", None)
        if feat is None:
            return None
    return None


def _sources(ds, column: str) -> list:
    """Per row, what :func:`read_mask` / :func:`load_image` read: bytes or a path (Image columns), else the
    array itself."""
    import datasets
    import numpy as np

    if isinstance(ds.features[column], datasets.Image):
        out = []
        for item in ds.cast_column(column, datasets.Image(decode=False))[column]:
            if isinstance(item, dict):
                out.append(item.get("bytes") if item.get("bytes") is not None else item.get("path"))
            else:
                out.append(item)
        return out
    return [np.asarray(v) for v in ds.with_format("numpy")[column]]


def _items(ds, img: str, mask: str, split: str, warnings: list[str]) -> list[tuple]:
    """(image, mask, name, mask name) per row; rows without an image or a mask are skipped and counted."""
    out, missing = [], 0
    for i, (im, ma) in enumerate(zip(_sources(ds, img), _sources(ds, mask))):
        if im is None or ma is None:
            missing += 1
            continue
        out.append((im, ma, f"{split} row {i}", f"the mask of {split} row {i}"))
    if missing:
        warnings.append(f"{missing} row{'s' if missing > 1 else ''} of the {split} split "
                        f"{'have' if missing > 1 else 'has'} no image or no mask and {'were' if missing > 1 else 'was'} "
                        "skipped.")
    return out


def from_hf_masks(loaded, source: str, *, labels=None, image_column=None, mask_column=None, split=None,
                  test_fraction: float = 0.2, seed: int = 0, settings: Settings | None = None) -> MaskData:
    """A DatasetDict (or one Dataset) → :class:`MaskData`; rows without a mask are skipped and counted."""
    import datasets

    from tlweb.engine.data.hub import _select_split
    from tlweb.engine.data.masks import finish

    settings = settings or get_settings()
    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        if not names:
            raise DataError(f"The dataset '{source}' has no splits.")
        if split:
            try:
                train_ds = _select_split(loaded, split)
            except (KeyError, ValueError):
                raise DataError(f"The dataset '{source}' has no split '{clip(split)}'; its splits are "
                                f"{', '.join(names)}.") from None
            test_ds, test_name = None, None
        else:
            train_name = "train" if "train" in loaded else names[0]
            train_ds = loaded[train_name]
            test_name = next((n for n in TEST_SPLITS if n in loaded and n != train_name), None)
            test_ds = loaded[test_name] if test_name else None
    elif isinstance(loaded, datasets.Dataset):
        train_ds, test_ds, test_name = loaded, None, None
    else:
        raise DataError(f"'{source}' is a streaming or unknown dataset type; it cannot be used here.")
    img, mask = detect_mask_columns(train_ds.features, image_column, mask_column)
    classes = class_list(labels, settings=settings) or names_from_features(train_ds.features, mask)
    if not classes:
        raise DataError(f"The dataset '{source}' does not name its classes: give them as a list (one a line, line 1 = "
                        "class 0), like a labels.txt.")
    warnings: list[str] = []
    train = _items(train_ds, img, mask, "train", warnings)
    test = _items(test_ds, img, mask, test_name, warnings) if test_ds is not None else None
    test = test or None
    test_from = (("test split" if test_name in ("test", "testing") else f"{test_name} split")
                 if test is not None else None)
    return finish(train, test, classes, source, test_from, [], warnings, settings, test_fraction, seed)


def load_hub_masks(hub_id: str, *, labels=None, image_column=None, mask_column=None, split=None,
                   test_fraction: float = 0.2, seed: int = 0, settings: Settings | None = None) -> MaskData:
    """A Hugging Face dataset by id (checked as an id in every mode; never a path on the server)."""
    from tlweb import access
    from tlweb.engine.data.hub import fetch_hub, hub_source

    settings = settings or get_settings()
    source = hub_source(hub_id, settings)
    image_column = access.column_name(image_column, "image column")
    mask_column = access.column_name(mask_column, "mask column")
    split = access.column_name(split, "split")
    loaded, rest = fetch_hub(source, split, settings)
    data = from_hf_masks(loaded, source, labels=labels, image_column=image_column, mask_column=mask_column,
                         split=rest, test_fraction=test_fraction, seed=seed, settings=settings)
    data.hub_id = source
    return data


def masks_from_saved(folder: Path, *, source_label: str, labels=None, image_column=None, mask_column=None, split=None,
                     test_fraction: float = 0.2, seed: int = 0, settings: Settings | None = None) -> MaskData:
    """A dataset saved with ``save_to_disk`` or parquet files in a local folder (the command line)."""
    import datasets

    try:
        if (folder / "dataset_dict.json").exists() or (folder / "state.json").exists():
            loaded = datasets.load_from_disk(str(folder))
        else:
            loaded = datasets.load_dataset(str(folder))
    except Exception as exc:  # noqa: BLE001
        raise DataError(f"The saved dataset in '{clip(folder.name)}' could not be read: {first_line(exc)}") from None
    return from_hf_masks(loaded, source_label, labels=labels, image_column=image_column, mask_column=mask_column,
                         split=split, test_fraction=test_fraction, seed=seed, settings=settings)
