"""Decode once: :func:`encode_split` turns a split into uint8 tensors at the model's input size
(the model's own processor does the resize/crop, normalisation is left to the device) and
caches them in memory and on disk, keyed by (data fingerprint, processor geometry)."""

from __future__ import annotations

import io
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine import budget
from tlweb.engine.data.prepared import PreparedData, _sha
from tlweb.errors import DataError, ImageError, TlwebError

log = logging.getLogger("tlweb.engine.data")


@dataclass
class Encoded:
    """A split decoded once at the model's input size, for any training task: uint8 N×3×H×W pixels
    (CPU) and the targets moved / resized with them (classification: class ids LongTensor [N];
    segmentation: LongTensor [N, H, W], 255 = ignore; detection: a list of N dicts
    ``{"class_labels": LongTensor[k], "boxes": FloatTensor[k, 4]}`` in normalised cx, cy, w, h)."""

    pixels: object  # torch.uint8 tensor [N, 3, H, W]
    targets: object  # a tensor with N rows, or a list of N items
    rows: list[int]  # row index in the split's dataset for each item
    skipped: list[str] = field(default_factory=list)  # "name: why" of the items that could not be decoded
    decode_s: float = 0.0
    sizes: list[tuple[int, int]] = field(default_factory=list)  # original (width, height) of each item, or []

    def __len__(self) -> int:
        return len(self.rows)

    def subset(self, positions) -> Encoded:
        """The same kind of Encoded holding the items at ``positions`` (a list or a LongTensor)."""
        import torch

        pos = [int(i) for i in positions]
        idx = torch.tensor(pos, dtype=torch.long)
        targets = self.targets[idx] if hasattr(self.targets, "index_select") else [self.targets[i] for i in pos]
        sizes = [self.sizes[i] for i in pos] if self.sizes else []
        return replace(self, pixels=self.pixels[idx], targets=targets, rows=[self.rows[i] for i in pos],
                       sizes=sizes, decode_s=0.0)


class EncodedSplit(Encoded):
    """Classification's :class:`Encoded`: the targets are the class ids, also named ``labels``.

    ``EncodedSplit(pixels, labels, rows, skipped, decode_s)``."""

    @property
    def labels(self):
        return self.targets


_ENCODED: OrderedDict[str, EncodedSplit] = OrderedDict()
_ENCODED_LOCK = threading.Lock()
_ENCODED_MAX_BYTES = 3 * 1024**3  # decoded splits kept in memory (the newest always stays)
_DISK_MAX_BYTES = 1024**3


def processor_geometry(processor) -> dict:
    """What determines the pixels the processor produces before normalisation."""
    proc = getattr(processor, "image_processor", processor)
    try:
        d = proc.to_dict()
    except Exception:  # noqa: BLE001
        d = {k: v for k, v in vars(proc).items() if not k.startswith("_")}
    drop = {"image_mean", "image_std", "do_normalize", "do_rescale", "rescale_factor", "rescale_offset",
            "include_top", "_processor_class", "processor_class"}
    return {k: v for k, v in d.items() if k not in drop and _jsonable(v)} | {"class": type(proc).__name__}


def _jsonable(v) -> bool:
    try:
        json.dumps(v)
        return True
    except (TypeError, ValueError):
        return False


