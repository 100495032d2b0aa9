"""The steps every per-image inference task shares: prepare the picture, move the processor's
tensors to the model, time the call and carry the model's facts.

A task's engine module (classification, segmentation, detection, depth …) loads its model through
:func:`tlweb.engine.loading.load`, prepares the decoded picture with :func:`prepare_image` (huge
photos downscaled to :func:`model_side`, extreme aspect ratios padded), runs the processor and the
model with :func:`to_model_inputs`, post-processes in fp32 (:func:`float_outputs`) and builds its
result with ``**result_facts(loaded, prep, t0)`` (original size, latency, device, dtype, parameters).

Its runner is declared with :func:`inference_task` right above its definition: the task's record
(:mod:`tlweb.registry`) then runs it (``task(NAME).run(image, model, settings=…)``, what the CLI,
the tabs and the tests call) and it runs under ZeroGPU on a Space (:func:`tlweb.engine.zerogpu.gpu_task`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tlweb.engine.loading import LoadedModel, processor_input_size, run_facts
from tlweb.engine.zerogpu import gpu_task
from tlweb.registry import runs

MAX_MODEL_SIDE = 2048  # larger photos are downscaled before the processor (no model reads more)
MIN_MODEL_SIDE = 1024
MAX_ASPECT = 10.0  # longer/shorter side; beyond this the image is padded (bottom/right) first


def inference_task(*names: str, images: str = "image", models: str = "model", **gpu) -> Callable[[Callable], Callable]:
    """Declare ``fn(image, model, settings=…, **options)`` as the runner of the tasks ``names`` (their
    records in :mod:`tlweb.registry` must exist), wrapped for ZeroGPU by
    :func:`~tlweb.engine.zerogpu.gpu_task` (``images`` / ``models``: the arguments holding them; ``gpu``:
    its other duration terms, e.g. ``image_factor``)."""

    def declare(fn: Callable) -> Callable:
        return runs(*names)(gpu_task(images=images, models=models, **gpu)(fn))

    return declare



@dataclass(frozen=True)
class Prepared:
    """The picture the processor gets, and where the original lies inside it."""

    image: object  # PIL image handed to the processor
    width: int  # original size
    height: int
    content_w: int  # the original's extent inside ``image`` (top-left aligned)
    content_h: int

    @property
    def fed_size(self) -> tuple[int, int]:
        return self.image.size

    @property
    def scale(self) -> tuple[float, float]:
        """Fed-image pixels per original pixel, along x and y."""
        return self.content_w / self.width, self.content_h / self.height

    @property
    def content_fraction(self) -> tuple[float, float]:
        """Share of the fed image's width and height that shows the original."""
        fw, fh = self.fed_size
        return self.content_w / fw, self.content_h / fh


def prepare_image(img, max_side: int = MAX_MODEL_SIDE, max_aspect: float = MAX_ASPECT) -> Prepared:
    """Downscale huge photos and pad extreme aspect ratios (bottom/right, mean colour).

    Processors resize to a few hundred pixels anyway, so nothing is lost by downscaling
    first; padding keeps 1×4000 strips from collapsing to zero pixels in processors that
    keep the aspect ratio.
    """
    from PIL import Image

    w, h = img.size
    cw, ch = w, h
    fed = img
    if max(w, h) > max_side:
        s = max_side / max(w, h)
        cw, ch = max(1, round(w * s)), max(1, round(h * s))
        fed = img.resize((cw, ch), Image.Resampling.BILINEAR, reducing_gap=3.0)
    long_side, short_side = max(cw, ch), min(cw, ch)
    if long_side / short_side > max_aspect:
        need = math.ceil(long_side / max_aspect)
        pw, ph = (cw, need) if cw >= ch else (need, ch)
        fill = tuple(int(v) for v in np.asarray(fed).reshape(-1, 3).mean(axis=0))
        canvas = Image.new("RGB", (pw, ph), fill)
        canvas.paste(fed, (0, 0))
        fed = canvas
    return Prepared(image=fed, width=w, height=h, content_w=cw, content_h=ch)


def result_facts(loaded: LoadedModel, prep: Prepared, t0: float) -> dict:
    """The fields a per-image result shares: original size, latency since ``t0``, the model's facts."""
    return {"width": prep.width, "height": prep.height, "latency_ms": (time.perf_counter() - t0) * 1000,
            **run_facts(loaded)}


def model_side(loaded: LoadedModel) -> int:
    """How large a picture is worth handing this model's processor: twice its input size,
    between 1024 and 2048 pixels (processors shrink it to a few hundred pixels anyway)."""
    try:
        size = processor_input_size(loaded.processor) or 0
    except Exception:  # noqa: BLE001 - an unusual processor: use the ceiling
        size = MAX_MODEL_SIDE
    return int(min(MAX_MODEL_SIDE, max(MIN_MODEL_SIDE, 2 * size)))


def to_model_inputs(loaded: LoadedModel, inputs) -> dict:
    """Move processor outputs to the model's device; float tensors take the model's dtype."""
    import torch

    dtype = next(loaded.model.parameters()).dtype
    out = {}
    for k, v in inputs.items():
        if isinstance(v, torch.Tensor):
            v = v.to(loaded.device, dtype=dtype) if v.is_floating_point() else v.to(loaded.device)
        out[k] = v
    return out


def float_outputs(outputs, names) -> None:
    """Post-processing runs in fp32 even when the model ran in bf16."""
    for name in names:
        value = getattr(outputs, name, None)
        if value is not None and value.is_floating_point():
            setattr(outputs, name, value.float())
