"""Object detection: closed-set (DETR, YOLOS, RT-DETR …) and zero-shot from text (OWLv2, OWL-ViT).

``detect(image, model, queries=None, threshold=None)`` returns boxes in ORIGINAL image pixels
(x0, y0, x1, y1), with labels and scores, best first.

Coordinates: the processor's own post-processing (``post_process_object_detection`` /
``post_process_grounded_object_detection``) turns normalised boxes into pixels of the image
the processor was given — for OWLv2 that includes its square padding (it scales by the
longer side). That image may itself be a downscaled and/or padded copy of the original
(see :func:`tlweb.engine.pipeline.prepare_image`), so :func:`to_original` divides by the
downscale factor and clips to the original frame; boxes that lie wholly in padding go.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

import numpy as np

from tlweb.catalog import DETECTION, ZERO_SHOT_DETECTION, ModelSpec
from tlweb.config import Settings, get_settings
from tlweb.engine.images import load_image
from tlweb.engine.listing import resolve
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
from tlweb.errors import ModelError, TlwebError
from tlweb.registry import task as task_record

ZERO_SHOT_FAMILIES = frozenset(task_record(ZERO_SHOT_DETECTION).model_types)  # they read text queries
DEFAULT_THRESHOLD = 0.5  # closed-set detectors (the transformers pipeline's default)
DEFAULT_ZERO_SHOT_THRESHOLD = 0.1  # OWL scores are sigmoid-calibrated lower
MAX_QUERIES = 16
MAX_BOXES = 300  # kept per image, best first
MIN_SIDE = 0.5  # boxes thinner than this (in original pixels, after clipping) are dropped


class QueryError(TlwebError):
    """Zero-shot detection without usable text queries."""


@dataclass
class Box:
    label: str
    score: float
    xyxy: tuple[float, float, float, float]  # original image pixels
    label_id: int = -1

    @property
    def width(self) -> float:
        return self.xyxy[2] - self.xyxy[0]

    @property
    def height(self) -> float:
        return self.xyxy[3] - self.xyxy[1]

    def as_dict(self) -> dict:
        return {"label": self.label, "score": round(float(self.score), 6),
                "xyxy": [round(float(v), 2) for v in self.xyxy], "label_id": self.label_id}


@dataclass
class ClassCount:
    label: str
    count: int
    max_score: float
    mean_score: float


@dataclass
class DetectResult(RunFacts):
    boxes: list[Box]  # every box at or above ``min_score``, best first
    width: int
    height: int
    threshold: float  # what the caller asked for; ``kept`` applies it
    min_score: float  # lowest score computed (the UI keeps more so its slider needs no rerun)
    zero_shot: bool
    queries: list[str]

    def kept(self, threshold: float | None = None) -> list[Box]:
        t = self.threshold if threshold is None else threshold
        return [b for b in self.boxes if b.score >= t]

    def counts(self, threshold: float | None = None) -> list[ClassCount]:
        return count_by_label(self.kept(threshold))

    def as_dict(self, threshold: float | None = None) -> dict:
        t = self.threshold if threshold is None else threshold
        kept = self.kept(t)
        out = {
            **facts_json(self),
            "width": self.width,
            "height": self.height,
            "threshold": t,
            "boxes": [b.as_dict() for b in kept],
            "counts": {c.label: c.count for c in count_by_label(kept)},
            "zero_shot": self.zero_shot,
        }
        if self.zero_shot:
            out["queries"] = list(self.queries)
        return out


def count_by_label(boxes: list[Box]) -> list[ClassCount]:
    """Per-label count, best and mean score; most frequent first."""
    groups: dict[str, list[float]] = {}
    for b in boxes:
        groups.setdefault(b.label, []).append(b.score)
    rows = [ClassCount(label, len(s), max(s), sum(s) / len(s)) for label, s in groups.items()]
    rows.sort(key=lambda r: (-r.count, -r.max_score, r.label))
    return rows


def parse_queries(text) -> list[str]:
    """Comma- (or newline-) separated text queries → a clean list, duplicates removed."""
    if text is None:
        return []
    parts = text if isinstance(text, (list, tuple)) else re.split(r"[,\n;]", str(text))
    out: list[str] = []
    for p in parts:
        q = " ".join(str(p).split()).strip()
        if q and q.lower() not in {o.lower() for o in out}:
            out.append(q)
    return out


def is_zero_shot(spec: ModelSpec) -> bool:
    return spec.task == ZERO_SHOT_DETECTION or spec.family in ZERO_SHOT_FAMILIES


def default_threshold(zero_shot: bool) -> float:
    return DEFAULT_ZERO_SHOT_THRESHOLD if zero_shot else DEFAULT_THRESHOLD


# --------------------------------------------------------------------------- coordinates


def to_original(boxes_fed, prep: Prepared) -> np.ndarray:
    """Boxes (N×4, x0 y0 x1 y1) in pixels of the image the processor got → original pixels.

    Undoes the downscale of :func:`prepare_image` and clips to the original frame (padding
    added on the right/bottom lies beyond it).
    """
    b = np.asarray(boxes_fed, dtype=np.float64).reshape(-1, 4).copy()
    sx, sy = prep.scale
    b[:, [0, 2]] /= sx
    b[:, [1, 3]] /= sy
    b[:, [0, 2]] = np.clip(b[:, [0, 2]], 0.0, prep.width)
    b[:, [1, 3]] = np.clip(b[:, [1, 3]], 0.0, prep.height)
    return b


def normalised_to_pixels(boxes_cxcywh, width: int, height: int, square_pad: bool = False) -> np.ndarray:
    """Reference mapping of normalised (cx, cy, w, h) boxes to pixel (x0, y0, x1, y1).

    DETR-style models normalise by the image's width and height; OWLv2 normalises by the
    side of the square it padded the image to (bottom/right), i.e. by max(width, height).
    Used by the tests to check what the processors' post-processing gives.
    """
    b = np.asarray(boxes_cxcywh, dtype=np.float64).reshape(-1, 4)
    sx, sy = (max(width, height),) * 2 if square_pad else (width, height)
    x0 = (b[:, 0] - b[:, 2] / 2) * sx
    y0 = (b[:, 1] - b[:, 3] / 2) * sy
    x1 = (b[:, 0] + b[:, 2] / 2) * sx
    y1 = (b[:, 1] + b[:, 3] / 2) * sy
    return np.stack([x0, y0, x1, y1], axis=1)


# --------------------------------------------------------------------------- running


def load_detector(model: str | ModelSpec, queries=None, settings: Settings | None = None) -> LoadedModel:
    """Load a closed-set or zero-shot detector, whichever ``model`` is.

    For a Hub id typed by the user the task is unknown before loading: try the closed-set
    detector first (or the zero-shot one when the id names an OWL model), then the other.
    """
    settings = settings or get_settings()
    spec = model if isinstance(model, ModelSpec) else resolve(model, task=DETECTION, settings=settings)
    if spec.source != "hub":
        return load(spec, task=ZERO_SHOT_DETECTION if is_zero_shot(spec) else DETECTION, settings=settings)
    first = ZERO_SHOT_DETECTION if "owl" in spec.hub_id.lower() or "grounding" in spec.hub_id.lower() else DETECTION
    second = DETECTION if first == ZERO_SHOT_DETECTION else ZERO_SHOT_DETECTION
    try:
        return load(spec, task=first, settings=settings)
    except ModelError as exc:
        if "looks like" not in str(exc):  # not a task mismatch: offline, missing, gated …
            raise
        try:
            return load(spec, task=second, settings=settings)
        except ModelError:
            raise exc from None


@inference_task(DETECTION, ZERO_SHOT_DETECTION, image_factor=1.5)
def detect(image, model: str | ModelSpec, queries=None, threshold: float | None = None,
           settings: Settings | None = None, min_score: float | None = None) -> DetectResult:
    """Detect objects in one image (path, bytes, PIL or array).

    ``queries``: comma-separated text (or a list) for zero-shot models; ignored by closed-set
    detectors. ``threshold``: keep boxes scoring at least this (default 0.5, zero-shot 0.1).
    ``min_score``: compute boxes down to this score (≤ threshold) so a UI can lower the
    threshold later without running the model again.
    """
    settings = settings or get_settings()
    img = load_image(image, settings)
    loaded = load_detector(model, queries, settings)
    return detect_loaded(img, loaded, queries, threshold, min_score)


def _check_queries(loaded: LoadedModel, queries) -> list[str]:
    q = parse_queries(queries)
    if not q:
        raise QueryError("This is a zero-shot detector: type what to look for, separated by commas "
                         "(e.g. 'cat, remote control, sofa').")
    if len(q) > MAX_QUERIES:
        raise QueryError(f"Up to {MAX_QUERIES} text queries at a time, please ({len(q)} were given).")
    return q


def run_model(loaded: LoadedModel, prep: Prepared, queries: list[str] | None):
    """Processor + forward pass on the prepared image; returns the raw outputs."""
    import torch

    if queries is not None:
        inputs = loaded.processor(text=[queries], images=prep.image, return_tensors="pt", truncation=True)
    else:
        inputs = loaded.processor(images=prep.image, return_tensors="pt")
    with torch.inference_mode():
        outputs = loaded.model(**to_model_inputs(loaded, inputs))
    float_outputs(outputs, ("logits", "pred_boxes"))
    return outputs


def postprocess(loaded: LoadedModel, outputs, prep: Prepared, min_score: float,
                queries: list[str] | None) -> list[Box]:
    """Raw outputs → boxes in original pixels, through the processor's own post-processing."""
    fw, fh = prep.fed_size
    target = [(fh, fw)]
    if queries is not None:
        grounded = getattr(loaded.processor, "post_process_grounded_object_detection", None)
        if grounded is not None:
            res = grounded(outputs, threshold=min_score, target_sizes=target, text_labels=[queries])[0]
        else:  # older processors: the image processor's method
            proc = getattr(loaded.processor, "image_processor", loaded.processor)
            res = proc.post_process_object_detection(outputs, threshold=min_score, target_sizes=target)[0]
        names = None
    else:
        proc = getattr(loaded.processor, "image_processor", loaded.processor)
        res = proc.post_process_object_detection(outputs, threshold=min_score, target_sizes=target)[0]
        names = getattr(loaded.model.config, "id2label", None) or {}
    scores = res["scores"].detach().float().cpu().numpy()
    labels = res["labels"].detach().cpu().numpy().astype(int) if res.get("labels") is not None else np.zeros(len(scores), int)
    boxes = to_original(res["boxes"].detach().float().cpu().numpy(), prep)
    out = []
    for score, lid, xyxy in zip(scores, labels, boxes):
        if xyxy[2] - xyxy[0] < MIN_SIDE or xyxy[3] - xyxy[1] < MIN_SIDE:
            continue  # in the padding (or degenerate) once clipped to the picture
        if not np.isfinite(xyxy).all():
            continue
        if queries is not None:
            label = queries[lid] if 0 <= lid < len(queries) else f"query {lid}"
        else:
            label = names.get(int(lid), names.get(str(int(lid)), f"class {int(lid)}"))
        out.append(Box(str(label), float(score), tuple(float(v) for v in xyxy), int(lid)))
    out.sort(key=lambda b: -b.score)
    return out[:MAX_BOXES]