def encode_split(data: PreparedData, split: str, processor, settings: Settings | None = None,
                 workers: int | None = None, on_progress=None) -> EncodedSplit:
    """Decode every image of ``split`` ("train" | "test") once with :func:`load_image` semantics,
    resize/crop it with the model's processor and keep it as uint8. Unreadable images are skipped
    (and reported in ``skipped`` and ``data.skipped``). Cached in memory and on disk."""
    import torch

    settings = settings or get_settings()
    if data.base is not None and split == "train":
        full = encode_split(data.base, "train", processor, settings, workers, on_progress)
        pos = {r: i for i, r in enumerate(full.rows)}
        keep = [(i, pos[r]) for i, r in enumerate(data.train_rows or []) if r in pos]
        idx = torch.tensor([j for _, j in keep], dtype=torch.long)
        return EncodedSplit(full.pixels[idx], full.labels[idx], [i for i, _ in keep], full.skipped, 0.0)
    if data.base is not None:
        return encode_split(data.base, split, processor, settings, workers, on_progress)
    geom = processor_geometry(processor)
    key = _sha(f"{data.fingerprint()}|{split}|{json.dumps(geom, sort_keys=True, default=str)}")
    with _ENCODED_LOCK:
        hit = _ENCODED.get(key)
        if hit is not None:
            _ENCODED.move_to_end(key)
            return hit
    disk = settings.cache_dir / "tensors" / f"{key}.pt"
    enc = None
    if disk.exists():
        try:
            blob = torch.load(disk, map_location="cpu", weights_only=True)
            budget.touch(disk)  # recently used: the last to go when the home budget needs room
            enc = EncodedSplit(blob["pixels"], blob["labels"], list(blob["rows"]), list(blob["skipped"]), 0.0)
        except Exception:  # noqa: BLE001 - a broken cache file is rebuilt
            enc = None
    if enc is None:
        enc = _encode(getattr(data, split), processor, settings, workers, on_progress)
        nbytes = enc.pixels.numel()
        if nbytes <= _DISK_MAX_BYTES:
            try:
                budget.make_room(nbytes, settings, what="Caching decoded images")
                disk.parent.mkdir(parents=True, exist_ok=True)
                tmp = disk.with_suffix(f".tmp{os.getpid()}")
                torch.save({"pixels": enc.pixels, "labels": enc.labels, "rows": enc.rows, "skipped": enc.skipped}, tmp)
                tmp.replace(disk)
            except (OSError, TlwebError) as exc:  # a full disk or budget must not stop training
                log.warning("could not cache tensors on disk: %s", exc)
    for s in enc.skipped:
        if s not in data.skipped:
            data.skipped.append(s)
    with _ENCODED_LOCK:
        _ENCODED[key] = enc
        while len(_ENCODED) > 1 and sum(e.pixels.numel() for e in _ENCODED.values()) > _ENCODED_MAX_BYTES:
            _ENCODED.popitem(last=False)
    return enc


def clear_encoded_cache() -> None:
    with _ENCODED_LOCK:
        _ENCODED.clear()


def image_sources(ds) -> list:
    """Per row: a path or bytes that :func:`load_image` can read (no decoding here)."""
    import datasets

    col = ds.cast_column("image", datasets.Image(decode=False))["image"]
    out = []
    for item in col:
        if isinstance(item, dict):
            out.append(item.get("bytes") if item.get("bytes") is not None else item.get("path"))
        else:
            out.append(item)
    return out


def row_name(source, row: int) -> str:
    if isinstance(source, (str, os.PathLike)):
        p = Path(source)
        return f"{p.parent.name}/{p.name}"
    return f"image #{row}"


def _processor_kwargs(processor) -> dict:
    proc = getattr(processor, "image_processor", processor)
    kw = {"do_rescale": False, "do_normalize": False}
    if hasattr(proc, "include_top"):
        kw["include_top"] = False
    if hasattr(proc, "rescale_offset"):
        kw["rescale_offset"] = False
    return kw


def preprocess_uint8(images: list, processor):
    """RGB PIL images → uint8 tensor [N, 3, H, W] with the processor's resize/crop only."""
    import numpy as np
    import torch

    out = processor(images=images, return_tensors="np", **_processor_kwargs(processor))["pixel_values"]
    arr = np.asarray(out)
    arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return torch.from_numpy(arr)


def _encode(ds, processor, settings: Settings, workers: int | None, on_progress) -> EncodedSplit:
    import concurrent.futures as cf

    import torch

    from tlweb.engine.images import load_image

    t0 = time.perf_counter()
    sources = image_sources(ds)
    labels = [int(x) for x in ds["label"]]
    n = len(sources)
    chunk = 32
    chunks = [list(range(i, min(n, i + chunk))) for i in range(0, n, chunk)]
    workers = workers or max(1, min(16, (os.cpu_count() or 2)))
    done = [0]
    lock = threading.Lock()

    def work(rows: list[int]):
        imgs, ok, bad = [], [], []
        for r in rows:
            src = sources[r]
            try:
                imgs.append(load_image(src, settings, name=row_name(src, r)))
                ok.append(r)
            except ImageError as exc:
                bad.append(f"{row_name(src, r)}: {exc}")
        tensor = preprocess_uint8(imgs, processor) if imgs else None
        with lock:
            done[0] += len(rows)
            if on_progress:
                on_progress(done[0], n)
        return tensor, ok, bad

    results = []
    if workers > 1 and len(chunks) > 1:
        with cf.ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(work, chunks))
    else:
        results = [work(c) for c in chunks]
    tensors = [t for t, _, _ in results if t is not None]
    rows = [r for _, ok, _ in results for r in ok]
    skipped = [s for _, _, bad in results for s in bad]
    if not tensors:
        raise DataError("None of the images could be decoded.")
    pixels = torch.cat(tensors) if len(tensors) > 1 else tensors[0]
    return EncodedSplit(pixels.contiguous(), torch.tensor([labels[r] for r in rows], dtype=torch.long), rows, skipped,
                        time.perf_counter() - t0)



def image_bytes_png(img) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()
