"""A second training task made in the tests (not part of tlweb): per-pixel "square or background" on
generated 16×16 pictures with a tiny two-layer convolutional net — enough to show that the one
training run (events, Stop, best epoch, run folder, metrics.json, RunResult, the CLI, the ladder and
the data-efficiency curve) serves a task other than classification through the plug-in interface."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from tlweb.engine.train import strategies as S
from tlweb.engine.train.tasks import Encoded, Evaluation, ModelParts, TrainTask, base

TOY = "toy-segmentation"
SIZE = 16
CLASSES = ["background", "square"]


class ToyData:
    """TaskData: ``n_train`` + ``n_test`` noisy pictures, a red square on most; masks mark the square."""

    def __init__(self, n_train: int = 24, n_test: int = 8, seed: int = 0, rows=None, base_data=None):
        self.class_names = list(CLASSES)
        self.source, self.test_from, self.skipped = "toy squares", "test split", []
        self.warnings = ["2 masks had pixels outside the classes; they were ignored"]
        if base_data is not None:  # a subsample of the training split
            self.splits = {"train": {k: v[rows] for k, v in base_data.splits["train"].items()},
                           "test": base_data.splits["test"]}
            self.rows = list(rows)
            return
        rng = np.random.default_rng(seed)
        self.splits = {split: self._draw(rng, n) for split, n in (("train", n_train), ("test", n_test))}
        self.rows = list(range(n_train))

    @staticmethod
    def _draw(rng, n: int) -> dict:
        pixels = rng.integers(0, 90, size=(n, 3, SIZE, SIZE), dtype=np.uint8)
        masks = np.zeros((n, SIZE, SIZE), dtype=np.int64)
        for i in range(n):
            if i % 4 == 3:  # every fourth picture holds no square
                continue
            s = int(rng.integers(5, 9))
            y, x = (int(v) for v in rng.integers(0, SIZE - s, size=2))
            pixels[i, 0, y:y + s, x:x + s] = 230
            masks[i, y:y + s, x:x + s] = 1
        return {"pixels": pixels, "masks": masks}

    def counts(self) -> dict:
        """Images holding each class, per split."""
        return {split: {name: int(sum(bool((m == c).any()) for m in d["masks"])) for c, name in enumerate(CLASSES)}
                for split, d in self.splits.items()}

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for split in ("train", "test"):
            h.update(self.splits[split]["pixels"].tobytes())
            h.update(self.splits[split]["masks"].tobytes())
        return h.hexdigest()[:24]

    def summary(self) -> str:
        return f"{len(CLASSES)} classes · {len(self.splits['train']['masks'])} train / " \
               f"{len(self.splits['test']['masks'])} test images · test = {self.test_from}"


class ToyNet(nn.Module):
    def __init__(self, num_labels: int = 2):
        super().__init__()
        self.config = SimpleNamespace(model_type="toy", num_labels=num_labels)
        self.encoder = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Conv2d(8, num_labels, 1)

    def forward(self, pixel_values, labels=None):
        return SimpleNamespace(logits=self.head(self.encoder(pixel_values)))


def pretrained_encoder() -> dict:
    """The toy's "pretrained" encoder weights (seeded, so a decoder-only run can be checked against them)."""
    torch.manual_seed(1234)
    return {k: v.clone() for k, v in ToyNet().encoder.state_dict().items()}


