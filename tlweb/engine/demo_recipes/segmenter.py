"""A tiny segmenter genuinely pretrained by tlweb, so segmentation fine-tuning shows transfer offline.

``demo-upernet-shapes`` is a UperNet with a small basic-block ResNet backbone (16/32/48/64 channels), 64²
input, trained from scratch with the engine's own fine-tune (strategy ``scratch``) on generated scenes
(:mod:`tlweb.engine.data.scenes`): one to three shapes of six kinds — cross, checker, ring, diamond, x,
half disc — in random colours, sizes and places on textured backgrounds, one class per shape kind plus
background. The same six kinds as the demo classifiers' pretraining and none of the kinds a transfer test
segments (circle, square, triangle: ``benchmarks/segment_transfer.py``), so fine-tuning it on those shows
what a pretrained encoder buys: the foreground / background separation and shape features it learned.

Its weights ship with the package (:mod:`tlweb.engine.demo.ship`); ``python -m tlweb.engine.demo.ship
demo-upernet-shapes`` rebuilds them by this recipe (one torch thread, fixed seeds).
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tlweb.engine.demo.ship import Shipped, ship
from tlweb.engine.demo_recipes.pretrained import SOURCE_CLASSES

KEY = "demo-upernet-shapes"
SIDE = 64  # model input and generated scene side, pixels
SEED = 0
TASK = "image-segmentation"


@dataclass(frozen=True)
class Recipe:
    train: int = 1500  # generated source scenes to train on (the run holds 15% of them out to pick the epoch)
    test: int = 100  # held-out source scenes: the shipped measure
    epochs: int = 25
    lr: float = 2e-3
    batch: int = 16


RECIPE = Recipe()
PRETRAINED_ON = f"scenes of {len(SOURCE_CLASSES)} synthetic shapes ({', '.join(SOURCE_CLASSES)}) — tlweb demo"


def _init(folder: Path, class_names: list[str]) -> None:
    """The untrained starting point: UperNet on a basic-block ResNet, saved with save_pretrained."""
    import torch
    from transformers import ResNetConfig, SegformerImageProcessorPil, UperNetConfig, UperNetForSemanticSegmentation

    from tlweb.engine.demo import label_maps

    torch.manual_seed(SEED)
    id2label, label2id = label_maps(class_names)
    backbone = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 48, 64], depths=[1, 1, 1, 1], layer_type="basic",
                            out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = UperNetConfig(backbone_config=backbone, hidden_size=16, use_auxiliary_head=False, id2label=id2label,
                        label2id=label2id)
    UperNetForSemanticSegmentation(cfg).save_pretrained(folder)
    # the Hub's UperNet checkpoints ship a SegFormer image processor too
    SegformerImageProcessorPil(size={"height": SIDE, "width": SIDE}).save_pretrained(folder)


def build(folder: Path, recipe: Recipe = RECIPE) -> dict[str, float]:
    """Train the segmenter from scratch on generated scenes into ``folder``; returns its mIoU and pixel
    accuracy on held-out scenes (``source_test_miou``, ``source_test_pixel_accuracy``)."""
    import torch

    from tlweb.config import get_settings
    from tlweb.engine.data.scenes import write_scenes
    from tlweb.engine.train import TrainConfig, finetune
    from tlweb.engine.train.tasks import train_task

    # the server's own folders, and the recipe's epochs even on a CPU (the default caps them at 20 there)
    settings = get_settings().replace(mode="local", max_epochs_cpu=max(recipe.epochs, get_settings().max_epochs_cpu))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # deterministic, and faster than two threads on a small, shared CPU
    try:
        with tempfile.TemporaryDirectory(prefix="tlweb-pretrain-") as tmp:
            tmp = Path(tmp)
            source = write_scenes(tmp / "source", list(SOURCE_CLASSES), recipe.train, recipe.test, size=SIDE,
                                  seed=SEED + 11)
            task = train_task(TASK)
            data = task.load_data(str(source), seed=SEED, settings=settings)
            data.source = f"scenes of {len(SOURCE_CLASSES)} synthetic shapes"
            _init(tmp / "init", data.class_names)
            # out_dir outside runs_dir: the pretraining is not listed among the user's runs
            res = finetune(TrainConfig(str(tmp / "init"), data, "scratch", epochs=recipe.epochs, lr=recipe.lr,
                                       batch_size=recipe.batch, seed=SEED, out_dir=str(tmp / "run"),
                                       name=f"pretrain {KEY}", task=TASK), settings=settings)
            for item in res.model_dir.iterdir():
                if item.is_file():
                    shutil.copy2(item, Path(folder) / item.name)
            return {"source_test_miou": float(res.metrics["test_miou"]),
                    "source_test_pixel_accuracy": float(res.metrics["test_pixel_accuracy"])}
    finally:
        torch.set_num_threads(threads)


ship(Shipped(
    key=KEY, task=TASK, family="upernet", recipe=build, metric="source_test_miou", tolerance=0.02,
    description=(f"Tiny UperNet (ResNet backbone) pretrained by tlweb to segment scenes of {len(SOURCE_CLASSES)} "
                 f"synthetic shapes ({', '.join(SOURCE_CLASSES)}); fine-tune it on other shapes to see transfer"),
    pretrained_on=PRETRAINED_ON,
    label_note="pretrained on synthetic shape scenes — UI demo",
))
