"""Shared bits of the fine-tune tests: generated datasets, tiny backbones, one torch thread.

On 2 shared cores torch's default two intra-op threads oversubscribe the CPU and a tiny
model's step can take 10-30x longer than with one thread, so these tests use one thread.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from tlweb.engine.data import write_shapes_dataset

SHAPES4 = ("circle", "square", "triangle", "cross")


@pytest.fixture
def one_thread():
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def png_bytes(color=(200, 30, 30), size=(8, 8)) -> bytes:
    import numpy as np
    from PIL import Image

    arr = np.zeros((size[1], size[0], 3), dtype=np.uint8)
    arr[:] = color
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def shapes_folder(root: Path, classes=SHAPES4, per_class=8, test_per_class=0, size=32, seed=0) -> Path:
    """Class folders of generated shapes; names that are not shape kinds get one each."""
    kinds = ("circle", "square", "triangle", "cross", "stripes", "checker", "ring", "diamond")
    mapping = {c: (c if c in kinds else kinds[i % len(kinds)]) for i, c in enumerate(classes)}
    return write_shapes_dataset(root, mapping, per_class=per_class, test_per_class=test_per_class, size=size,
                                seed=seed)


def shapes_data(root: Path, settings, **kw):
    """:func:`shapes_folder` (with ``kw``) loaded as a dataset, the way the app loads a folder."""
    from tlweb.engine.data import load_data

    return load_data(str(shapes_folder(root, **kw)), settings=settings)


def make_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def tiny_resnet(folder: Path, num_labels: int = 4, size: int = 32, seed: int = 0) -> Path:
    """A small random-init ResNet classifier saved with save_pretrained (input ``size`` px)."""
    import torch
    from transformers import ConvNextImageProcessorPil, ResNetConfig, ResNetForImageClassification

    torch.manual_seed(seed)
    cfg = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 32], depths=[1, 1, 1], layer_type="basic",
                       num_labels=num_labels)
    model = ResNetForImageClassification(cfg)
    model.save_pretrained(folder)
    ConvNextImageProcessorPil(size={"shortest_edge": size}, crop_pct=1.0).save_pretrained(folder)
    return folder
