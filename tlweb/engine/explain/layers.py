"""Which layers a model has, and how to read each one's output as a map.

Layers are the backbone's main stack of blocks found by walking the model
(:func:`tlweb.engine.features.find_blocks`: ResNet/ConvNeXt stages, EfficientNet blocks, MobileNet
layers, ViT/DeiT/BEiT/DINOv2 encoder layers, Swin stages) — never a path copied from one
transformers version. A block's output is either a feature map ``[B, C, h, w]`` (CNNs) or tokens
``[B, T, C]`` (transformers): a few prefix tokens (CLS, distillation, registers) followed by the
patch tokens in row-major order, which :func:`as_spatial` reshapes to ``[B, C, h, w]``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tlweb.engine.explain.hooks import first_tensor, tensors_of
from tlweb.errors import ModelError

MAX_PREFIX = 16  # CLS + distillation + register tokens are never more than this


class ExplainError(ModelError):
    """A method does not apply to a model, or a layer / class / head does not exist."""


@dataclass(frozen=True)
class LayerInfo:
    index: int
    name: str  # qualified module name, e.g. "resnet.encoder.stages.3"
    kind: str  # "conv" (feature map) | "tokens"
    shape: tuple[int, ...]  # one image's output: (C, h, w) or (T, C)
    grid: tuple[int, int]  # (h, w) of the map it gives
    prefix: int = 0  # tokens before the patches (CLS …)

    @property
    def label(self) -> str:
        """"stage 3", "layer 11", "block 15" (the container's own word, singular)."""
        parent = self.name.rsplit(".", 2)[-2] if self.name.count(".") else "layer"
        word = {"stages": "stage", "layers": "layer", "layer": "layer", "blocks": "block"}.get(parent, parent)
        return f"{word} {self.index}"

    @property
    def channels(self) -> int:
        return self.shape[0] if self.kind == "conv" else self.shape[-1]

    def as_dict(self) -> dict:
        return {"index": self.index, "name": self.name, "kind": self.kind, "shape": list(self.shape),
                "grid": list(self.grid), "prefix": self.prefix}


def blocks(model) -> list[tuple[str, object]]:
    """(qualified name, module) of each block of the backbone's main stack, input side first."""
    from tlweb.engine.features import find_blocks

    name, stack = find_blocks(model)
    if stack is None:
        raise ExplainError("tlweb found no stack of blocks in this model, so it cannot show maps per layer; "
                           "use occlusion, which works for any model.")
    return [(f"{name}.{i}", m) for i, m in enumerate(stack)]


def patch_size(config) -> int | None:
    p = getattr(config, "patch_size", None)
    if isinstance(p, (list, tuple)):
        p = p[0] if p else None
    return int(p) if isinstance(p, int) and p > 0 else None


def token_grid(tokens: int, height: int, width: int, patch: int | None = None) -> tuple[tuple[int, int], int]:
    """((h, w), prefix) for ``tokens`` tokens of an image of ``height×width`` model pixels."""
    if patch:
        gh, gw = height // patch, width // patch
        if gh > 0 and gw > 0 and 0 <= tokens - gh * gw <= MAX_PREFIX:
            return (gh, gw), tokens - gh * gw
    for prefix in range(0, MAX_PREFIX + 1):
        n = tokens - prefix
        if n <= 0:
            break
        guess = math.sqrt(n * height / width)
        for gh in (math.floor(guess), math.ceil(guess)):
            if gh > 0 and n % gh == 0 and abs((n // gh) / gh - width / height) <= 0.25 * width / height:
                return (gh, n // gh), prefix
    raise ExplainError(f"tlweb cannot arrange this layer's {tokens} tokens on the image's patch grid.")


def as_spatial(output, height: int, width: int, patch: int | None = None):
    """A block's output as ``(tensor [B, C, h, w], info)`` where ``info`` = (kind, prefix, raw tensor).

    ``raw`` is the tensor the block really passes on (for gradients); the returned map is a view
    of it. A tuple output (Swin stages) gives its first tensor; a 4-D sibling in the tuple tells
    the token grid."""
    raw = first_tensor(output)
    if raw is None:
        raise ExplainError("This layer returns no tensor tlweb can read as a map.")
    if raw.dim() == 4:
        return raw, ("conv", 0, raw)
    if raw.dim() != 3:
        raise ExplainError(f"This layer's output has shape {tuple(raw.shape)}, which is not a map or a row of tokens.")
    b, t, c = raw.shape
    grid = None
    for sib in tensors_of(output)[1:]:
        if sib.dim() == 4 and sib.shape[2] * sib.shape[3] <= t and t - sib.shape[2] * sib.shape[3] <= MAX_PREFIX:
            grid, prefix = (int(sib.shape[2]), int(sib.shape[3])), t - int(sib.shape[2] * sib.shape[3])
            break
    if grid is None:
        grid, prefix = token_grid(t, height, width, patch)
    spatial = raw[:, prefix:, :].reshape(b, grid[0], grid[1], c).permute(0, 3, 1, 2)
    return spatial, ("tokens", prefix, raw)


def layer_infos(outputs: dict, names: list[str], height: int, width: int, patch: int | None) -> list[LayerInfo]:
    infos = []
    for i, name in enumerate(names):
        out = outputs.get(name)
        if out is None:
            continue
        spatial, (kind, prefix, raw) = as_spatial(out, height, width, patch)
        shape = tuple(int(s) for s in raw.shape[1:])
        infos.append(LayerInfo(i, name, kind, shape, (int(spatial.shape[2]), int(spatial.shape[3])), prefix))
    return infos


def has_attention(model) -> bool:
    return any(type(m).__name__.endswith(("Attention", "SelfAttention")) for m in model.modules())


WINDOWED = {"swin", "swinv2", "donut-swin", "maskformer-swin"}


def attention_refusal(model, name: str) -> str | None:
    """Why attention maps / rollout do not apply to this model (None when they do)."""
    model_type = getattr(model.config, "model_type", "?")
    if model_type in WINDOWED:
        return (f"'{name}' ({model_type}) attends within local windows and has no CLS token, so it has no "
                "CLS-to-patch attention map or rollout; use Grad-CAM, occlusion or feature maps.")
    if not has_attention(model):
        return (f"'{name}' ({model_type}) is a convolutional network with no attention layers, so attention maps "
                "and rollout do not apply; use Grad-CAM, occlusion or feature maps.")
    return None
