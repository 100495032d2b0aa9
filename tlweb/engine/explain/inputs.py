"""What the model sees: the whole picture squashed to its square input, normalised like its processor.

Classify lets the processor resize and centre-crop; an explanation must cover every pixel of the
photo, so here the whole picture is resized (aspect ratio not kept) to the model's input side and
normalised with the processor's own statistics (:class:`tlweb.engine.accel.Normalizer`). Large
photos are handled as Segment and Detect handle them: decoded with the same limits
(:func:`tlweb.engine.images.load_image`, no JPEG draft decoding because coordinates matter), then
downscaled in one PIL call with ``reducing_gap`` (fast for 8000×8000 photos); maps come back on a
grid that covers the original (:mod:`tlweb.engine.explain.maps`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tlweb.engine.loading import LoadedModel, processor_input_size

DEFAULT_SIDE = 224


def input_side(loaded: LoadedModel) -> int:
    """The square side the model reads: the processor's crop/resize size, else the config's image size."""
    side = None
    try:
        side = processor_input_size(loaded.processor)
    except Exception:  # noqa: BLE001 - an unusual processor: fall back to the config
        side = None
    if not side:
        size = getattr(loaded.model.config, "image_size", None)
        side = size[0] if isinstance(size, (list, tuple)) else size
    return int(side or loaded.spec.input_size or DEFAULT_SIDE)


@dataclass
class ModelInput:
    pixel_values: object  # float tensor [1, 3, side, side] on the model's device and dtype
    width: int  # original image size
    height: int
    side: int


def model_input(img, loaded: LoadedModel) -> ModelInput:
    """The picture (RGB PIL) as the model's input tensor."""
    import torch
    from PIL import Image

    from tlweb.engine.accel import Normalizer

    side = input_side(loaded)
    small = img.convert("RGB").resize((side, side), Image.Resampling.BILINEAR, reducing_gap=3.0)
    x = torch.from_numpy(np.asarray(small, dtype=np.uint8).copy()).permute(2, 0, 1)[None].to(loaded.device)
    pixels = Normalizer(loaded.processor, loaded.device)(x)
    dtype = next(loaded.model.parameters()).dtype
    return ModelInput(pixel_values=pixels.to(dtype), width=img.size[0], height=img.size[1], side=side)
