"""Features for the linear probe: the input of the classifier head, computed once and cached.

The feature vector of an image is whatever the model feeds its final ``nn.Linear`` head,
captured with a forward hook — so it is the right thing for every family without special
cases: the CLS token for ViT/DeiT/BEiT(pooled), CLS + mean patch token for DINOv2, the pooled
map for ConvNeXt/Swin/EfficientNet/MobileNet, the flattened pool for ResNet's
``Sequential(Flatten, Linear)`` head. Vectors are cached on disk under
``settings.cache_dir/features`` keyed by (model weights, data fingerprint, processor geometry,
precision), so a second linear run on the same data (another learning rate, another
images-per-class budget) starts training the head at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path

from tlweb.config import Settings, get_settings

log = logging.getLogger(__name__)

HEAD_NAMES = ("classifier", "head", "fc", "score", "heads")


def find_head(model):
    """(top-level head attribute, its final nn.Linear, qualified name of that Linear)."""
    import torch.nn as nn

    for attr in HEAD_NAMES:
        mod = getattr(model, attr, None)
        if mod is None or not isinstance(mod, nn.Module):
            continue
        if isinstance(mod, nn.Linear):
            return attr, mod, attr
        linears = [(n, m) for n, m in mod.named_modules() if isinstance(m, nn.Linear)]
        if linears:
            name, lin = linears[-1]
            return attr, lin, f"{attr}.{name}"
    num = getattr(model.config, "num_labels", None)
    last = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and (num is None or m.out_features == num):
            last = (name, m)
    if last is None:
        from tlweb.errors import ModelError

        raise ModelError("This model has no linear classification head that tlweb can replace.")
    name, lin = last
    return name.split(".")[0], lin, name


def find_blocks(model):
    """(qualified name, ModuleList) of the backbone's main stack of blocks: the ModuleList holding
    the most parameters (encoder layers for ViTs, stages for ConvNeXt/ResNet/Swin, blocks for
    EfficientNet, layers for MobileNet)."""
    import torch.nn as nn

    head_attr = find_head(model)[0]
    best = None
    for name, m in model.named_modules():
        if not isinstance(m, nn.ModuleList) or len(m) < 1 or name.split(".")[0] == head_attr:
            continue
        n = sum(p.numel() for p in m.parameters())
        if best is None or n > best[2]:
            best = (name, m, n)
    return (best[0], best[1]) if best else (None, None)


def model_identity(spec) -> str:
    """A stamp of the backbone weights: Hub id, or folder + weight files' sizes and mtimes."""
    parts = [spec.hub_id]
    folder = Path(spec.hub_id)
    if folder.is_dir():
        for p in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
            st = p.stat()
            parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def extract(model, pixels, normalizer, runtime, batch_size: int = 64, should_stop=None, on_progress=None,
            channels_last: bool = False):
    """Head-input vectors for uint8 images [N,3,H,W] (float32, CPU). None if stopped."""
    import torch

    _, lin, _ = find_head(model)
    captured = []
    handle = lin.register_forward_hook(lambda m, inp, out: captured.append(inp[0].detach().float().cpu()))
    was_training = model.training
    model.eval()
    n = pixels.shape[0]
    try:
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                if should_stop is not None and should_stop():
                    return None
                x = normalizer(pixels[i:i + batch_size].to(runtime.device, non_blocking=True))
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with runtime.autocast():
                    model(pixel_values=x)
                if on_progress:
                    on_progress(min(n, i + batch_size), n)
    finally:
        handle.remove()
        model.train(was_training)
    feats = torch.cat(captured) if captured else torch.zeros(0, lin.in_features)
    return feats.reshape(feats.shape[0], -1)


def cached_features(key_parts: dict, compute, settings: Settings | None = None):
    """Load features for ``key_parts`` from the disk cache, or ``compute()`` and store them."""
    import torch

    settings = settings or get_settings()
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
    path = settings.cache_dir / "features" / f"{key}.pt"
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            return blob["features"], True
        except Exception:  # noqa: BLE001 - rebuilt below
            pass
    feats = compute()
    if feats is None:
        return None, False
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"features": feats, "key": key_parts}, tmp)
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not cache features: %s", exc)
    return feats, False
