"""Detection batches: pictures decoded once, box-aware augmentation, predictions and their scores.

- :func:`encode_detection` decodes every picture of a split ONCE (``load_image`` limits) and resizes
  it to the model's training side (:func:`train_size`), kept as uint8 ``[N, 3, H, W]`` with targets in
  the form DETR-family processors give them: ``{"class_labels": LongTensor[k], "boxes": FloatTensor[k, 4]}``
  with normalised ``(cx, cy, w, h)``. A picture resized to a square keeps its normalised boxes, so
  the boxes are exact whatever the aspect ratio; the saved processor resizes the same way.
- :func:`make_augmenter` / :func:`detection_batch`: horizontal flip, zoom in/out and a crop that keeps
  every box (albumentations 2.0, MIT; not torchvision), on the uint8 pictures of one batch, then the
  batch goes to the device and is normalised there (:class:`tlweb.engine.accel.Normalizer`).
- :func:`predict` runs the model and its processor's own ``post_process_object_detection`` back to
  each picture's original pixels; :func:`score` turns predictions into COCO metrics
  (:mod:`tlweb.engine.detect_metrics`) and per-picture errors.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from tlweb.config import Settings, get_settings
from tlweb.errors import DataError, ImageError

MAX_TRAIN_SIDE = 640  # a processor that keeps the aspect ratio (DETR's 800/1333) trains at this side
_CACHE: OrderedDict[str, object] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_MAX_BYTES = 2 * 1024**3


@dataclass
class DetEncoded:
    """One split decoded once (the training run's ``Encoded`` for detection)."""

    pixels: object  # torch.uint8 [N, 3, H, W]
    targets: list  # N dicts {"class_labels": LongTensor[k], "boxes": FloatTensor[k, 4] normalised cx cy w h}
    rows: list[int]  # row of each picture in its split
    sizes: list[tuple[int, int]]  # original (width, height)
    skipped: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.rows)

    def select(self, idx) -> DetEncoded:
        import torch

        idx = [int(i) for i in idx]
        return DetEncoded(self.pixels[torch.tensor(idx, dtype=torch.long)] if idx else self.pixels[:0],
                          [self.targets[i] for i in idx], [self.rows[i] for i in idx], [self.sizes[i] for i in idx],
                          list(self.skipped))


def train_size(processor, max_side: int = MAX_TRAIN_SIDE) -> tuple[int, int]:
    """(height, width) the model trains at: the processor's fixed size, else its shortest edge (at most
    ``max_side``) as a square."""
    proc = getattr(processor, "image_processor", processor)
    size = getattr(proc, "size", None) or {}
    size = size if isinstance(size, dict) else dict(size)
    if size.get("height") and size.get("width"):
        return int(size["height"]), int(size["width"])
    side = size.get("shortest_edge") or size.get("longest_edge") or max_side
    side = min(int(side), max_side)
    return side, side


def fixed_size_processor(processor, hw: tuple[int, int]):
    """The processor, set to resize every picture to exactly ``hw`` (what training saw) and not to pad."""
    proc = getattr(processor, "image_processor", processor)
    proc.size = {"height": int(hw[0]), "width": int(hw[1])}
    if hasattr(proc, "do_pad"):
        proc.do_pad = False
    return processor


