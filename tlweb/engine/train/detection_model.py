"""The model side of detection fine-tuning: a DETR-family detector's new class head for the user's
categories, its backbone (what ``head`` freezes), and the saved folder.

Families (whatever the installed transformers builds and runs on the CPU without custom kernels):
DETR, Conditional DETR, Deformable DETR, RT-DETR (v1 and v2), YOLOS, D-FINE. The class head is every
layer whose output is sized by the classes (DETR's ``class_labels_classifier``, RT-DETR's per-layer
``class_embed``, ``enc_score_head`` and ``denoising_class_embed`` …): loaded with
``ignore_mismatched_sizes`` and always drawn afresh with the family's own initialisation, so
``id2label`` is exactly the dataset's classes.

Strategies (records in :mod:`tlweb.engine.train.strategies`, parts from :mod:`tlweb.engine.train.parts`):
``head`` freezes the backbone (the convolutional ResNet of DETR / RT-DETR / D-FINE, the ViT of YOLOS)
and trains the transformer, the box head and the new class head; ``full`` trains everything;
``scratch`` is the same architecture from its config with random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from tlweb.errors import ModelError

TASK = "object-detection"
FAMILIES = ("detr", "conditional_detr", "deformable_detr", "rt_detr", "rt_detr_v2", "yolos", "d_fine")
# module names of the backbone that ``head`` freezes (those the model has)
BACKBONE_PREFIXES = ("model.backbone", "vit.embeddings.patch_embeddings", "vit.encoder")
# modules whose outputs are sized by the number of classes (the new head)
CLASS_HEAD_WORDS = ("class_labels_classifier", "class_embed", "enc_score_head", "denoising_class_embed",
                    "class_head")


def class_head_modules(model) -> list[tuple[str, object]]:
    """(name, module) of every layer whose output is sized by the classes (K, or K + 1 with "no object")."""
    import torch.nn as nn

    k = int(model.config.num_labels)
    out = []
    for name, m in model.named_modules():
        if not any(w in CLASS_HEAD_WORDS for w in name.split(".")):
            continue
        if isinstance(m, nn.Linear) and m.out_features in (k, k + 1) or \
                isinstance(m, nn.Embedding) and m.num_embeddings in (k, k + 1):
            out.append((name, m))
    return out


SOFTMAX_FAMILIES = ("detr", "yolos")  # a "no object" class and softmax; the others score each class by a sigmoid


def reset_class_head(model, seed: int) -> list[str]:
    """Draw every class-sized layer afresh (even when the checkpoint's head happened to have the right
    size: its classes were others): weights from N(0, init_std²), biases 0 for softmax families and the
    focal-loss prior −log(99) (1 % foreground) for sigmoid ones, as the families initialise them.
    Returns their names."""
    import math

    import torch

    mods = class_head_modules(model)
    if not mods:
        raise ModelError(f"No class head was found in this {model.config.model_type} model.")
    std = float(getattr(model.config, "init_std", 0.02) or 0.02)
    prior = 0.0 if model.config.model_type in SOFTMAX_FAMILIES else -math.log((1 - 0.01) / 0.01)
    g = torch.Generator().manual_seed(seed + 17)
    with torch.no_grad():
        for _, m in mods:
            m.weight.copy_(torch.randn(m.weight.shape, generator=g) * std)
            if getattr(m, "bias", None) is not None:
                m.bias.fill_(prior)
    return [n for n, _ in mods]


def backbone_prefixes(model) -> tuple[str, ...]:
    """The backbone's module names in this model (the ResNet of DETR / RT-DETR / D-FINE, YOLOS's ViT)."""
    names = {n for n, _ in model.named_modules()}
    return tuple(p for p in BACKBONE_PREFIXES if p in names)


def save_detector(model, processor, model_dir: Path, hw: tuple[int, int], spec, base_name: str, strategy: str,
                  data, extra: dict | None = None) -> Path:
    """``save_pretrained`` + the processor set to the training size + tlweb's metadata in config.json,
    so the folder loads in ``tlweb detect`` and a plain ``transformers.pipeline("object-detection")``
    with the dataset's class names."""
    from tlweb.engine.train.detection_io import fixed_size_processor

    model_dir = Path(model_dir)
    model_dir.mkdir(parents=True, exist_ok=True)
    family = spec.family if spec.family not in ("", "unknown") else model.config.model_type
    model.config.tlweb = {
        "task": TASK, "family": family, "input_size": int(max(hw)),
        "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 4),
        "pretrained_on": f"{base_name} fine-tuned ({strategy})", "license": "see the source model",
        "description": f"{strategy} detection fine-tune of {base_name} on {data.source} ({len(data.class_names)} classes)",
        **(extra or {}),
    }
    model.save_pretrained(model_dir)
    fixed_size_processor(processor, hw).save_pretrained(model_dir)
    return model_dir


def read_meta(model_dir: Path) -> dict:
    try:
        return json.loads((Path(model_dir) / "config.json").read_text()).get("tlweb", {})
    except (OSError, ValueError):
        return {}
