"""Detection batches: pictures decoded once, box-aware augmentation, predictions and their scores.

- :func:`encode_detection` decodes every picture of a split ONCE (``load_image`` limits) and resizes
  it to the model's training side (:func:`train_size`), kept as uint8 ``[N, 3, H, W]`` with targets in
  the form DETR-family processors give them: ``{"class_labels": LongTensor[k], "boxes": FloatTensor[k, 4]}``
  with normalised ``(cx, cy, w, h)``. A picture resized to a square keeps its normalised boxes, so
  the boxes are exact whatever the aspect ratio; the saved processor resizes the same way.
- :func:`detection_batch`: a batch on the device, augmented with its boxes there (:func:`augment_batch`:
  horizontal flip, then a crop that keeps every box or a zoom in / out with a shift; one affine map per
  picture, the boxes moved through its inverse, clipped, and dropped when less than 30 % stays in view),
  then normalised (:class:`tlweb.engine.accel.Normalizer`). The same augmentation written with
  albumentations (:func:`make_augmenter`) cost 3–5 ms a picture in its box bookkeeping alone on this
  CPU — more than the tiny model's step — and would leave a GPU waiting on one CPU thread; it remains
  the Hugging Face recipe's side of the benchmark and the tests' reference for the box arithmetic
  (a development dependency, requirements-dev.txt: nothing at run time imports it).
- :func:`predict` runs the model and its processor's own ``post_process_object_detection`` back to
  each picture's original pixels; :func:`score` turns predictions into COCO metrics
  (:mod:`tlweb.engine.detect_metrics`) and per-picture errors.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from collections import OrderedDict

from tlweb.config import Settings, get_settings
from tlweb.engine.data.encode import Encoded
from tlweb.errors import DataError, ImageError

MAX_TRAIN_SIDE = 640  # a processor that keeps the aspect ratio (DETR's 800/1333) trains at this side
_CACHE: OrderedDict[str, object] = OrderedDict()
_CACHE_LOCK = threading.Lock()
_CACHE_MAX_BYTES = 2 * 1024**3


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
                     on_progress=None, workers: int | None = None) -> Encoded:
    """Decode every picture of ``split`` once, resized to ``hw``; cached in memory by (data, split, size).
    Pictures that cannot be decoded, or whose decoded size is not the annotated one, are skipped and
    reported in ``data.skipped``."""

    settings = settings or get_settings()
    if data.base is not None and split == "train":
        full = encode_detection(data.base, "train", hw, settings, on_progress, workers)
        pos = {r: i for i, r in enumerate(full.rows)}
        keep = [(i, pos[r]) for i, r in enumerate(data.train_rows or []) if r in pos]
        sub = full.subset([j for _, j in keep])
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


def _encode(items, hw, settings: Settings, on_progress, workers) -> Encoded:
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
    return Encoded(pixels, [_targets(items[r], torch) for r in rows], rows, skipped,
                   sizes=[(items[r].width, items[r].height) for r in rows])


# --------------------------------------------------------------------------- augmentation and batches

FLIP_P = 0.5  # horizontal flip
SAFE_CROP_P = 0.3  # a crop that keeps every box, stretched back to the full picture
ZOOM_P = 0.5  # otherwise: zoom in or out (uniform in ZOOM) and shift (up to SHIFT of the side)
ZOOM = (0.7, 1.25)
SHIFT = 0.08
MIN_VISIBLE = 0.3  # a box less than this share visible after the transform is dropped (with its label)


def box_theta(targets, n: int, device, generator=None):
    """Per picture the affine map [n, 2, 3] of the box-aware augmentation, in ``affine_grid``'s
    normalised coordinates (an output point (x, y) samples the input at ``theta @ (x, y, 1)``):
    a flip, then either a crop holding every box (its window drawn between the boxes' union and the
    picture), or a zoom in / out with a shift, or nothing. Random numbers come from ``generator``
    (on ``device``, one draw for the batch); the boxes (normalised cx, cy, w, h) only bound the safe crop.
    The arithmetic is numpy on a few numbers a picture (torch's per-call overhead made it 3.5 ms a picture)."""
    import numpy as np
    import torch

    # columns: flip, which transform, then its parameters (the stream the shipped demo detector trained on)
    u = torch.rand(n, 8, device=device, generator=generator).cpu().double().numpy()
    lo, hi = np.full((n, 2), -1.0), np.full((n, 2), 1.0)  # the input window each output shows, per axis
    for i in range(n):
        b = targets[i]["boxes"].cpu().numpy().astype(np.float64)
        if len(b) and u[i, 1] < SAFE_CROP_P:
            union_lo = (b[:, :2] - b[:, 2:] / 2).min(0) * 2 - 1
            union_hi = (b[:, :2] + b[:, 2:] / 2).max(0) * 2 - 1
            lo[i] = -1 + u[i, [2, 4]] * (union_lo + 1)
            hi[i] = union_hi + u[i, [3, 5]] * (1 - union_hi)
        elif u[i, 1] < SAFE_CROP_P + (1 - SAFE_CROP_P) * ZOOM_P:
            z = ZOOM[0] + (ZOOM[1] - ZOOM[0]) * u[i, 2]  # > 1 zooms in
            centre = (u[i, 3:5] * 2 - 1) * 2 * SHIFT
            lo[i], hi[i] = centre - 1 / z, centre + 1 / z
    scale, shift = (hi - lo) / 2, (hi + lo) / 2
    scale[:, 0] *= np.where(u[:, 0] < FLIP_P, -1.0, 1.0)
    theta = np.zeros((n, 2, 3))
    theta[:, 0, 0], theta[:, 0, 2] = scale[:, 0], shift[:, 0]
    theta[:, 1, 1], theta[:, 1, 2] = scale[:, 1], shift[:, 1]
    return torch.from_numpy(theta).float().to(device)


def move_boxes(target: dict, theta) -> dict:
    """A target's boxes (normalised cx, cy, w, h) through the inverse of ``theta`` (one picture's [2, 3]
    map): clipped to the picture, dropped with their labels when less than :data:`MIN_VISIBLE` of them
    stays in view."""
    import numpy as np
    import torch

    b = target["boxes"].cpu().numpy().astype(np.float64)
    if len(b) == 0:
        return target
    th = np.asarray(theta.detach().cpu(), dtype=np.float64) if hasattr(theta, "detach") else np.asarray(theta)
    scale, shift = np.array([th[0, 0], th[1, 1]]), np.array([th[0, 2], th[1, 2]])
    a = ((b[:, :2] - b[:, 2:] / 2) * 2 - 1 - shift) / scale
    c = ((b[:, :2] + b[:, 2:] / 2) * 2 - 1 - shift) / scale
    lo, hi = np.minimum(a, c), np.maximum(a, c)
    full = np.prod(hi - lo, axis=1)
    lo, hi = lo.clip(-1, 1), hi.clip(-1, 1)
    seen = np.prod((hi - lo).clip(min=0), axis=1)
    keep = (seen > 0) & (seen >= MIN_VISIBLE * full)
    boxes = np.concatenate([(lo + hi) / 4 + 0.5, (hi - lo) / 2], axis=1)[keep]
    return {"class_labels": target["class_labels"][torch.from_numpy(keep)],
            "boxes": torch.from_numpy(boxes).float().clamp(0.0, 1.0)}


def augment_batch(x, targets: list, generator=None):
    """Box-aware augmentation of a batch on its device: float pixels [B, 3, H, W] (0..255) resampled
    through :func:`box_theta`'s maps (outside the picture: black), targets moved with them."""
    from tlweb.engine.accel import warp

    theta = box_theta(targets, x.shape[0], x.device, generator)
    x = warp(x, theta, padding_mode="zeros")
    th = theta.cpu().numpy()
    return x, [move_boxes(t, th[i]) for i, t in enumerate(targets)]


def make_augmenter(hw: tuple[int, int]):
    """The same kinds of augmentation with albumentations (flip, zoom in/out with a shift, a crop that
    keeps every box), for pictures as numpy arrays: the Hugging Face recipe's side of
    ``benchmarks/detect_finetune.py`` and the tests' reference for :func:`move_boxes`."""
    import albumentations as A

    return A.Compose(
        [A.HorizontalFlip(p=FLIP_P),
         A.Affine(scale=ZOOM, translate_percent=(-SHIFT, SHIFT), keep_ratio=True, border_mode=0, fill=0, p=ZOOM_P),
         A.RandomSizedBBoxSafeCrop(height=hw[0], width=hw[1], erosion_rate=0.0, p=SAFE_CROP_P)],
        bbox_params=A.BboxParams(format="yolo", label_fields=["class_labels"], min_visibility=MIN_VISIBLE, clip=True,
                                 filter_invalid_bboxes=True),
        seed=0)


def augment_one(aug, image_hwc, target: dict) -> tuple[object, dict]:
    """One uint8 H×W×3 picture and its target through an albumentations ``aug``; returns (picture, target)."""
    import numpy as np
    import torch

    boxes = target["boxes"].numpy().astype(np.float64)
    out = aug(image=image_hwc, bboxes=boxes.reshape(-1, 4), class_labels=target["class_labels"].tolist())
    b = np.asarray(out["bboxes"], dtype=np.float32).reshape(-1, 4)
    return out["image"], {"class_labels": torch.tensor(list(out["class_labels"]), dtype=torch.long),
                          "boxes": torch.from_numpy(b).clamp(0.0, 1.0)}


def detection_batch(enc: Encoded, idx, device, model_input, augment: bool = False, generator=None) -> dict:
    """Model keyword arguments for one step: ``pixel_values`` (through ``model_input``: float 0..255 on
    ``device`` → normalised) and ``labels`` (targets on ``device``), the pictures and their boxes
    augmented together on the device when ``augment`` (random numbers from ``generator``, so a run
    repeats)."""
    import torch

    idx = [int(i) for i in idx]
    x = enc.pixels[torch.tensor(idx, dtype=torch.long, device=enc.pixels.device)].to(device, non_blocking=True).float()
    targets = [enc.targets[i] for i in idx]
    if augment:
        x, targets = augment_batch(x, targets, generator)
    labels = [{k: v.to(device, non_blocking=True) for k, v in t.items()} for t in targets]
    return {"pixel_values": model_input(x), "labels": labels}


LOSS_PARTS = ("loss_ce", "loss_vfl", "loss_focal", "loss_bbox", "loss_giou", "loss_fgl", "loss_ddf")


def loss_parts(outputs) -> dict[str, float]:
    """The final layer's loss parts (classification, L1 box, GIoU …) as floats; auxiliary, denoising and
    encoder copies are in the total but not listed."""
    d = getattr(outputs, "loss_dict", None) or {}
    return {k: float(v) for k, v in d.items() if k in LOSS_PARTS}


# --------------------------------------------------------------------------- predictions and scores


def post_processor(processor):
    return getattr(processor, "image_processor", processor)


def truth_of(enc: Encoded) -> list:
    """Ground truth in each picture's original pixels from the normalised targets: ``(width, height,
    boxes COCO xywh, labels)`` per picture (the boxes were clipped to the picture when read)."""
    out = []
    for t, (w, h) in zip(enc.targets, enc.sizes):
        b = t["boxes"].tolist()
        out.append((w, h, [[(cx - bw / 2) * w, (cy - bh / 2) * h, bw * w, bh * h] for cx, cy, bw, bh in b],
                    t["class_labels"].tolist()))
    return out


def predict(model, enc: Encoded, processor, device, model_input, batch_size: int = 16, autocast=None,
            with_loss: bool = False) -> tuple[list, float | None, dict]:
    """Predictions on every picture of ``enc`` in its original pixels — per picture ``(boxes COCO xywh,
    scores, labels)``, every query the processor's post-processing keeps (threshold 0) — and, with
    ``with_loss``, the mean loss and mean loss parts (no augmentation)."""
    import contextlib

    import torch

    proc = post_processor(processor)
    preds, total, parts = [], 0.0, {}
    with torch.inference_mode():
        for i in range(0, len(enc), batch_size):
            idx = list(range(i, min(len(enc), i + batch_size)))
            batch = detection_batch(enc, idx, device, model_input)
            kwargs = batch if with_loss else {"pixel_values": batch["pixel_values"]}
            with (autocast() if autocast else contextlib.nullcontext()):
                out = model(**kwargs)
            if with_loss and out.loss is not None:
                total += float(out.loss) * len(idx)
                for k, v in loss_parts(out).items():
                    parts[k] = parts.get(k, 0.0) + v * len(idx)
            out.logits = out.logits.float()
            out.pred_boxes = out.pred_boxes.float()
            sizes = [(enc.sizes[j][1], enc.sizes[j][0]) for j in idx]  # (height, width)
            for r in proc.post_process_object_detection(out, threshold=0.0, target_sizes=sizes):
                b = r["boxes"].float().cpu()
                xywh = torch.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], dim=1) if len(b) \
                    else b.reshape(0, 4)
                preds.append((xywh.tolist(), r["scores"].float().cpu().tolist(), r["labels"].cpu().tolist()))
    n = max(1, len(enc))
    return preds, (total / n if with_loss else None), {k: v / n for k, v in parts.items()}