def detect_loaded(img, loaded: LoadedModel, queries=None, threshold: float | None = None,
                  min_score: float | None = None) -> DetectResult:
    zero_shot = is_zero_shot(loaded.spec) or getattr(loaded.model.config, "model_type", "") in ZERO_SHOT_FAMILIES
    q = _check_queries(loaded, queries) if zero_shot else None
    threshold = default_threshold(zero_shot) if threshold is None else float(threshold)
    if not 0.0 <= threshold <= 1.0:
        raise TlwebError(f"The score threshold must lie between 0 and 1 (got {threshold:g}).")
    floor = threshold if min_score is None else min(float(min_score), threshold)
    t0 = time.perf_counter()
    prep = prepare_image(img, max_side=model_side(loaded))
    outputs = run_model(loaded, prep, q)
    boxes = postprocess(loaded, outputs, prep, floor, q)
    return DetectResult(boxes=boxes, threshold=threshold, min_score=floor, zero_shot=zero_shot, queries=q or [],
                        **result_facts(loaded, prep, t0))


def before_after(image, base: str | ModelSpec, tuned: str | ModelSpec, threshold: float | None = None,
                 settings: Settings | None = None) -> tuple[DetectResult, DetectResult]:
    """One picture through the base detector (its own classes) and through the fine-tuned one (the
    user's classes), at the same threshold: what fine-tuning changed, side by side."""
    settings = settings or get_settings()
    img = load_image(image, settings)
    before = detect_loaded(img, load_detector(base, None, settings), None, threshold)
    after = detect_loaded(img, load_detector(tuned, None, settings), None, threshold)
    return before, after
