"""The model side of a run: load a checkpoint with a fresh head sized to the classes, and save the
result (``save_pretrained`` + the processor + tlweb's metadata, and the most confident mistakes)."""

from __future__ import annotations

from pathlib import Path

from tlweb.config import Settings
from tlweb.engine.data import PreparedData, image_sources, row_name
from tlweb.engine.train.config import MAX_MISTAKES
from tlweb.engine.train.strategies import get_strategy
from tlweb.errors import TlwebError


def load_for_training(spec, class_names: list[str], strategy, seed: int = 0, settings: Settings | None = None):
    """Classification: (model, processor, spec) with a new, freshly initialised head for
    ``class_names``; fp32, train mode, on the CPU. ``strategy``: a Strategy record or its name
    (random weights when it is not ``pretrained``)."""
    from tlweb.catalog import CLASSIFICATION

    if isinstance(strategy, str):
        strategy = get_strategy(strategy)
    model, processor, spec = load_for_task(spec, task=CLASSIFICATION, class_names=class_names,
                                           pretrained=strategy.pretrained, seed=seed, settings=settings)
    if strategy.pretrained:
        _reset_head(model, seed)
    model.config.problem_type = "single_label_classification"
    return model, processor, spec


def load_for_task(spec, *, task: str, class_names: list[str], pretrained: bool = True, seed: int = 0,
                  settings: Settings | None = None):
    """The one place a training run loads a model: (model, processor, spec) for ``task`` with a head
    sized to ``class_names`` (id2label / label2id set), random weights when not ``pretrained``; fp32,
    train mode, on the CPU. Every TrainTask's ``load_model`` goes through here, and this goes through
    the one gate (:func:`tlweb.engine.loading.load_for_training`: the serving mode's location rules,
    safetensors unless pickle is allowed, never remote code)."""
    from tlweb.engine import loading

    return loading.load_for_training(spec, task=task, class_names=class_names, pretrained=pretrained, seed=seed,
                                     settings=settings)


def _reset_head(model, seed: int) -> None:
    """A fresh head even when the checkpoint's head happened to have the right size."""
    import torch

    from tlweb.engine.features import find_head

    _, lin, _ = find_head(model)
    g = torch.Generator().manual_seed(seed + 17)
    std = float(getattr(model.config, "initializer_range", 0.02) or 0.02)
    with torch.no_grad():
        lin.weight.copy_(torch.randn(lin.weight.shape, generator=g) * std)
        if lin.bias is not None:
            lin.bias.zero_()


def is_cnn(model) -> bool:
    import torch.nn as nn

    return sum(1 for m in model.modules() if isinstance(m, nn.Conv2d)) > 4


def save_model(model, processor, model_dir: Path, spec, base_name: str, strategy: str, data: PreparedData,
                settings: Settings) -> None:
    from tlweb.engine.loading import processor_input_size

    model_dir.mkdir(parents=True, exist_ok=True)
    params_m = round(sum(p.numel() for p in model.parameters()) / 1e6, 4)
    size = spec.input_size or processor_input_size(processor)
    family = spec.family if spec.family not in ("", "unknown") else getattr(model.config, "model_type", "unknown")
    model.config.tlweb = {
        "task": "image-classification",
        "family": family,
        "input_size": int(size) if size else None,
        "params_m": params_m,
        "pretrained_on": f"{base_name} fine-tuned ({strategy})",
        "license": "see the source model",
        "description": f"{strategy} fine-tune of {base_name} on {data.source} ({len(data.class_names)} classes)",
    }
    model.save_pretrained(model_dir)
    processor.save_pretrained(model_dir)


def save_mistakes(run_dir: Path, data: PreparedData, enc_test, pred, conf, settings: Settings) -> list[dict]:
    import torch

    from tlweb.engine.images import load_image

    y = enc_test.labels
    wrong = torch.nonzero(pred != y).flatten().tolist()
    wrong.sort(key=lambda i: -float(conf[i]))
    wrong = wrong[:MAX_MISTAKES]
    if not wrong:
        return []
    out_dir = run_dir / "mistakes"
    out_dir.mkdir(parents=True, exist_ok=True)
    sources = image_sources(data.test)
    out = []
    for k, i in enumerate(wrong):
        row = enc_test.rows[i]
        src = sources[row]
        try:
            img = load_image(src, settings, name=row_name(src, row))
        except TlwebError:
            continue
        img.thumbnail((256, 256))
        path = out_dir / f"{k:02d}.png"
        img.save(path)
        out.append({"image": str(path), "true": data.class_names[int(y[i])], "pred": data.class_names[int(pred[i])],
                    "confidence": round(float(conf[i]), 6), "source": row_name(src, row)})
    return out
