"""Hugging Face datasets (Hub ids, ``save_to_disk`` folders, parquet) → :class:`PreparedData`:
split selection, image/label column detection and normalisation.

Offline without a process-wide switch: when the Hub does not answer, a Hub id is read straight
from the local datasets cache with datasets' own ``Cache`` builder (the one ``load_dataset``
falls back to after its network attempts fail), so nothing waits for 20 s of retries and no
other thread sees ``HF_HUB_OFFLINE`` change.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from tlweb import access
from tlweb.engine.data.prepared import PreparedData, _check_classes, _finish_single
from tlweb.errors import DataError, TlwebError, clip, first_line


def hub_source(hub_id, settings) -> str:
    """A client's dataset box checked as a Hugging Face dataset id in every mode; locally, a folder of that
    name is refused too (datasets would read the folder instead of the Hub: local data comes in other ways)."""
    source = access.hub_dataset_id(hub_id)
    if not settings.shared:
        try:
            here = Path(source).exists()
        except OSError:
            here = False
        if here:
            raise DataError(f"'{clip(source)}' is a folder here, not a Hugging Face dataset id: upload it as a zip, "
                            "or give the folder to the command line (python -m tlweb finetune --data).")
    return source


def _load_hub(source: str, *, image_column, label_column, split, test_fraction, seed, settings) -> PreparedData:
    loaded, rest = fetch_hub(source, split, settings)
    data = _from_hf(loaded, source, image_column, label_column, rest, test_fraction, seed)
    data.hub_id = source
    return data


def fetch_hub(source: str, split: str | None, settings):
    """A Hub dataset (an id already checked) as datasets loads it (offline from the cache when the Hub
    does not answer; sized first in shared mode) → (``DatasetDict`` or ``Dataset``, the training split
    still to select or None). ``split`` as :func:`tlweb.engine.data.load_data` takes it: ``"train[:2000]"``,
    ``"train,validation"`` (with two names a DatasetDict of exactly those two, as "train" and "test").
    Failures are sentences."""
    import datasets

    from tlweb.engine.availability import hub_reachable

    train_split, test_split = _parse_split(split)
    one_split = train_split if train_split and not test_split else None
    # hub_reachable is False when HF_HUB_OFFLINE is set, and after a fast failed connection check
    reachable = hub_reachable(settings=settings)
    try:
        if not reachable:
            loaded = load_cached_dataset(source, one_split)
        elif settings.shared:
            loaded = _load_shared(datasets, source, one_split, settings)
        else:
            loaded = datasets.load_dataset(source, split=one_split)
    except TlwebError:
        raise
    except Exception as exc:  # noqa: BLE001 - turned into one sentence
        name = type(exc).__name__
        text = first_line(exc)
        if "NotFound" in name or "doesn't exist" in text or "404" in text:
            raise DataError(f"There is no dataset '{source}' on the Hugging Face Hub (or it is private or gated).") from None
        if "split" in text.lower() and train_split:
            raise DataError(f"The dataset '{source}' has no split '{train_split}': {text}") from None
        raise DataError(f"The dataset '{source}' could not be loaded: {text}") from None
    if test_split:
        if not isinstance(loaded, datasets.DatasetDict):
            raise DataError(f"The dataset '{source}' has only one split.")
        try:
            loaded = datasets.DatasetDict({"train": _select_split(loaded, train_split),
                                           "test": _select_split(loaded, test_split)})
        except (KeyError, ValueError) as exc:
            raise DataError(f"The dataset '{source}' has no split like that ({first_line(exc)}); "
                            f"its splits are {', '.join(loaded)}.") from None
    return loaded, (None if test_split else train_split)


DATASET_PATTERNS = ["*.parquet", "*.arrow", "*.json", "*.jsonl", "*.csv", "*.md", "*.txt", "*.zip", "*.tar",
                    "*.tar.gz", "*.jpg", "*.jpeg", "*.png", "*.webp", "*.bmp", "*.gif", "*.tif", "*.tiff"]


def _load_shared(datasets, source: str, split: str | None, settings):
    """Shared mode: the dataset's files downloaded into the app's own cache after their size (from
    the Hub's file listing) passed the budgets, then read from that absolute snapshot folder, so
    no folder under the working directory is ever read in the id's place."""
    from huggingface_hub import snapshot_download

    from tlweb.engine import budget

    own = settings.cache_dir / "datasets"
    try:
        folder = snapshot_download(source, repo_type="dataset", cache_dir=own, local_files_only=True,
                                   allow_patterns=DATASET_PATTERNS)
    except Exception:  # noqa: BLE001 - not downloaded yet
        nbytes = budget.hub_size(source, None, "dataset", DATASET_PATTERNS)
        budget.check_download(source, nbytes, settings)
        folder = snapshot_download(source, repo_type="dataset", cache_dir=own, allow_patterns=DATASET_PATTERNS)
    return datasets.load_dataset(folder, split=split, cache_dir=str(own / "arrow"))


def load_cached_dataset(source: str, split: str | None = None):
    """A Hub dataset from the local datasets cache only, for this call alone.

    This is the builder ``datasets.load_dataset`` itself falls back to once its Hub requests have
    failed (``datasets.packaged_modules.cache``), used directly: no request is made and no
    process-wide setting (``HF_HUB_OFFLINE``) is touched, so other threads keep their own view
    of the Hub. ``datasets``' ``DownloadConfig(local_files_only=True)`` is no substitute: datasets
    5 accepts it but never reads it. Raises :class:`DataError` when the dataset is not cached.
    """
    from datasets.packaged_modules.cache.cache import Cache

    try:
        builder = Cache(dataset_name=source.split("/")[-1], repo_id=source, version="auto", hash="auto")
    except (ValueError, FileNotFoundError, OSError) as exc:
        if "multiple" in str(exc):
            raise DataError(f"The local cache holds several configurations of the dataset '{source}' and the "
                            "Hugging Face Hub cannot be reached to tell which one to use.") from None
        raise DataError(
            f"The dataset '{source}' is not in the local cache and the Hugging Face Hub cannot be reached from "
            "this machine. Load it once where the Hub is reachable (the datasets cache can be copied over), "
            "or use a local folder, a zip, or the built-in sample."
        ) from None
    builder.download_and_prepare()
    return builder.as_dataset(split=split)


def _parse_split(split: str | None) -> tuple[str | None, str | None]:
    if not split or not str(split).strip():
        return None, None
    parts = [p.strip() for p in str(split).split(",") if p.strip()]
    if len(parts) > 2:
        raise DataError("Give at most two splits: the training split and, after a comma, the test split.")
    return parts[0], (parts[1] if len(parts) == 2 else None)


_SLICE = re.compile(r"^([\w.-]+)(\[.*\])?$")


def _select_split(dd, spec: str):
    m = _SLICE.match(spec)
    if not m:
        raise ValueError(spec)
    ds = dd[m.group(1)]
    if m.group(2):
        import datasets

        # slicing syntax on an already-loaded split: reuse datasets' parser through ReadInstruction
        instr = datasets.ReadInstruction.from_spec(f"x{m.group(2)}")
        abs_instr = instr.to_absolute({"x": len(ds)})[0]
        ds = ds.select(range(abs_instr.from_ or 0, abs_instr.to if abs_instr.to is not None else len(ds)))
    return ds


_IMAGE_NAMES = ("image", "img", "images", "picture", "photo", "pixel_values", "file", "path", "image_path", "filepath")
_LABEL_NAMES = ("label", "labels", "fine_label", "class", "category", "target", "y", "coarse_label")


def detect_columns(features, image_column: str | None = None, label_column: str | None = None) -> tuple[str, str]:
    """Pick the image column (first ``datasets.Image``) and the label column (first ``ClassLabel``,
    else a string/int column with a label-like name); explicit names win."""
    import datasets

    cols = list(features)
    if image_column:
        if image_column not in features:
            raise DataError(f"There is no column '{image_column}'; the columns are: {', '.join(cols)}.")
        img = image_column
    else:
        img = next((c for c in cols if isinstance(features[c], datasets.Image)), None)
        if img is None:
            img = next((c for c in _IMAGE_NAMES if c in features and _is_string(features[c])), None)
        if img is None:
            raise DataError(f"No image column was found (columns: {', '.join(cols)}); name it with the image "
                            "column option.")
    if label_column:
        if label_column not in features:
            raise DataError(f"There is no column '{label_column}'; the columns are: {', '.join(cols)}.")
        lab = label_column
    else:
        lab = next((c for c in cols if isinstance(features[c], datasets.ClassLabel) and c != img), None)
        if lab is None:
            lab = next((c for c in _LABEL_NAMES if c in features and c != img and _is_scalar(features[c])), None)
        if lab is None:
            if any(isinstance(features[c], (datasets.Sequence, datasets.LargeList, list)) for c in cols if c != img):
                raise DataError("This dataset has no single-label column (multi-label datasets are not supported); "
                                "name the label column with the label column option.")
            raise DataError(f"No label column was found (columns: {', '.join(cols)}); name it with the label "
                            "column option.")
    feat = features[lab]
    if not isinstance(feat, datasets.ClassLabel) and not _is_scalar(feat):
        raise DataError(f"The column '{lab}' does not hold one class per image (multi-label datasets are not supported).")
    return img, lab


def _is_string(feat) -> bool:
    import datasets

    return isinstance(feat, datasets.Value) and feat.dtype in ("string", "large_string")


def _is_scalar(feat) -> bool:
    import datasets

    return isinstance(feat, datasets.ClassLabel) or (
        isinstance(feat, datasets.Value) and (feat.dtype in ("string", "large_string", "bool") or "int" in feat.dtype))


def _from_hf(loaded, source: str, image_column, label_column, split, test_fraction, seed) -> PreparedData:
    """A DatasetDict (or one Dataset) from the Hub / disk → PreparedData with our columns."""
    import datasets

    if isinstance(loaded, datasets.DatasetDict):
        names = list(loaded)
        if not names:
            raise DataError(f"The dataset '{source}' has no splits.")
        if split:
            try:
                train_ds = _select_split(loaded, split)
            except (KeyError, ValueError):
                raise DataError(f"The dataset '{source}' has no split '{split}'; its splits are {', '.join(names)}.") from None
            test_ds, test_from = None, None
        else:
            train_name = "train" if "train" in loaded else names[0]
            train_ds = loaded[train_name]
            test_name = next((n for n in ("test", "testing", "validation", "valid", "val", "dev", "eval")
                              if n in loaded and n != train_name), None)
            test_ds = loaded[test_name] if test_name else None
            test_from = "test split" if test_name in ("test", "testing") else (f"{test_name} split" if test_name else None)
    elif isinstance(loaded, datasets.Dataset):
        train_ds, test_ds, test_from = loaded, None, None
    else:
        raise DataError(f"'{source}' is a streaming or unknown dataset type; it cannot be used here.")

    img, lab = detect_columns(train_ds.features, image_column, label_column)
    train_ds, names = _normalise_columns(train_ds, img, lab, None)
    if test_ds is not None:
        try:
            test_ds, _ = _normalise_columns(test_ds, img, lab, names)
        except DataError:
            raise
        labels = [int(x) for x in test_ds["label"]]
        if not labels or min(labels) < 0:  # unlabeled test split (label -1, common on the Hub)
            test_ds = None
    per = Counter(int(x) for x in train_ds["label"])
    if any(k < 0 for k in per):
        keep = [i for i, x in enumerate(train_ds["label"]) if int(x) >= 0]
        train_ds = train_ds.select(keep)
        per = Counter(int(x) for x in train_ds["label"])
    _check_classes({n: [0] * per.get(i, 0) for i, n in enumerate(names)}, source)
    if test_ds is None:
        return _finish_single(train_ds, names, source, [], test_fraction, seed, checked=True)
    return PreparedData(train_ds, test_ds, names, source, test_from, [])


def _normalise_columns(ds, img: str, lab: str, names: list[str] | None):
    import datasets

    if img not in ds.features or lab not in ds.features:
        raise DataError(f"A split lacks the column '{img if img not in ds.features else lab}'.")
    ds = ds.select_columns([img, lab])
    feat = ds.features[lab]
    if not isinstance(feat, datasets.ClassLabel):
        if names is None:
            values = sorted({str(v) for v in ds[lab]})
            names = values
        mapping = {n: i for i, n in enumerate(names)}
        unknown = sorted({str(v) for v in ds[lab]} - set(mapping))
        if unknown:
            raise DataError(f"The test split has the label '{unknown[0]}', which the training split does not have.")
        ds = ds.map(lambda b: {"__label": [mapping[str(v)] for v in b[lab]]}, batched=True, remove_columns=[lab])
        ds = ds.rename_column("__label", lab)
        ds = ds.cast_column(lab, datasets.ClassLabel(names=names))
    else:
        if names is None:
            names = [str(n) for n in feat.names]
        elif [str(n) for n in feat.names] != names:
            raise DataError("The test split's class names differ from the training split's.")
    if lab != "label":
        if "label" in ds.features:
            ds = ds.remove_columns(["label"])
        ds = ds.rename_column(lab, "label")
    if img != "image":
        if "image" in ds.features:
            ds = ds.remove_columns(["image"])
        ds = ds.rename_column(img, "image")
    if not isinstance(ds.features["image"], datasets.Image):
        ds = ds.cast_column("image", datasets.Image(mode="RGB"))
    elif ds.features["image"].mode != "RGB":
        ds = ds.cast_column("image", datasets.Image(mode="RGB"))
    return ds, names