def _targets(item, torch):
    """COCO pixel boxes → normalised (cx, cy, w, h) tensors."""
    w, h = float(item.width), float(item.height)
    boxes = torch.tensor([[(x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h] for x, y, bw, bh in item.boxes],
                         dtype=torch.float32).reshape(-1, 4)
    return {"class_labels": torch.tensor(item.labels, dtype=torch.long), "boxes": boxes.clamp(0.0, 1.0)}


def encode_detection(data, split: str, hw: tuple[int, int], settings: Settings | None = None,
                     on_progress=None, workers: int | None = None) -> DetEncoded:
    """Decode every picture of ``split`` once, resized to ``hw``; cached in memory by (data, split, size).
    Pictures that cannot be decoded, or whose decoded size is not the annotated one, are skipped and
    reported in ``data.skipped``."""

    settings = settings or get_settings()
    if data.base is not None and split == "train":
        full = encode_detection(data.base, "train", hw, settings, on_progress, workers)
        pos = {r: i for i, r in enumerate(full.rows)}
        keep = [(i, pos[r]) for i, r in enumerate(data.train_rows or []) if r in pos]
        sub = full.select([j for _, j in keep])
        sub.rows = [i for i, _ in keep]
        return sub
    if data.base is not None:
        return encode_detection(data.base, split, hw, settings, on_progress, workers)
    key = f"{data.fingerprint()}|{split}|{hw[0]}x{hw[1]}"
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    enc = _encode(data.split(split), hw, settings, on_progress, workers)
    for s in enc.skipped:
        if s not in data.skipped:
            data.skipped.append(s)
    with _CACHE_LOCK:
        _CACHE[key] = enc
        while len(_CACHE) > 1 and sum(e.pixels.numel() for e in _CACHE.values()) > _CACHE_MAX_BYTES:
            _CACHE.popitem(last=False)
    return enc


def clear_cache() -> None:
    with _CACHE_LOCK:
        _CACHE.clear()


def _encode(items, hw, settings: Settings, on_progress, workers) -> DetEncoded:
    import numpy as np
    import torch
    from PIL import Image

    from tlweb.engine.images import load_image

    n = len(items)
    done = [0]
    lock = threading.Lock()

    def work(r: int):
        it = items[r]
        try:
            img = load_image(it.source, settings, name=it.name)
        except ImageError as exc:
            return None, f"{it.name}: {exc}"
        finally:
            with lock:
                done[0] += 1
                if on_progress and (done[0] % 16 == 0 or done[0] == n):
                    on_progress(done[0], n)
        if img.size != (it.width, it.height):
            return None, f"{it.name}: decoded as {img.size[0]}×{img.size[1]}, annotated as {it.width}×{it.height}"
        arr = np.asarray(img.resize((hw[1], hw[0]), Image.BILINEAR), dtype=np.uint8)
        return arr, None

    workers = workers or max(1, min(8, os.cpu_count() or 2))
    if workers > 1 and n > 16:
        with cf.ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(work, range(n)))
    else:
        results = [work(r) for r in range(n)]
    rows = [r for r, (a, _) in enumerate(results) if a is not None]
    skipped = [s for _, s in results if s]
    if not rows and n:
        raise DataError("None of the pictures could be decoded.")
    pixels = torch.from_numpy(np.stack([results[r][0] for r in rows])).permute(0, 3, 1, 2).contiguous() if rows \
        else torch.zeros((0, 3, hw[0], hw[1]), dtype=torch.uint8)
    return DetEncoded(pixels, [_targets(items[r], torch) for r in rows], rows,
                      [(items[r].width, items[r].height) for r in rows], skipped)


# --------------------------------------------------------------------------- augmentation and batches


def make_augmenter(hw: tuple[int, int]):
    """Flip, zoom in/out (boxes follow; parts pushed out of the frame are clipped, boxes less than a
    third visible dropped) and, sometimes, a crop that keeps every box, back to ``hw``."""
    import albumentations as A

    return A.Compose(
        [A.HorizontalFlip(p=0.5),
         A.Affine(scale=(0.7, 1.2), translate_percent=(-0.08, 0.08), keep_ratio=True, border_mode=0, fill=0, p=0.5),
         A.RandomSizedBBoxSafeCrop(height=hw[0], width=hw[1], erosion_rate=0.0, p=0.3)],
        bbox_params=A.BboxParams(format="yolo", label_fields=["class_labels"], min_visibility=0.3, clip=True,
                                 filter_invalid_bboxes=True),
        seed=0)


def augment_one(aug, image_hwc, target: dict) -> tuple[object, dict]:
    """One uint8 H×W×3 picture and its target through ``aug``; returns (picture, target)."""
    import numpy as np
    import torch

    boxes = target["boxes"].numpy().astype(np.float64)
    out = aug(image=image_hwc, bboxes=boxes.reshape(-1, 4), class_labels=target["class_labels"].tolist())
    b = np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4)
    return out["image"], {"class_labels": torch.tensor(list(out["class_labels"]), dtype=torch.long),
                          "boxes": torch.from_numpy(b).clamp(0.0, 1.0)}


