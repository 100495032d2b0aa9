"""Tiny models and a toy task with known evidence for the Explain tests.

Known evidence: a 32×32 picture whose LEFT half holds a circle (class 0) or a cross (class 1);
its right half holds a square or a triangle chosen independently of the label (clutter the model
must learn to ignore). A model trained on it can only find its evidence on the left, so a faithful
map puts its mass there.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

TOY_SIZE = 32
TOY_CLASSES = ("circle", "cross")


def _stamp(img: np.ndarray, kind: str, cx: float, cy: float, r: float, color) -> None:
    yy, xx = np.mgrid[0:img.shape[0], 0:img.shape[1]].astype(np.float32)
    dx, dy = xx - cx, yy - cy
    if kind == "circle":
        mask = dx**2 + dy**2 <= r**2
    elif kind == "cross":
        w = max(1.0, 0.3 * r)
        mask = ((np.abs(dx) <= w) & (np.abs(dy) <= r)) | ((np.abs(dy) <= w) & (np.abs(dx) <= r))
    elif kind == "square":
        mask = (np.abs(dx) <= 0.8 * r) & (np.abs(dy) <= 0.8 * r)
    elif kind == "triangle":
        mask = (dy <= 0.8 * r) & (dy >= -r) & (np.abs(dx) <= (dy + r) * 0.58)
    else:
        raise ValueError(kind)
    img[mask] = color


def toy_image(rng, label: int, size: int = TOY_SIZE, clutter=("square", "triangle")) -> np.ndarray:
    """uint8 size×size×3: the class shape in the left half, clutter in the right half."""
    img = rng.normal(45, 10, (size, size, 3)).clip(0, 255).astype(np.float32)
    r = size * rng.uniform(0.17, 0.21)
    _stamp(img, TOY_CLASSES[label], rng.uniform(r, size / 2 - r), rng.uniform(r, size - r), r,
           rng.integers(150, 256, 3))
    _stamp(img, clutter[int(rng.integers(len(clutter)))], rng.uniform(size / 2 + r, size - r),
           rng.uniform(r, size - r), r, rng.integers(150, 256, 3))
    return img.clip(0, 255).astype(np.uint8)


def toy_batch(n: int, seed: int, clutter=("square", "triangle")):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 2
    return np.stack([toy_image(rng, int(lab), clutter=clutter) for lab in labels]), labels


def tiny_resnet_model(num_labels: int = 2, labels=TOY_CLASSES, seed: int = 0):
    import torch
    from transformers import ResNetConfig, ResNetForImageClassification

    torch.manual_seed(seed)
    id2label = {i: n for i, n in enumerate(labels[:num_labels])}
    cfg = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic",
                       id2label=id2label, label2id={v: k for k, v in id2label.items()})
    return ResNetForImageClassification(cfg)


def tiny_vit_model(num_labels: int = 2, labels=TOY_CLASSES, layers: int = 2, seed: int = 0):
    import torch
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(seed)
    id2label = {i: n for i, n in enumerate(labels[:num_labels])}
    cfg = ViTConfig(image_size=TOY_SIZE, patch_size=4, hidden_size=32, num_hidden_layers=layers, num_attention_heads=2,
                    intermediate_size=64, id2label=id2label, label2id={v: k for k, v in id2label.items()})
    return ViTForImageClassification(cfg)


def save(model, folder: Path, kind: str) -> Path:
    """save_pretrained the model with a processor that reads TOY_SIZE pixels (normalising to [-1, 1])."""
    from transformers import ConvNextImageProcessorPil, ViTImageProcessorPil

    model.eval()
    model.save_pretrained(folder)
    if kind == "vit":
        ViTImageProcessorPil(size={"height": TOY_SIZE, "width": TOY_SIZE}).save_pretrained(folder)
    else:
        ConvNextImageProcessorPil(size={"shortest_edge": TOY_SIZE}, crop_pct=1.0, image_mean=[0.5] * 3,
                                  image_std=[0.5] * 3).save_pretrained(folder)
    return Path(folder)


def train_toy(model, steps: int = 150, seed: int = 0, lr: float = 3e-3, n: int = 512, clutter=("square", "triangle")) -> float:
    """Train on the toy task (pixels normalised to [-1, 1], as both processors do); returns held-out accuracy."""
    import torch

    torch.manual_seed(seed)
    x, y = toy_batch(n, seed, clutter)
    xt = torch.from_numpy(x).permute(0, 3, 1, 2).float() / 127.5 - 1
    yt = torch.from_numpy(y).long()
    opt = torch.optim.AdamW(model.parameters(), lr=lr)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        idx = torch.randint(0, n, (32,), generator=g)
        loss = torch.nn.functional.cross_entropy(model(pixel_values=xt[idx]).logits, yt[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    xv, yv = toy_batch(64, seed + 1000, clutter)
    with torch.no_grad():
        pred = model(pixel_values=torch.from_numpy(xv).permute(0, 3, 1, 2).float() / 127.5 - 1).logits.argmax(-1)
    return float((pred.numpy() == yv).mean())
