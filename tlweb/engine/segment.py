"""Semantic (and, for Mask2Former-style models, panoptic) segmentation.

``segment(image, model)`` returns a label map in the ORIGINAL image's size (H×W ints), the
model's class names and each present class's share of the pixels.

How the label map is made: the model's processor prepares the image; for a photo of ordinary
size with nothing padded, its own ``post_process_semantic_segmentation(outputs,
target_sizes=[(h, w)])`` gives the label map directly. Otherwise — a huge photo (that call
would hold classes × H × W floats: 150 × 8000 × 8000 is 38 GB) or a padded input (processors
that pad in ``pixel_mask``; very elongated images are padded here so every processor accepts
them) — the same method's per-class score maps (``return_segmentation_scores=True``; for
Mask2Former that is the query→class combination) are cut to the part that shows the picture,
resampled bilinearly to the original size and arg-maxed, in bands of rows, touching only
pixels near class boundaries (:func:`resample_argmax`). Without padding both routes give the
same map (a test checks it).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tlweb import registry
from tlweb.catalog import SEGMENTATION, ModelSpec
from tlweb.config import Settings, get_settings
from tlweb.engine.images import load_image
from tlweb.engine.loading import LoadedModel, RunFacts, facts_json, load
from tlweb.engine.pipeline import (
    Prepared,
    float_outputs,
    inference_task,
    model_side,
    prepare_image,
    result_facts,
    to_model_inputs,
)

# families whose processor also answers panoptic segmentation (the segmentation task's record says)
UNIVERSAL_SEGMENTATION = frozenset(registry.task(SEGMENTATION).auto_class_for)
BAND_ELEMENTS = 16_000_000  # floats resampled at once (64 MB in fp32)
PANOPTIC_THRESHOLD = 0.5  # transformers' defaults for post_process_panoptic_segmentation
PANOPTIC_OVERLAP = 0.8


# --------------------------------------------------------------------------- results


@dataclass
class ClassShare:
    id: int
    name: str
    share: float  # of all pixels, in [0, 1]
    pixels: int

    def as_dict(self) -> dict:
        return {"id": self.id, "name": self.name, "share": round(self.share, 6), "pixels": self.pixels}


@dataclass
class Segment:
    """One panoptic segment (an instance of a thing, or a stuff region)."""

    id: int
    label_id: int
    label: str
    score: float
    share: float

    def as_dict(self) -> dict:
        return {"id": self.id, "label_id": self.label_id, "label": self.label, "score": round(self.score, 6),
                "share": round(self.share, 6)}


@dataclass
class SegmentResult(RunFacts):
    label_map: np.ndarray  # H×W class ids, the original image's size
    class_names: dict[int, str]  # every class the model knows
    classes: list[ClassShare]  # classes present, largest share first
    width: int
    height: int
    segments: list[Segment] | None = None  # panoptic segments (universal models only)
    panoptic_map: np.ndarray | None = None  # H×W segment ids (-1: no segment)

    @property
    def has_panoptic(self) -> bool:
        return self.segments is not None

    def as_dict(self) -> dict:
        out = {
            **facts_json(self),
            "width": self.width,
            "height": self.height,
            "classes": [{"name": c.name, "share": round(c.share, 6), "id": c.id, "pixels": c.pixels}
                        for c in self.classes],
            "num_classes": len(self.class_names),
        }
        if self.segments is not None:
            out["segments"] = [s.as_dict() for s in self.segments]
        return out


def class_names(config) -> dict[int, str]:
    id2label = getattr(config, "id2label", None) or {}
    names = {}
    for k, v in id2label.items():
        try:
            names[int(k)] = str(v)
        except (TypeError, ValueError):
            continue
    return names


def pixel_counts(ids: np.ndarray, rows_per_chunk: int = 512) -> np.ndarray:
    """``np.bincount`` of a (large) integer map, chunked by rows; negative ids are skipped."""
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64)
    top = int(ids.max())
    if top < 0:
        return np.zeros(0, dtype=np.int64)
    counts = np.zeros(top + 1, dtype=np.int64)
    ids2 = ids.reshape(ids.shape[0], -1) if ids.ndim > 1 else ids[None]
    for r0 in range(0, ids2.shape[0], rows_per_chunk):
        chunk = ids2[r0:r0 + rows_per_chunk].ravel()
        if chunk.dtype.kind == "i":
            chunk = chunk[chunk >= 0]
        counts += np.bincount(chunk, minlength=top + 1)
    return counts


def class_shares(label_map: np.ndarray, names: dict[int, str]) -> list[ClassShare]:
    """Pixel share of each class present in ``label_map``, largest first."""
    total = label_map.size
    if total == 0:
        return []
    counts = pixel_counts(label_map)
    present = np.flatnonzero(counts)
    rows = [ClassShare(int(i), names.get(int(i), f"class {int(i)}"), float(counts[i]) / total, int(counts[i]))
            for i in present]
    rows.sort(key=lambda c: (-c.pixels, c.id))
    return rows


def _label_dtype(num_classes: int):
    if num_classes <= 256:
        return np.uint8
    if num_classes <= 65536:
        return np.uint16
    return np.int32


# --------------------------------------------------------------------------- resampling


def _source_coords(n_out: int, n_src: int, frac: float):
    """Bilinear source indices (i0, i1) and weight of i1 for output pixel centres
    (``align_corners=False``; ``frac`` < 1 samples only the first ``frac`` of the source)."""
    src = (np.arange(n_out, dtype=np.float64) + 0.5) * (frac * n_src / n_out) - 0.5
    src = np.clip(src, 0.0, min(n_src - 1, max(0.0, frac * n_src - 1)))  # clamp at the picture's edge
    i0 = np.minimum(np.floor(src).astype(np.int64), n_src - 1)
    i1 = np.minimum(i0 + 1, n_src - 1)
    return i0, i1, (src - i0).astype(np.float32), src


def resample_argmax(scores, out_h: int, out_w: int, content: tuple[float, float] = (1.0, 1.0),
                    band_elements: int = BAND_ELEMENTS) -> np.ndarray:
    """Bilinearly resample per-class ``scores`` (C×h×w) to out_h×out_w and take the arg-max.

    ``content`` = (fraction of the width, fraction of the height) of the score map that
    shows the picture (top-left aligned); the rest is padding and is cut away: the result is
    what ``F.interpolate(mode="bilinear", align_corners=False)`` gives on the cropped scores
    (pixel centres, borders clamped at the picture's edge). Exact and fast: where the four score pixels around an output pixel share one
    arg-max, every bilinear mix of them has that arg-max too, so only pixels near class
    boundaries are interpolated — in bands, so memory stays bounded for 8000×8000 photos.
    """
    import torch
    import torch.nn.functional as F

    scores = scores.detach().float().cpu()
    c, h, w = scores.shape
    fx, fy = content
    dtype = _label_dtype(c)
    if fx == 1.0 and fy == 1.0 and c * out_h * out_w <= band_elements:  # small: one native call
        up = F.interpolate(scores[None], size=(out_h, out_w), mode="bilinear", align_corners=False)[0]
        return up.argmax(dim=0).numpy().astype(dtype)
    y0, _, _, sy = _source_coords(out_h, h, fy)  # y0/x0: the top-left score pixel of each output pixel's cell
    x0, _, _, sx = _source_coords(out_w, w, fx)
    low = scores.argmax(dim=0).numpy()
    padded = np.pad(low, ((0, 1), (0, 1)), mode="edge")
    uniform = ((padded[:-1, :-1] == padded[1:, :-1]) & (padded[:-1, :-1] == padded[:-1, 1:])
               & (padded[:-1, :-1] == padded[1:, 1:]))
    # Cells are (y0, x0) … (y0+1, x0+1); y1/x1 clamp at the last row/column, where the
    # edge-padded copy makes the comparison trivially true, as it should be.
    result = np.empty((out_h, out_w), dtype=dtype)
    band = max(1, band_elements // max(1, c * out_w))
    src = scores[None]
    # grid_sample coordinates (align_corners=False: -1 and 1 are the outer edges of the score map).
    gx = torch.from_numpy(((sx + 0.5) / w * 2 - 1).astype(np.float32))
    gy = torch.from_numpy(((sy + 0.5) / h * 2 - 1).astype(np.float32))
    for r0 in range(0, out_h, band):
        r1 = min(out_h, r0 + band)
        rows = slice(r0, r1)
        result[rows] = low[y0[rows][:, None], x0[None, :]]
        mixed = ~uniform[y0[rows][:, None], x0[None, :]]
        ii, jj = np.nonzero(mixed)
        if ii.size == 0:
            continue
        grid = torch.stack([gx[torch.from_numpy(jj)], gy[torch.from_numpy(ii + r0)]], dim=-1)[None, None]
        vals = F.grid_sample(src, grid, mode="bilinear", padding_mode="border", align_corners=False)[0, :, 0]
        result[r0 + ii, jj] = vals.argmax(dim=0).numpy().astype(dtype)
    return result


def resize_nearest(ids: np.ndarray, out_h: int, out_w: int, content: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Nearest-neighbour resize of an integer map, keeping only the ``content`` part (top-left)."""
    h, w = ids.shape
    fx, fy = content
    rows = np.minimum(((np.arange(out_h) + 0.5) / out_h * fy * h).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(out_w) + 0.5) / out_w * fx * w).astype(np.int64), w - 1)
    return ids[rows[:, None], cols[None, :]]


