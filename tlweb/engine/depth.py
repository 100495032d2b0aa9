"""Monocular depth estimation: how far away each pixel is, as a DPT / Depth Anything model guesses it.

``estimate_depth(image, model)`` returns the model's depth map at the ORIGINAL image's size (H×W
float32), its smallest and largest value, what the values mean (:func:`output_kind`) and the facts
every result carries (latency, device, dtype, parameters).

What the values mean depends on the model. DPT (MiDaS), Depth Anything's relative models and tlweb's
demo model predict *relative inverse depth*: larger = nearer, in units of their own (no metres; only
the order and the ratios of nearness mean something). Metric models (ZoeDepth, GLPN, Depth Pro, Depth
Anything's metric checkpoints) predict metres: larger = farther. The result says which, so a picture
of it can always paint the near pixels the same way.

How the map is made: the model's processor prepares the picture (huge photos are first downscaled,
extreme aspect ratios padded: :func:`tlweb.engine.pipeline.prepare_image`), the model predicts at its
own resolution, and the prediction, cut to the part that shows the picture, is resampled bilinearly
(in fp32) to the original size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tlweb.catalog import DEPTH, ModelSpec
from tlweb.config import Settings, get_settings
from tlweb.engine.images import load_image
from tlweb.engine.loading import LoadedModel, RunFacts, facts_json, load
from tlweb.engine.pipeline import inference_task, model_side, prepare_image, result_facts, to_model_inputs

INVERSE = "relative inverse depth"  # larger = nearer, the model's own units
METRIC = "depth"  # metres, larger = farther
METRIC_FAMILIES = ("zoedepth", "glpn", "depth_pro")  # families that predict metres whatever their config says


@dataclass(frozen=True)
class DepthKind:
    """What a depth model's numbers are."""

    kind: str  # INVERSE or METRIC
    unit: str  # "m", or "" for a model's own relative units
    note: str = ""  # what the numbers mean, when the model says (tlweb's demo model: "10 / metres …")

    @property
    def nearer_is_larger(self) -> bool:
        return self.kind == INVERSE

    @property
    def axis_title(self) -> str:
        """An axis or colour-bar title with the unit."""
        if self.kind == METRIC:
            return "depth (m)"
        return "inverse depth (larger = nearer)"


def output_kind(config) -> DepthKind:
    """What the model predicts, from its config: tlweb's own note (the demo model), Depth Anything's
    ``depth_estimation_type``, the metric families; anything else is relative inverse depth (DPT / MiDaS)."""
    meta = getattr(config, "tlweb", None)
    note = meta.get("depth_output") if isinstance(meta, dict) else None
    meaning = str(note.get("meaning", "")) if isinstance(note, dict) else ""
    if isinstance(note, dict) and "metre" in str(note.get("kind", "")):
        return DepthKind(METRIC, "m", meaning)
    if getattr(config, "depth_estimation_type", None) == "metric":
        return DepthKind(METRIC, "m")
    if getattr(config, "model_type", "") in METRIC_FAMILIES:
        return DepthKind(METRIC, "m")
    return DepthKind(INVERSE, "", meaning)


@dataclass
class DepthResult(RunFacts):
    depth: np.ndarray  # H×W float32, the original image's size, in the model's units (see ``output``)
    output: DepthKind
    width: int
    height: int

    @property
    def depth_min(self) -> float:
        return float(np.nanmin(self.depth)) if self.depth.size else 0.0

    @property
    def depth_max(self) -> float:
        return float(np.nanmax(self.depth)) if self.depth.size else 0.0

    def nearness(self) -> np.ndarray:
        """The map scaled to 0…1 with 1 = the nearest pixel, whatever the model's convention."""
        lo, hi = self.depth_min, self.depth_max
        scaled = (self.depth - lo) / (hi - lo) if hi > lo else np.zeros_like(self.depth)
        return scaled if self.output.nearer_is_larger else 1.0 - scaled

    def as_dict(self) -> dict:
        return {**facts_json(self), "width": self.width, "height": self.height,
                "depth_min": round(self.depth_min, 6), "depth_max": round(self.depth_max, 6),
                "kind": self.output.kind, "unit": self.output.unit}


@inference_task(DEPTH, image_factor=2.0)
def estimate_depth(image, model: str | ModelSpec, settings: Settings | None = None) -> DepthResult:
    """The depth map of one image (path, bytes, PIL or array) by ``model``, at the image's size."""
    settings = settings or get_settings()
    img = load_image(image, settings)
    loaded = load(model, task=DEPTH, settings=settings)
    return depth_loaded(img, loaded)


def depth_loaded(img, loaded: LoadedModel) -> DepthResult:
    """:func:`estimate_depth` on a decoded picture with a loaded model."""
    import torch

    t0 = time.perf_counter()
    prep = prepare_image(img, max_side=model_side(loaded))
    inputs = loaded.processor(images=prep.image, return_tensors="pt")
    with torch.inference_mode():
        predicted = loaded.model(**to_model_inputs(loaded, inputs)).predicted_depth
        depth = resample(predicted, prep.height, prep.width, prep.content_fraction)
    return DepthResult(depth=depth, output=output_kind(loaded.model.config), **result_facts(loaded, prep, t0))


def resample(predicted, height: int, width: int, content: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """The model's prediction (1×h×w or h×w) cut to the ``content`` share that shows the picture
    (top-left) and resampled bilinearly, in fp32, to ``height``×``width``."""
    import torch.nn.functional as F

    pred = predicted.detach().float().cpu()
    pred = pred.reshape(1, 1, *pred.shape[-2:])
    h, w = pred.shape[-2:]
    fx, fy = content
    pred = pred[..., : max(1, round(h * fy)), : max(1, round(w * fx))]
    out = F.interpolate(pred, size=(height, width), mode="bilinear", align_corners=False)
    return out[0, 0].numpy().astype(np.float32, copy=False)