def detection_batch(enc: DetEncoded, idx, device, normalizer, augmenter=None, generator=None) -> dict:
    """Model keyword arguments for one step: ``pixel_values`` (normalised, on ``device``) and ``labels``
    (targets on ``device``), the pictures augmented with their boxes when ``augmenter`` is given
    (its seed drawn from ``generator``, so a run repeats)."""
    import numpy as np
    import torch

    idx = [int(i) for i in idx]
    if augmenter is None:
        x = enc.pixels[torch.tensor(idx, dtype=torch.long)]
        targets = [enc.targets[i] for i in idx]
    else:
        augmenter.set_random_seed(int(torch.randint(0, 2**31 - 1, (1,), generator=generator)))
        imgs, targets = [], []
        for i in idx:
            img, t = augment_one(augmenter, enc.pixels[i].permute(1, 2, 0).numpy(), enc.targets[i])
            imgs.append(np.ascontiguousarray(img))
            targets.append(t)
        x = torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2)
    x = normalizer(x.to(device, non_blocking=True))
    labels = [{k: v.to(device) for k, v in t.items()} for t in targets]
    return {"pixel_values": x, "labels": labels}


LOSS_PARTS = ("loss_ce", "loss_vfl", "loss_focal", "loss_bbox", "loss_giou", "loss_fgl", "loss_ddf")


def loss_parts(outputs) -> dict[str, float]:
    """The final layer's loss parts (classification, L1 box, GIoU …) as floats; auxiliary, denoising and
    encoder copies are in the total but not listed."""
    d = getattr(outputs, "loss_dict", None) or {}
    return {k: float(v) for k, v in d.items() if k in LOSS_PARTS}


# --------------------------------------------------------------------------- predictions and scores


def post_processor(processor):
    return getattr(processor, "image_processor", processor)


def predict(model, enc: DetEncoded, processor, normalizer, device, batch_size: int = 16, autocast=None,
            with_loss: bool = False) -> tuple[list, float | None]:
    """Predictions on every picture of ``enc``, in its original pixels: per picture
    ``(boxes COCO xywh, scores, labels)`` (every query the post-processing keeps, threshold 0), and the
    mean loss when ``with_loss``."""
    import contextlib

    import torch

    proc = post_processor(processor)
    was = model.training
    model.eval()
    preds, losses = [], []
    try:
        with torch.inference_mode():
            for i in range(0, len(enc), batch_size):
                idx = list(range(i, min(len(enc), i + batch_size)))
                batch = detection_batch(enc, idx, device, normalizer)
                kwargs = batch if with_loss else {"pixel_values": batch["pixel_values"]}
                with (autocast() if autocast else contextlib.nullcontext()):
                    out = model(**kwargs)
                if with_loss and out.loss is not None:
                    losses.append(float(out.loss) * len(idx))
                out.logits = out.logits.float()
                out.pred_boxes = out.pred_boxes.float()
                sizes = [(enc.sizes[j][1], enc.sizes[j][0]) for j in idx]  # (height, width)
                for r in proc.post_process_object_detection(out, threshold=0.0, target_sizes=sizes):
                    b = r["boxes"].float().cpu()
                    xywh = torch.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], dim=1) if len(b) \
                        else b.reshape(0, 4)
                    preds.append((xywh.tolist(), r["scores"].float().cpu().tolist(), r["labels"].cpu().tolist()))
    finally:
        model.train(was)
    return preds, (sum(losses) / len(enc) if losses and len(enc) else None)


def truth(data, split: str, enc: DetEncoded) -> list:
    """Ground truth of the pictures ``enc`` holds: ``(width, height, boxes, labels)`` each."""
    items = data.split(split) if data.base is None or split != "train" else data.train
    return [(items[r].width, items[r].height, items[r].boxes, items[r].labels) for r in enc.rows]


def score(data, split: str, enc: DetEncoded, preds: list, threshold: float = 0.5) -> dict:
    """COCO metrics of ``preds`` on ``enc`` and each picture's errors at ``threshold`` (``"per_image"``)."""
    from tlweb.engine.detect_metrics import coco_metrics, image_errors

    gt = truth(data, split, enc)
    metrics = coco_metrics(gt, preds, data.class_names)
    metrics["per_image"] = [image_errors(g[2], g[3], *p, threshold=threshold) for g, p in zip(gt, preds)]
    return metrics
