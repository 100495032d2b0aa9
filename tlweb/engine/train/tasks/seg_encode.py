"""Decode a segmentation split once: every picture resized (bilinear) and its mask resized (nearest) to the
model's square input side, kept as uint8 tensors in memory and on disk, keyed by the data's fingerprint and
that side. Training then never touches PIL again: batches are sliced from these tensors on the device."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict

from tlweb.config import Settings, get_settings
from tlweb.engine.data.encode import Encoded
from tlweb.errors import DataError, ImageError, TlwebError

log = logging.getLogger(__name__)

_CACHE: OrderedDict[str, Encoded] = OrderedDict()
_LOCK = threading.Lock()
_MAX_BYTES = 2 * 1024**3  # decoded splits kept in memory (the newest always stays)
_DISK_MAX_BYTES = 1024**3
MULTIPLE = 32  # input sides are multiples of this (hierarchical encoders halve the grid 5 times)


def input_side(processor) -> int:
    """The square side pictures are decoded at: the processor's input size, rounded to a multiple of 32."""
    from tlweb.engine.loading import processor_input_size

    size = processor_input_size(processor) or 512
    return max(MULTIPLE, int(round(size / MULTIPLE)) * MULTIPLE)


def encode_masks(data, split: str, processor, settings: Settings | None = None, on_progress=None,
                 side: int | None = None) -> Encoded:
    """``split`` ("train" | "test") of :class:`~tlweb.engine.data.masks.MaskData` as an :class:`Encoded`:
    pixels uint8 [N, 3, S, S], targets uint8 [N, S, S] (class ids, 255 = ignore; ``.long()`` per batch,
    an eighth of the memory of int64), rows (item of the split), sizes (original width, height)."""
    settings = settings or get_settings()
    side = int(side or input_side(processor))
    if data.base is not None and split == "train":
        full = encode_masks(data.base, "train", processor, settings, on_progress, side)
        pos = {r: i for i, r in enumerate(full.rows)}
        keep = [(i, pos[r]) for i, r in enumerate(data.train_rows or []) if r in pos]
        sub = full.subset([j for _, j in keep])
        sub.rows = [i for i, _ in keep]
        return sub
    if data.base is not None:
        return encode_masks(data.base, split, processor, settings, on_progress, side)
    from tlweb.engine.data.prepared import _sha

    key = _sha(f"{data.fingerprint()}|{split}|{side}|seg-v1")
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None:
            _CACHE.move_to_end(key)
            return hit
    enc = _from_disk(key, settings)
    if enc is None:
        enc = _decode(getattr(data, split), side, settings, on_progress)
        _to_disk(key, enc, settings)
    for s in enc.skipped:
        if s not in data.skipped:
            data.skipped.append(s)
    with _LOCK:
        _CACHE[key] = enc
        while len(_CACHE) > 1 and sum(e.pixels.numel() * 2 for e in _CACHE.values()) > _MAX_BYTES:
            _CACHE.popitem(last=False)
    return enc


def clear_cache() -> None:
    with _LOCK:
        _CACHE.clear()


def _path(key: str, settings: Settings):
    return settings.cache_dir / "tensors" / f"seg-{key}.pt"


def _from_disk(key: str, settings: Settings) -> Encoded | None:
    import torch

    from tlweb.engine import budget

    path = _path(key, settings)
    if not path.exists():
        return None
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
        budget.touch(path)
        return Encoded(blob["pixels"], blob["targets"], list(blob["rows"]), list(blob["skipped"]), 0.0,
                       [tuple(s) for s in blob["sizes"]])
    except Exception:  # noqa: BLE001 - a broken cache file is rebuilt
        return None


def _to_disk(key: str, enc: Encoded, settings: Settings) -> None:
    import torch

    from tlweb.engine import budget

    nbytes = enc.pixels.numel() + enc.targets.numel()
    if nbytes > _DISK_MAX_BYTES:
        return
    path = _path(key, settings)
    try:
        budget.make_room(nbytes, settings, what="Caching decoded images")
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"pixels": enc.pixels, "targets": enc.targets, "rows": enc.rows, "skipped": enc.skipped,
                    "sizes": [list(s) for s in enc.sizes]}, tmp)
        tmp.replace(path)
    except (OSError, TlwebError) as exc:  # a full disk or budget must not stop training
        log.warning("could not cache tensors on disk: %s", exc)


def decode_pair(img_src, mask_src, name: str, side: int, settings: Settings):
    """(uint8 [3, S, S], uint8 [S, S], original (width, height)) of one pair."""
    import numpy as np
    from PIL import Image

    from tlweb.engine.data.maskfile import read_mask
    from tlweb.engine.images import load_image

    img = load_image(img_src, settings, name=name)
    mask = read_mask(mask_src, settings, f"the mask of {name}")
    size = img.size
    pic = np.asarray(img.resize((side, side), Image.Resampling.BILINEAR, reducing_gap=3.0))
    m = np.asarray(Image.fromarray(mask.astype(np.uint8)).resize((side, side), Image.Resampling.NEAREST))
    return np.ascontiguousarray(pic.transpose(2, 0, 1)), m, size


def _decode(split, side: int, settings: Settings, on_progress) -> Encoded:
    import concurrent.futures as cf

    import numpy as np
    import torch

    t0 = time.perf_counter()
    n = len(split)
    pixels = np.zeros((n, 3, side, side), dtype=np.uint8)
    targets = np.full((n, side, side), 255, dtype=np.uint8)
    ok = [False] * n
    sizes: list = [None] * n
    skipped: list[str] = [""] * n
    done = [0]
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            pixels[i], targets[i], sizes[i] = decode_pair(split.images[i], split.masks[i], split.names[i], side,
                                                          settings)
            ok[i] = True
        except ImageError as exc:
            skipped[i] = f"{split.names[i]}: {exc}"
        with lock:
            done[0] += 1
            if on_progress and (done[0] % 16 == 0 or done[0] == n):
                on_progress(done[0], n)

    workers = max(1, min(8, os.cpu_count() or 2))
    if n > 8 and workers > 1:
        with cf.ThreadPoolExecutor(workers) as pool:
            list(pool.map(work, range(n)))
    else:
        for i in range(n):
            work(i)
    rows = [i for i in range(n) if ok[i]]
    if not rows:
        raise DataError("None of the images could be decoded.")
    idx = np.asarray(rows)
    return Encoded(torch.from_numpy(pixels[idx]).contiguous(), torch.from_numpy(targets[idx]).contiguous(), rows,
                   [s for s in skipped if s], time.perf_counter() - t0, [tuple(sizes[i]) for i in rows])
