"""The model side of detection fine-tuning: a DETR-family detector with a new class head for the
user's categories, what each strategy trains, and the saved folder.

Families (whatever the installed transformers builds and runs on the CPU without custom kernels):
DETR, Conditional DETR, Deformable DETR, RT-DETR (v1 and v2), YOLOS, D-FINE. The class head is every
layer whose output is sized by the classes (DETR's ``class_labels_classifier``, RT-DETR's per-layer
``class_embed``, ``enc_score_head`` and ``denoising_class_embed`` …): loaded with
``ignore_mismatched_sizes`` and always drawn afresh with the family's own initialisation, so
``id2label`` is exactly the dataset's classes.

Strategies: ``head`` freezes the backbone (the convolutional ResNet of DETR / RT-DETR, the ViT of
YOLOS) and trains the transformer and the new head; ``full`` trains everything; ``scratch`` is the
same architecture from its config with random weights.
"""

from __future__ import annotations

import json
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.errors import ModelError

TASK = "object-detection"
STRATEGIES = ("head", "full", "scratch")
FAMILIES = ("detr", "conditional_detr", "deformable_detr", "rt_detr", "rt_detr_v2", "yolos", "d_fine")
# module names of the backbone that ``head`` freezes (those the model has)
BACKBONE_PREFIXES = ("model.backbone", "vit.embeddings.patch_embeddings", "vit.encoder")
# modules whose outputs are sized by the number of classes (the new head)
CLASS_HEAD_WORDS = ("class_labels_classifier", "class_embed", "enc_score_head", "denoising_class_embed",
                    "class_head")


def load_detector_for_training(spec, class_names: list[str], strategy: str, seed: int = 0,
                               settings: Settings | None = None):
    """(model, processor, spec): the detector with a new class head for ``class_names``, fp32, train
    mode, on the CPU; random weights for ``scratch``. The ONE place detection training loads a model
    (to become a call of the loading gate)."""
    import torch
    from transformers import AutoModelForObjectDetection

    from tlweb.catalog import DETECTION, task_from_config
    from tlweb.engine import loading as L

    settings = settings or get_settings()
    if strategy not in STRATEGIES:
        raise ModelError(f"'{strategy}' is not a detection strategy; for object detection pick "
                         f"{', '.join(STRATEGIES[:-1])} or {STRATEGIES[-1]}.")
    L._quiet_transformers()
    if spec.source == "demo":
        from tlweb.engine.demo import ensure_built

        ensure_built(spec.key, settings)
    source = spec.hub_id
    local = Path(source).is_dir()
    kwargs: dict = {"trust_remote_code": False}
    if local:
        kind = L._weights_kind(Path(source))
        if kind == "none" and strategy != "scratch":
            raise ModelError(f"The folder '{spec.key}' has a config.json but no weights (model.safetensors).")
        if kind == "pickle" and L._user_typed(spec) and not settings.allow_pickle:
            raise ModelError(f"The folder '{spec.key}' only has pickle weights (.bin), which can run code when "
                             "loaded. Convert them to safetensors, or start the app with TLWEB_ALLOW_PICKLE=1.")
        kwargs["local_files_only"] = True
    elif L._user_typed(spec) and not settings.allow_pickle:
        kwargs["use_safetensors"] = True
    config = L._load_config(spec, source, local, settings)
    task = task_from_config(config.to_dict())
    if task != DETECTION or config.model_type not in FAMILIES:
        what = L.TASK_NAMES.get(task, task) if task != DETECTION else f"a {config.model_type} detector"
        raise ModelError(f"'{spec.key}' is {what}; detection fine-tuning takes DETR, Conditional DETR, Deformable "
                         "DETR, RT-DETR, YOLOS or D-FINE models.")
    id2label = {i: str(n) for i, n in enumerate(class_names)}
    label2id = {str(n): i for i, n in enumerate(class_names)}
    torch.manual_seed(seed)
    if strategy == "scratch":
        config.id2label, config.label2id = id2label, label2id
        config.num_labels = len(class_names)
        _no_pretrained_backbone(config)
        model = AutoModelForObjectDetection.from_config(config)
    else:
        model = L._from_pretrained(AutoModelForObjectDetection, spec, source, local,
                                   {**kwargs, "id2label": id2label, "label2id": label2id,
                                    "ignore_mismatched_sizes": True}, settings)
        reset_class_head(model, seed)
    processor = L._load_processor(spec, source, local, DETECTION, settings)
    spec = L._enrich(spec, model, processor, DETECTION)
    model = model.float().cpu()
    model.train()
    return model, processor, spec


def _no_pretrained_backbone(config) -> None:
    """A config that would fetch backbone weights (timm / Hub) on construction builds without them."""
    for attr in ("use_pretrained_backbone",):
        if getattr(config, attr, False):
            setattr(config, attr, False)


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


def setup_strategy(model, strategy: str) -> tuple[str, list[str]]:
    """Freeze what ``strategy`` freezes; returns (what trains, in words; head parameter prefixes)."""
    heads = [n for n, _ in class_head_modules(model)]
    for p in model.parameters():
        p.requires_grad_(True)
    if strategy == "head":
        frozen = 0
        for name, p in model.named_parameters():
            if name.startswith(tuple(p + "." for p in backbone_prefixes(model))):
                p.requires_grad_(False)
                frozen += 1
        if not frozen:
            raise ModelError(f"No backbone was found to freeze in this {model.config.model_type} model; "
                             "pick full instead.")
        return "the transformer and the new class head (backbone frozen)", heads
    if strategy == "full":
        return "all layers (new class head)", heads
    if strategy == "scratch":
        return "all layers from random weights", heads
    raise ModelError(f"'{strategy}' is not a detection strategy; for object detection pick head, full or scratch.")


def param_groups(model, heads: list[str], lr: float, head_mult: float, wd: float) -> list[dict]:
    """AdamW groups: the class head at ``head_mult`` × ``lr``; no decay on vectors (norms, biases)."""
    groups: dict[tuple, list] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        is_head = any(name.startswith(h + ".") for h in heads)
        groups.setdefault((is_head, p.ndim > 1), []).append(p)
    return [{"params": ps, "lr": lr * (head_mult if h else 1.0), "weight_decay": wd if d else 0.0}
            for (h, d), ps in groups.items()]


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
