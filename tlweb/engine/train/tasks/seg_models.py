"""What segmentation training needs to know about each model family: which parameters are the encoder,
the decoder and the new head (for the strategies), how to give a checkpoint a fresh head, what the
universal models (Mask2Former, MaskFormer) train on, and how any of them turns its outputs into a label map.

SegFormer, UperNet (ConvNeXt / Swin backbones), DPT, BEiT / Data2Vec-vision and MobileViT predict one
score map per class (``logits``) and compute their own cross-entropy from ``labels`` (255 ignored);
Mask2Former and MaskFormer predict masks and their classes per query and train on ``mask_labels`` +
``class_labels`` (one binary mask per class present), their semantic map being the query masks weighted
by the class probabilities (as their processors' ``post_process_semantic_segmentation`` computes it).
"""

from __future__ import annotations

from tlweb.engine.train.strategies import ModelParts
from tlweb.errors import ModelError

UNIVERSAL = ("mask2former", "maskformer")
IGNORE = 255
# The encoder (pretrained backbone) of each family, as a module name prefix; others: base_model_prefix.
ENCODERS = {
    "segformer": ("segformer",),
    "upernet": ("backbone",),
    "dpt": ("dpt",),
    "beit": ("beit",),
    "data2vec-vision": ("data2vec_vision",),
    "mobilevit": ("mobilevit",),
    "mobilevitv2": ("mobilevitv2",),
    "mask2former": ("model.pixel_level_module.encoder",),
    "maskformer": ("model.pixel_level_module.encoder",),
}
HEAD_WORDS = ("classifier", "class_predictor", "head")


def model_type(model) -> str:
    return str(getattr(model.config, "model_type", "") or "")


def is_universal(model) -> bool:
    return model_type(model) in UNIVERSAL


def _encoder(model) -> tuple[str, ...]:
    found = ENCODERS.get(model_type(model))
    if found is None:
        prefix = getattr(model, "base_model_prefix", "") or ""
        found = (prefix,) if prefix and hasattr(model, prefix) else ()
    names = {n for n, _ in model.named_modules()}
    found = tuple(p for p in found if p in names)
    if not found:
        raise ModelError(f"tlweb does not know which part of a '{model_type(model)}' segmenter is its encoder, so it "
                         "cannot be fine-tuned here; pick SegFormer, UperNet, DPT, BEiT, MobileViT or Mask2Former.")
    return found


def head_modules(model, num_labels: int, encoder: tuple[str, ...] = ()) -> tuple[str, ...]:
    """The layers that map features to the classes (a class-sized output), outside the encoder; the
    universal models' class predictor has one output more (no object)."""
    import torch.nn as nn

    width = num_labels + 1 if is_universal(model) else num_labels
    hits = []
    for name, m in model.named_modules():
        if any(name == p or name.startswith(p + ".") for p in encoder):
            continue
        out = m.out_channels if isinstance(m, nn.Conv2d) else m.out_features if isinstance(m, nn.Linear) else None
        if out == width:
            hits.append(name)
    named = [n for n in hits if any(w in n for w in HEAD_WORDS)]
    if not (named or hits):
        raise ModelError(f"No layer with one output per class was found in this '{model_type(model)}' model.")
    return tuple(named or hits)


def model_parts(model) -> ModelParts:
    """Encoder (frozen by ``decoder``), decoder and head of a segmenter; LoRA goes into the encoder. The
    decoder is every module beside the encoder on its path from the top (UperNet: ``decode_head``,
    ``auxiliary_head``; Mask2Former: its pixel decoder, transformer decoder and class predictor) that has
    weights."""
    encoder = _encoder(model)
    head = head_modules(model, len(model.config.id2label), encoder)
    modules = dict(model.named_modules())
    decoder = []
    for prefix in encoder:
        path = prefix.split(".")
        for depth in range(len(path)):
            parent = ".".join(path[:depth])
            for name, child in (modules[parent] if parent else model).named_children():
                full = f"{parent}.{name}" if parent else name
                if full != ".".join(path[:depth + 1]) and any(True for _ in child.parameters()):
                    decoder.append(full)
    decoder = tuple(d for d in dict.fromkeys(decoder) if not any(d == e or d.startswith(e + ".") for e in encoder))
    return ModelParts(encoder=encoder, head=head, decoder=decoder)


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
