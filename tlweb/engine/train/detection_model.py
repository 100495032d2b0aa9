"""The model side of detection fine-tuning: a DETR-family detector's new class head for the user's
categories, its backbone (what ``head`` freezes), and the saved folder.

Families (each checked on transformers 5.25 with a tiny config, on the CPU, without custom kernels:
tests/engine/test_detect_families.py and the demo detectors): DETR, Conditional DETR, Deformable DETR,
RT-DETR (v1 and v2), YOLOS, D-FINE. The class head is every layer whose output is sized by the classes
(DETR's ``class_labels_classifier``, RT-DETR's per-layer ``class_embed``, ``enc_score_head`` and
``denoising_class_embed`` …); :func:`new_class_head` sizes it to the dataset's classes, each new class
starting from the mean of the checkpoint's class rows, so ``id2label`` is exactly the dataset's classes.

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




def checkpoint_config(spec, settings):
    """The checkpoint's own config (its class names), read by the same rules as the training load; no
    weights (the loading gate's :func:`~tlweb.engine.loading.load_config`, which builds a demo model first)."""
    from tlweb.engine import loading

    return loading.load_config(spec, task=TASK, settings=settings)[1]


def checkpoint_labels(config) -> list[str]:
    id2label = getattr(config, "id2label", None) or {}
    return [str(id2label.get(i, id2label.get(str(i), f"class {i}"))) for i in range(int(config.num_labels))]


def new_class_head(model, class_names: list[str], seed: int = 0):
    """The same detector with a class head for ``class_names``, every other weight kept.

    Each class-sized layer (its rows: one per class, plus "no object" / padding where the family has one)
    gets, for every new class, the MEAN of the pretrained class rows — the checkpoint's "some object is
    here", the same for all classes at the start — plus a little seeded noise; the "no object" / padding
    row is kept as it was. Classes then separate by training. A head drawn at random instead would also
    throw away which boxes the model proposes (RT-DETR picks its queries by the class scores): on the demo
    detector, 10 pictures per class, the worst of 3 seeds went from mAP 0.11–0.13 to 0.32–0.37."""
    import copy

    import torch

    old_k = int(model.config.num_labels)
    cfg = copy.deepcopy(model.config)
    cfg.id2label = {i: str(n) for i, n in enumerate(class_names)}
    cfg.label2id = {str(n): i for i, n in enumerate(class_names)}
    cfg.num_labels = len(class_names)
    if getattr(cfg, "use_pretrained_backbone", False):  # built from the config: never fetch backbone weights
        cfg.use_pretrained_backbone = False
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        fresh = type(model)(cfg)
    target = fresh.state_dict()
    g = torch.Generator().manual_seed(seed + 17)
    state = {}
    for key, old in model.state_dict().items():
        want = target[key].shape
        if old.shape == want:
            state[key] = old
            continue
        extra = old.shape[0] - old_k
        if extra not in (0, 1) or old.shape[1:] != want[1:] or want[0] != len(class_names) + extra:
            raise ModelError(f"The {model.config.model_type} model's '{key}' does not look like a class head, so "
                             "tlweb cannot give it new classes.")
        rows = old[:old_k].float()
        mean = rows.mean(0, keepdim=True).expand(len(class_names), *rows.shape[1:]).clone()
        if rows.dim() > 1:
            mean += torch.randn(mean.shape, generator=g) * 0.1 * float(rows.std() if old_k > 1 else rows.abs().mean())
        state[key] = torch.cat([mean, old[old_k:].float()]).to(old.dtype)
    fresh.load_state_dict(state)
    fresh.train(model.training)
    return fresh


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