class ToyTask(TrainTask):
    name = TOY
    label = "toy segmentation"
    metric = "miou"
    metric_label = "mIoU"
    strategies = ("decoder", "full", "scratch")
    json_keys = ("test_miou", "test_pixel_accuracy", "per_class_iou")
    min_images_for_validation = 8

    def load_data(self, source, *, seed=0, settings=None, **opts):
        n = int(str(source).partition(":")[2] or 24)
        return ToyData(n_train=n, seed=seed)

    def subsample(self, data, per_class, seed):
        rng = np.random.default_rng(seed)
        masks = data.splits["train"]["masks"]
        picked: set[int] = set()
        for c in range(len(CLASSES)):
            holding = [i for i in range(len(masks)) if (masks[i] == c).any()]
            picked.update(int(i) for i in rng.permutation(holding)[:per_class])
        return ToyData(rows=sorted(picked), base_data=data)

    def encode(self, data, split, processor, settings, on_progress=None):
        d = data.splits[split]
        n = len(d["masks"])
        return Encoded(torch.from_numpy(d["pixels"].copy()), torch.from_numpy(d["masks"].copy()), list(range(n)),
                       sizes=[(SIZE, SIZE)] * n)

    def load_model(self, spec, class_names, strategy, seed, settings):
        torch.manual_seed(seed)
        model = ToyNet(len(class_names))
        if strategy.pretrained:
            model.encoder.load_state_dict(pretrained_encoder())
        processor = SimpleNamespace(do_rescale=True, rescale_factor=1 / 255, do_normalize=False)
        return model, processor, spec

    def parts(self, model):
        return ModelParts(encoder=("encoder",), head=("head",))

    def batch(self, enc, idx, feed, augment, generator):
        from tlweb.engine.accel import crop_flip_theta, warp

        x = feed.take(enc.pixels, idx).float()
        y = feed.take(enc.targets, idx)
        if augment:  # a flip that moves the mask with the picture
            theta = crop_flip_theta(x.shape[0], x.device, generator, scale=(1.0, 1.0), ratio=(1.0, 1.0))
            x = warp(x, theta)
            y = warp(y[:, None].float(), theta, mode="nearest")[:, 0].long()
        return {"pixel_values": feed.model_input(x), "labels": y}

    def loss(self, model, batch):
        logits = model(pixel_values=batch["pixel_values"]).logits
        ce = F.cross_entropy(logits.float(), batch["labels"], ignore_index=255)
        l2 = 1e-4 * sum((p.float() ** 2).sum() for p in model.head.parameters())
        return ce + l2, {"ce": ce.detach(), "l2": l2.detach()}

    def evaluate(self, model, enc, feed, batch_size):
        preds, losses = [], []
        for i in range(0, len(enc), batch_size):
            x = feed.model_input(enc.pixels[i:i + batch_size].to(feed.device).float())
            y = enc.targets[i:i + batch_size].to(feed.device)
            with feed.autocast():
                logits = model(pixel_values=x).logits.float()
            losses.append(F.cross_entropy(logits, y, reduction="sum").item())
            preds.append(logits.argmax(1).cpu())
        pred, true = torch.cat(preds), enc.targets.cpu()
        ious = {}
        for c, name in enumerate(CLASSES):
            inter = ((pred == c) & (true == c)).sum().item()
            union = ((pred == c) | (true == c)).sum().item()
            ious[name] = inter / union if union else 1.0
        loss = sum(losses) / true.numel()
        return Evaluation(loss=loss, metric=sum(ious.values()) / len(ious), predictions=pred, loss_parts={"ce": loss},
                          extra={"pixel_accuracy": float((pred == true).float().mean()), "per_class_iou": ious})

    def finish(self, run_dir, data, enc_test, evaluation, settings):
        from PIL import Image

        errors = (evaluation.predictions != enc_test.targets.cpu()).flatten(1).sum(1)
        worst = int(errors.argmax())
        (run_dir / "worst").mkdir(parents=True, exist_ok=True)
        path = run_dir / "worst" / "00.png"
        Image.fromarray((evaluation.predictions[worst].numpy() * 255).astype(np.uint8)).save(path)
        return {"test_miou": evaluation.metric, "test_pixel_accuracy": evaluation.extra["pixel_accuracy"],
                "per_class_iou": evaluation.extra["per_class_iou"], "worst_images": [str(path)]}

    def save(self, model, processor, model_dir, spec, base_name, strategy, data, settings):
        from safetensors.torch import save_file

        model_dir.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(model_dir / "model.safetensors"))
        (model_dir / "config.json").write_text(json.dumps({
            "model_type": "toy", "id2label": dict(enumerate(data.class_names)),
            "tlweb": {"task": TOY, "pretrained_on": f"{base_name} fine-tuned ({strategy})"}}))


@pytest.fixture
def toy_task(monkeypatch):
    """The toy task registered, and the strategies it names applying to it (both undone after the test)."""
    monkeypatch.setattr(base, "_TASKS", dict(base._TASKS))
    monkeypatch.setattr(S, "_REGISTRY", dict(S._REGISTRY))
    for name in ToyTask.strategies:
        record = S.get_strategy(name)
        S.register(dataclasses.replace(record, tasks=(*record.tasks, TOY)))
    base.register_train_task(ToyTask)
    return base.train_task(TOY)