def score(enc: Encoded, preds: list, class_names: list[str], threshold: float = 0.5) -> dict:
    """COCO metrics of ``preds`` on ``enc`` and each picture's errors at ``threshold`` (``"per_image"``)."""
    from tlweb.engine.detect_metrics import coco_metrics, image_errors

    gt = truth_of(enc)
    metrics = coco_metrics(gt, preds, class_names)
    metrics["per_image"] = [image_errors(g[2], g[3], *p, threshold=threshold) for g, p in zip(gt, preds)]
    return metrics


def concat(a: Encoded, b: Encoded, offset: int) -> Encoded:
    """``a`` then ``b`` as one Encoded (``b``'s rows shifted by ``offset``); ``val_positions`` names
    ``b``'s items (a given validation split after the training pictures)."""
    import torch

    out = Encoded(torch.cat([a.pixels, b.pixels]), list(a.targets) + list(b.targets),
                  list(a.rows) + [offset + r for r in b.rows], list(a.skipped) + list(b.skipped),
                  sizes=list(a.sizes) + list(b.sizes))
    out.val_positions = list(range(len(a), len(a) + len(b)))
    return out


# --------------------------------------------------------------------------- worst pictures

TRUTH_COLOR = (34, 197, 94)
PRED_COLOR = (239, 68, 68)