# --------------------------------------------------------------------------- running


def _padding_fraction(inputs) -> tuple[float, float]:
    """Share of the processed tensor that holds the image (processors pad bottom/right)."""
    mask = inputs.get("pixel_mask") if hasattr(inputs, "get") else None
    if mask is None:
        return 1.0, 1.0
    m = mask[0]
    valid_h = int(m.any(dim=1).sum())
    valid_w = int(m.any(dim=0).sum())
    return valid_w / m.shape[1], valid_h / m.shape[0]


def _score_maps(loaded: LoadedModel, outputs):
    """Per-class score maps at the model's resolution, from the processor's post-processing."""
    proc = getattr(loaded.processor, "image_processor", loaded.processor)
    post = getattr(proc, "post_process_semantic_segmentation", None)
    if post is not None:
        try:
            res = post(outputs, return_segmentation_scores=True)
            return res[0].segmentation_scores
        except TypeError:  # an older processor without return_segmentation_scores
            pass
    logits = getattr(outputs, "logits", None)
    if logits is None:
        raise RuntimeError("the model's outputs have no segmentation logits")
    return logits[0]


def _panoptic(loaded: LoadedModel, outputs, prep: Prepared, pad_frac, names) -> tuple[list[Segment], np.ndarray] | None:
    proc = getattr(loaded.processor, "image_processor", loaded.processor)
    post = getattr(proc, "post_process_panoptic_segmentation", None)
    if post is None:
        return None
    res = post(outputs, threshold=PANOPTIC_THRESHOLD, overlap_mask_area_threshold=PANOPTIC_OVERLAP,
               label_ids_to_fuse=set())[0]
    seg = res["segmentation"]
    seg = seg.cpu().numpy().astype(np.int32) if hasattr(seg, "cpu") else np.asarray(seg, dtype=np.int32)
    cfx, cfy = prep.content_fraction
    seg = seg.astype(np.int16) if seg.size and seg.max() < 32767 else seg
    ids = resize_nearest(seg, prep.height, prep.width, (cfx * pad_frac[0], cfy * pad_frac[1]))
    counts = pixel_counts(ids)
    total = ids.size
    segments = []
    for info in res["segments_info"]:
        sid = int(info["id"])
        pixels = int(counts[sid]) if sid < len(counts) else 0
        if pixels == 0:
            continue
        lid = int(info["label_id"])
        segments.append(Segment(sid, lid, names.get(lid, f"class {lid}"), float(info.get("score", 0.0)), pixels / total))
    segments.sort(key=lambda s: -s.share)
    return segments, ids


