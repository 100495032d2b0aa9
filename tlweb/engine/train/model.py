"""The model side of a run: load a checkpoint with a fresh head sized to the classes, and save the
result (``save_pretrained`` + the processor + tlweb's metadata, and the most confident mistakes)."""

from __future__ import annotations

from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.data import PreparedData, image_sources, row_name
from tlweb.engine.train.config import MAX_MISTAKES
from tlweb.engine.train.strategies import get_strategy
from tlweb.errors import ModelError, TlwebError


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
    sized to ``class_names`` (``ignore_mismatched_sizes``; id2label / label2id set), random weights
    when not ``pretrained``; fp32, train mode, on the CPU. Every TrainTask's ``load_model`` goes
    through here (issue 17 moves it behind the loading module's gate).

    :mod:`tlweb.engine.loading`'s rules: local folders need safetensors (pickle only with
    ``allow_pickle``), Hub ids are fetched only when cached or the Hub answers, never remote code.
    """
    import torch

    from tlweb.engine import loading as L

    settings = settings or get_settings()
    L._quiet_transformers()
    if spec.source == "demo":
        from tlweb.engine.demo import ensure_built

        ensure_built(spec.key, settings)
    source = spec.hub_id
    local = Path(source).is_dir()
    kwargs: dict = {"trust_remote_code": False}
    if local:
        kind = L._weights_kind(Path(source))
        if kind == "none" and pretrained:
            raise ModelError(f"The folder '{source}' has a config.json but no weights (model.safetensors).")
        if kind == "pickle" and L._user_typed(spec) and not settings.allow_pickle:
            raise ModelError(
                f"The folder '{source}' only has pickle weights (.bin), which can run code when loaded. "
                "Convert them to safetensors, or start the app with TLWEB_ALLOW_PICKLE=1 if you trust them.")
        kwargs["local_files_only"] = True
    elif L._user_typed(spec) and not settings.allow_pickle:
        kwargs["use_safetensors"] = True
    config = L._load_config(spec, source, local, settings)
    auto = _auto_class_for(spec, config, task)
    id2label = {i: str(n) for i, n in enumerate(class_names)}
    label2id = {str(n): i for i, n in enumerate(class_names)}
    torch.manual_seed(seed)
    if not pretrained:  # the architecture only, random weights
        config.id2label = id2label
        config.label2id = label2id
        config.num_labels = len(class_names)
        model = auto.from_config(config)
    else:
        model = L._from_pretrained(auto, spec, source, local, {**kwargs, "id2label": id2label, "label2id": label2id,
                                                               "ignore_mismatched_sizes": True}, settings)
    processor = L._load_processor(spec, source, local, task, settings)
    spec = L._enrich(spec, model, processor, task)
    model = model.float().cpu()
    model.train()
    return model, processor, spec


def _auto_class_for(spec, config, task: str):
    """The transformers Auto class that puts a ``task`` head on this checkpoint, or one sentence."""
    from tlweb.catalog import CLASSIFICATION, FEATURES, task_from_config
    from tlweb.engine import loading as L

    if task == CLASSIFICATION:
        found = task_from_config(config.to_dict())
        if found not in (CLASSIFICATION, FEATURES) or config.model_type in ("clip", "siglip", "siglip2", "owlvit",
                                                                              "owlv2"):
            raise ModelError(f"'{spec.key}' is {L.TASK_NAMES.get(found, found)}, not an image classifier or backbone; "
                             "pick a classification model or a backbone to fine-tune.")
    auto = L.auto_model_class(task, config.model_type)
    if type(config) not in auto._model_mapping:
        raise ModelError(f"transformers has no {task} head for '{config.model_type}' models, "
                         "so they cannot be fine-tuned here.")
    return auto


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