def draw_boxes_pil(img, boxes, labels, names, color, scores=None, scale: float = 1.0):
    """``img`` (PIL, a copy) with COCO xywh boxes and their class names (and scores) drawn."""
    from PIL import ImageDraw

    img = img.copy()
    d = ImageDraw.Draw(img)
    width = max(1, round(2 * scale))
    for k, (b, c) in enumerate(zip(boxes, labels)):
        x, y, w, h = (v * scale for v in b)
        d.rectangle([x, y, x + w, y + h], outline=color, width=width)
        text = names[int(c)] if 0 <= int(c) < len(names) else str(c)
        if scores is not None:
            text += f" {scores[k]:.2f}"
        tw = d.textlength(text)
        d.rectangle([x, max(0, y - 12), x + tw + 4, max(12, y)], fill=color)
        d.text((x + 2, max(0, y - 12)), text, fill=(255, 255, 255))
    return img


def truth_vs_prediction(img, truth, pred, names, threshold: float, min_side: int = 256):
    """One picture side by side: the true boxes (green, left) and the predicted boxes scoring at least
    ``threshold`` (red, right), scaled up so the short side is at least ``min_side``."""
    from PIL import Image, ImageDraw

    scale = max(1.0, min_side / max(1, min(img.size)))
    if scale > 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)), Image.BILINEAR)
    boxes, scores, labels = pred
    keep = [i for i, s in enumerate(scores) if s >= threshold]
    left = draw_boxes_pil(img, truth[2], truth[3], names, TRUTH_COLOR, scale=scale)
    right = draw_boxes_pil(img, [boxes[i] for i in keep], [labels[i] for i in keep], names, PRED_COLOR,
                           [scores[i] for i in keep], scale=scale)
    gap = 6
    out = Image.new("RGB", (img.width * 2 + gap, img.height + 16), (255, 255, 255))
    out.paste(left, (0, 16))
    out.paste(right, (img.width + gap, 16))
    d = ImageDraw.Draw(out)
    d.text((2, 2), "truth", fill=TRUTH_COLOR)
    d.text((img.width + gap + 2, 2), f"prediction (score ≥ {threshold:g})", fill=PRED_COLOR)
    return out


