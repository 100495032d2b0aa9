"""What segmentation training needs to know about each model family: its encoder, decoder and head
(:mod:`tlweb.engine.train.parts`), how to give a checkpoint a fresh head, what the universal models
(Mask2Former, MaskFormer) train on, and how any of them turns its outputs into a label map.

SegFormer, UperNet (ConvNeXt / Swin backbones), DPT, BEiT / Data2Vec-vision and MobileViT predict one
score map per class (``logits``) and compute their own cross-entropy from ``labels`` (255 ignored);
Mask2Former and MaskFormer predict masks and their classes per query and train on ``mask_labels`` +
``class_labels`` (one binary mask per class present), their semantic map being the query masks weighted
by the class probabilities (as their processors' ``post_process_semantic_segmentation`` computes it).
"""

from __future__ import annotations

from tlweb.engine.train.strategies import ModelParts

UNIVERSAL = ("mask2former", "maskformer")
IGNORE = 255


def model_type(model) -> str:
    return str(getattr(model.config, "model_type", "") or "")


def is_universal(model) -> bool:
    return model_type(model) in UNIVERSAL


def model_parts(model) -> ModelParts:
    """Encoder (frozen by ``decoder``; LoRA goes there), decoder and head of a segmenter: the one table in
    :mod:`tlweb.engine.train.parts`."""
    from tlweb.engine.train.parts import segmentation_parts

    return segmentation_parts(model)


def reset_heads(model, seed: int) -> None:
    """Fresh head weights even when the checkpoint's head had the right size already (as classification
    does): N(0, initializer_range²), biases 0."""
    import torch

    g = torch.Generator().manual_seed(seed + 17)
    std = float(getattr(model.config, "initializer_range", 0.02) or 0.02)
    modules = dict(model.named_modules())
    for name in model_parts(model).head:
        layer = modules[name]
        with torch.no_grad():
            layer.weight.copy_(torch.randn(layer.weight.shape, generator=g) * std)
            if layer.bias is not None:
                layer.bias.zero_()


def universal_targets(masks):
    """uint8 label maps [B, H, W] → Mask2Former's ``mask_labels`` (per image, one float binary mask per class
    present) and ``class_labels`` (those classes); ignored pixels belong to no mask."""
    import torch

    mask_labels, class_labels = [], []
    for m in masks:
        classes = torch.unique(m)
        classes = classes[classes != IGNORE].long()
        mask_labels.append((m[None].long() == classes[:, None, None]).float())
        class_labels.append(classes)
    return mask_labels, class_labels


def model_inputs(model, pixel_values, masks=None) -> dict:
    """The forward's keyword arguments: pixels, and with ``masks`` (uint8 [B, H, W]) the targets."""
    out = {"pixel_values": pixel_values}
    if masks is None:
        return out
    if is_universal(model):
        out["mask_labels"], out["class_labels"] = universal_targets(masks)
    else:
        out["labels"] = masks.long()
    return out


def semantic_scores(model, outputs, size: tuple[int, int]):
    """Per-class scores [B, K, H, W] at ``size``: the logits upsampled bilinearly, or for universal models
    the query masks weighted by their class probabilities (no-object left out)."""
    import torch
    import torch.nn.functional as F

    if hasattr(outputs, "class_queries_logits") and getattr(outputs, "class_queries_logits", None) is not None:
        probs = outputs.class_queries_logits.float().softmax(dim=-1)[..., :-1]
        masks = F.interpolate(outputs.masks_queries_logits.float(), size=size, mode="bilinear", align_corners=False)
        return torch.einsum("bqc,bqhw->bchw", probs, masks.sigmoid())
    return F.interpolate(outputs.logits.float(), size=size, mode="bilinear", align_corners=False)


def predict(model, outputs, size: tuple[int, int]):
    """Label maps [B, H, W] (long) at ``size``."""
    return semantic_scores(model, outputs, size).argmax(dim=1)
