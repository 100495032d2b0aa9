"""Detection as a training task: the plug-in's data, model, batches (boxes follow the pixels), loss
parts, evaluation, worst pictures and the saved folder."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tlweb.engine.train.tasks import Feed, train_task
from tlweb.errors import ModelError

TASK = "object-detection"


@pytest.fixture(scope="module")
def task():
    return train_task(TASK)


def _feed(processor, names, settings):
    from tlweb.engine.accel import Normalizer, Runtime

    rt = Runtime(settings.replace(device="cpu"))
    return Feed(rt, processor, Normalizer(processor, rt.device), False, list(names))


def test_registered_with_its_strategies_and_refuses_others(task):
    assert task.metric == "map" and task.strategies == ("head", "full", "scratch")
    assert {"test_map", "test_map50", "test_map75", "per_class_ap"} <= set(task.json_keys)
    with pytest.raises(ModelError, match="for object detection pick head, full or scratch"):
        task.strategy("decoder")
    assert task.strategy("head").name == "head"


def test_importing_albumentations_pulls_no_torchvision():
    code = ("import sys, albumentations, tlweb.engine.train.detection_io as d; d.make_augmenter((32, 32)); "
            "print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-800:]
    assert out.stdout.strip().endswith("False")


def test_augmented_boxes_follow_the_pixels():
    """One bright square on black: after flip / zoom / box-safe crop its box is still where its pixels are."""
    from tlweb.engine.train.detection_io import augment_one, make_augmenter

    aug = make_augmenter((64, 64))
    img = torch.zeros(64, 64, 3, dtype=torch.uint8)
    img[10:30, 36:52] = 255  # x 36..52, y 10..30
    target = {"class_labels": torch.tensor([0]), "boxes": torch.tensor([[44 / 64, 20 / 64, 16 / 64, 20 / 64]])}
    moved = 0
    for seed in range(40):
        aug.set_random_seed(seed)
        out, t = augment_one(aug, img.numpy(), target)
        assert out.shape == (64, 64, 3)
        ys, xs = (out[..., 0] > 127).nonzero()
        if len(t["boxes"]) == 0:  # pushed (mostly) out of the frame: dropped with its label
            assert len(xs) < 0.3 * 320 + 40
            continue
        cx, cy, w, h = (t["boxes"][0] * 64).tolist()
        box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
        seen = (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
        assert max(abs(a - b) for a, b in zip(box, seen)) <= 2.5, (seed, box, seen)
        moved += abs(box[0] - 36) > 1 or abs(box[1] - 10) > 1
    assert moved >= 10  # the augmentation did move things


def test_model_head_parts_batch_loss_and_evaluation(task, settings):
    from tlweb.catalog import resolve

    data = task.load_data("sample", settings=settings)
    for key in ("demo-detr", "demo-rtdetr", "demo-yolos"):
        spec = resolve(key, settings=settings)
        model, processor, spec = task.load_model(spec, data.class_names, task.strategy("head"), 0, settings)
        assert model.config.id2label == {0: "circle", 1: "square", 2: "triangle"}
        parts = task.parts(model)
        assert parts.encoder and parts.head
        setup = task.strategy("head").setup(model, None, parts)
        frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
        assert frozen and all(parts.is_encoder(n) for n in frozen), key
        assert all(p.requires_grad for n, p in model.named_parameters() if parts.is_head(n))
        enc = task.encode(data, "train", processor, settings)
        feed = _feed(processor, data.class_names, settings)
        batch = task.batch(enc, torch.arange(4), feed, True, torch.Generator().manual_seed(0))
        assert batch["pixel_values"].shape[0] == 4 and len(batch["labels"]) == 4
        loss, parts_ = task.loss(setup.model, batch)
        loss.backward()
        assert torch.isfinite(loss) and {"loss_bbox", "loss_giou"} <= set(parts_)
        assert any(k in parts_ for k in ("loss_ce", "loss_vfl", "loss_focal"))