def save_worst(run_dir, data, enc: Encoded, predictions: dict, settings, limit: int, threshold: float) -> list[dict]:
    """The test pictures with the most errors (missed boxes + false alarms at ``threshold``), as
    truth-vs-prediction PNGs in ``run_dir/mistakes``: ``[{"image", "source", "missed", "false", "matched",
    "boxes", "true", "pred"}]``, worst first (``true`` / ``pred``: a gallery caption's two sides)."""
    from tlweb.engine.images import load_image
    from tlweb.errors import TlwebError

    per_image = predictions["per_image"]
    order = sorted((i for i, e in enumerate(per_image) if e["missed"] + e["false"] > 0),
                   key=lambda i: (-(per_image[i]["missed"] + per_image[i]["false"]), i))[:limit]
    if not order:
        return []
    out_dir = run_dir / "mistakes"  # where classification keeps its mistakes (reports look there too)
    out_dir.mkdir(parents=True, exist_ok=True)
    truth = truth_of(enc)
    items = data.test
    out = []
    for k, i in enumerate(order):
        item = items[enc.rows[i]]
        try:
            img = load_image(item.source, settings, name=item.name)
        except TlwebError:
            continue
        img.thumbnail((512, 512))
        f = img.width / max(1, item.width)
        t = (truth[i][0], truth[i][1], [[v * f for v in b] for b in truth[i][2]], truth[i][3])
        boxes, scores, labels = predictions["boxes"][i]
        p = ([[v * f for v in b] for b in boxes], scores, labels)
        path = out_dir / f"{k:02d}.png"
        truth_vs_prediction(img, t, p, data.class_names, threshold).save(path)
        e, n = per_image[i], len(truth[i][3])
        out.append({"image": str(path), "source": item.name, **e, "boxes": n,
                    # what a mistakes gallery shows ("true → pred")
                    "true": f"{n} true box{'es' if n != 1 else ''}",
                    "pred": f"{e['missed']} missed · {e['false']} false alarm{'s' if e['false'] != 1 else ''}"})
    return out