@inference_task(SEGMENTATION, image_factor=3.0)
def segment(image, model: str | ModelSpec, settings: Settings | None = None, panoptic: bool = True) -> SegmentResult:
    """Segment one image (path, bytes, PIL or array) with ``model``."""
    settings = settings or get_settings()
    img = load_image(image, settings)
    loaded = load(model, task=SEGMENTATION, settings=settings)
    return segment_loaded(img, loaded, panoptic=panoptic)


def run_model(loaded: LoadedModel, prep: Prepared):
    """Processor + forward pass; returns (outputs, processed inputs)."""
    import torch

    inputs = loaded.processor(images=prep.image, return_tensors="pt")
    with torch.inference_mode():
        outputs = loaded.model(**to_model_inputs(loaded, inputs))
    float_outputs(outputs, ("logits", "class_queries_logits", "masks_queries_logits"))
    return outputs, inputs


def segment_loaded(img, loaded: LoadedModel, panoptic: bool = True) -> SegmentResult:
    import torch

    t0 = time.perf_counter()
    prep = prepare_image(img, max_side=model_side(loaded))
    outputs, inputs = run_model(loaded, prep)
    names = class_names(loaded.model.config)
    pad_frac = _padding_fraction(inputs)
    cfx, cfy = prep.content_fraction
    content = (cfx * pad_frac[0], cfy * pad_frac[1])
    proc = getattr(loaded.processor, "image_processor", loaded.processor)
    with torch.inference_mode():
        if (content == (1.0, 1.0) and len(names) * prep.height * prep.width <= BAND_ELEMENTS
                and hasattr(proc, "post_process_semantic_segmentation")):
            # The common case (a photo of ordinary size, nothing padded): the processor's own
            # post-processing at the original size, in one pass.
            seg_map = proc.post_process_semantic_segmentation(outputs, target_sizes=[(prep.height, prep.width)])[0]
            n = int(seg_map.max()) + 1 if seg_map.numel() else 1
            label_map = seg_map.cpu().numpy().astype(_label_dtype(max(n, len(names))))
        else:
            scores = _score_maps(loaded, outputs)
            label_map = resample_argmax(scores, prep.height, prep.width, content, band_elements=BAND_ELEMENTS)
        top = int(label_map.max()) + 1 if label_map.size else 0
        if len(names) < top:
            names.update({i: f"class {i}" for i in range(top) if i not in names})
        segments = pan_map = None
        model_type = getattr(loaded.model.config, "model_type", "")
        if panoptic and model_type in UNIVERSAL_SEGMENTATION:
            pan = _panoptic(loaded, outputs, prep, pad_frac, names)
            if pan is not None:
                segments, pan_map = pan
    shares = class_shares(label_map, names)
    return SegmentResult(label_map=label_map, class_names=names, classes=shares, segments=segments,
                         panoptic_map=pan_map, **result_facts(loaded, prep, t0))


def save_mask(result: SegmentResult, path, colors: list[tuple[int, int, int]] | None = None) -> None:
    """Write the label map as a PNG: palette image (class id = pixel value) when ≤ 256 classes."""
    from PIL import Image

    lm = result.label_map
    if lm.dtype == np.uint8:
        im = Image.fromarray(lm)  # "L"; a palette turns it into "P" with the same pixel values
        if colors:
            flat = [v for c in colors[:256] for v in c]
            im.putpalette(flat + [0] * (768 - len(flat)))
        im.save(path)
    else:
        Image.fromarray(lm.astype(np.uint16)).save(path)  # 16-bit greyscale PNG of class ids


def before_after(image, base: str | ModelSpec, tuned: str | ModelSpec,
                 settings: Settings | None = None) -> tuple[SegmentResult, SegmentResult]:
    """One picture through the base model and through its fine-tuned copy (the same image decoded once):
    what fine-tuning changed. Each result carries its own model's classes (the base model's are its
    pretraining classes, the fine-tuned one's are the dataset's)."""
    settings = settings or get_settings()
    img = load_image(image, settings)
    return segment(img, base, settings), segment(img, tuned, settings)
