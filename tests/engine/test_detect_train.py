"""Detection as a training task: the plug-in's data, model, batches (boxes follow the pixels), loss
parts, evaluation, worst pictures and the saved folder."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from tests.engine.ft_helpers import one_thread  # noqa: F401
from tlweb.engine.train.tasks import Feed, train_task
from tlweb.errors import ModelError

TASK = "object-detection"
pytestmark = pytest.mark.usefixtures("one_thread")


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
            "import tlweb.engine.train.tasks; print('torchvision' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-800:]
    assert out.stdout.strip().endswith("False")


def _bright_box(img):
    ys, xs = (img > 127).nonzero(as_tuple=True)
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else None


def test_augmented_boxes_follow_the_pixels():
    """Bright rectangles on black: after flip / zoom / box-safe crop on the device each box is still
    where its pixels are (within a pixel and a half), boxes mostly out of view are dropped, and the
    augmentation does move things."""
    from tlweb.engine.train.detection_io import augment_batch

    n = 64
    x = torch.zeros(n, 3, 64, 64)
    x[:, :, 10:30, 36:52] = 255.0  # x 36..52, y 10..30
    x[:, :, 44:60, 4:12] = 255.0  # x 4..12, y 44..60
    target = {"class_labels": torch.tensor([0, 1]),
              "boxes": torch.tensor([[44 / 64, 20 / 64, 16 / 64, 20 / 64], [8 / 64, 52 / 64, 8 / 64, 16 / 64]])}
    out, targets = augment_batch(x, [target] * n, torch.Generator().manual_seed(0))
    moved = dropped = 0
    for img, t in zip(out[:, 0], targets):
        for label in (0, 1):
            mask = torch.zeros(64, 64, dtype=torch.bool)
            mask[10:30, 36:52] = label == 0
            mask[44:60, 4:12] = label == 1
            rows = (t["class_labels"] == label).nonzero().flatten()
            if len(rows) == 0:
                dropped += 1
                continue
            cx, cy, w, h = (t["boxes"][rows[0]] * 64).tolist()
            box = (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2)
            # the pixels of this rectangle: bright pixels inside the (slightly widened) predicted box
            region = img.clone()
            x0, y0, x1, y1 = (int(max(0, round(v))) for v in (box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2))
            keep = torch.zeros_like(region, dtype=torch.bool)
            keep[y0:y1, x0:x1] = True
            seen = _bright_box(torch.where(keep, region, torch.zeros_like(region)))
            assert seen is not None
            assert max(abs(a - b) for a, b in zip(box, seen)) <= 1.5, (box, seen)
            moved += abs(box[0] - (36 if label == 0 else 4)) > 1
    assert moved >= n // 3 and dropped < n // 2


def test_box_arithmetic_matches_albumentations():
    """The same flip + zoom as albumentations' HorizontalFlip and Affine (centred, scale 0.8 and 1.25)
    gives the same boxes: the reference for the device-side augmentation."""
    import albumentations as A
    import numpy as np

    from tlweb.engine.train.detection_io import move_boxes

    boxes = np.array([[0.3, 0.35, 0.2, 0.3], [0.8, 0.7, 0.3, 0.2]])
    target = {"class_labels": torch.tensor([0, 1]), "boxes": torch.tensor(boxes, dtype=torch.float32)}
    img = np.zeros((64, 64, 3), np.uint8)
    for flip, z in ((True, 1.0), (False, 0.8), (True, 1.25), (False, 1.25)):
        ops = ([A.HorizontalFlip(p=1)] if flip else []) + \
              ([A.Affine(scale=(z, z), keep_ratio=True, border_mode=0, p=1)] if z != 1 else [])
        ref = A.Compose(ops, bbox_params=A.BboxParams(format="yolo", label_fields=["c"], clip=True,
                                                      min_visibility=0.3, filter_invalid_bboxes=True))
        got_ref = ref(image=img, bboxes=boxes, c=[0, 1])
        theta = torch.tensor([[(-1 if flip else 1) / z, 0, 0], [0, 1 / z, 0]])
        ours = move_boxes(target, theta)
        assert ours["class_labels"].tolist() == list(got_ref["c"])
        np.testing.assert_allclose(ours["boxes"].numpy(), np.asarray(got_ref["bboxes"]), atol=0.02)


def test_model_head_parts_batch_loss_and_evaluation(task, settings):
    from tlweb.engine.listing import resolve

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


def test_pretrained_demo_detector_finds_its_shapes(settings, tmp_path):
    """The shipped demo detector finds the source shapes it was pretrained on: COCO mAP50 on fresh
    generated scenes well above chance, through the task's evaluation (boxes really come back)."""
    from tlweb.engine.data.boxscenes import write_detection_dataset
    from tlweb.engine.data.detection import load_detection_data
    from tlweb.engine.demo_recipes.detector import KEY, SOURCE_CLASSES
    from tlweb.engine.listing import resolve
    from tlweb.engine.loading import load

    root = write_detection_dataset(tmp_path / "src", SOURCE_CLASSES, train=2, test=24, size=64, seed=99,
                                   max_objects=3)
    data = load_detection_data(str(root), settings=settings)
    loaded = load(resolve(KEY, settings=settings), settings=settings)
    task = train_task(TASK)
    enc = task.encode(data, "test", loaded.processor, settings)
    model = loaded.model.float().cpu().eval()
    with torch.inference_mode():
        ev = task.evaluate(model, enc, _feed(loaded.processor, data.class_names, settings), 8)
    assert ev.extra["map50"] > 0.6 and ev.metric > 0.4, ev.extra
    assert set(ev.extra["per_class_ap"]) == set(SOURCE_CLASSES)


def test_worst_pictures_and_before_after(settings, tmp_path):
    from pathlib import Path

    from tlweb.engine.data.detection import load_detection_data
    from tlweb.engine.detect import before_after
    from tlweb.engine.listing import resolve

    task = train_task(TASK)
    data = load_detection_data("sample", settings=settings)
    spec = resolve("demo-rtdetr-shapes", settings=settings)
    model, processor, spec = task.load_model(spec, data.class_names, task.strategy("head"), 0, settings)
    enc = task.encode(data, "test", processor, settings)
    with torch.inference_mode():
        ev = task.evaluate(model.eval(), enc, _feed(processor, data.class_names, settings), 8)
    fields = task.finish(tmp_path, data, enc, ev, settings)
    assert {"test_map", "test_map50", "test_map75", "per_class_ap", "per_class_ar"} <= set(fields)
    worst = fields["worst_images"]
    assert worst and all(Path(w["image"]).is_file() and Path(w["image"]).parent == tmp_path / "mistakes" for w in worst)
    assert worst[0]["true"].endswith(("box", "boxes")) and "missed" in worst[0]["pred"]
    assert worst[0]["missed"] + worst[0]["false"] >= worst[-1]["missed"] + worst[-1]["false"]
    from PIL import Image

    with Image.open(worst[0]["image"]) as im:  # truth and prediction side by side
        assert im.width > 2 * min(256, im.height - 16) - 10
    task.save(model, processor, tmp_path / "model", spec, "demo-rtdetr-shapes", "head", data, settings)
    before, after = before_after(data.test[0].source, "demo-rtdetr-shapes", str(tmp_path / "model"), threshold=0.0,
                                 settings=settings.replace(mode="local"))
    assert {b.label for b in before.boxes} <= {"cross", "ring", "diamond", "x", "half"}
    assert {b.label for b in after.boxes} <= {"circle", "square", "triangle"} and after.boxes


@pytest.mark.slow
def test_pretrained_head_beats_scratch_on_new_shapes(settings, tmp_path):
    """Transfer, end to end through the run: 10 pictures per class of shapes the demo detector never saw;
    the pretrained detector with a frozen backbone reaches a clearly higher test mAP than scratch."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "benchmarks" / "detect_transfer.py"
    spec = importlib.util.spec_from_file_location("detect_transfer", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = bench.run("demo-rtdetr-shapes", 10, 1, ["head", "scratch"], None, 40,
                    settings.replace(mode="local", max_epochs_cpu=100), tmp_path, log=lambda s: None)
    s = out["summary"]
    assert s["head"]["test_map"]["mean"] > s["scratch"]["test_map"]["mean"] + 0.15, s


def test_data_efficiency_curve_runs_for_detection(settings):
    """The data-efficiency curve (images per class = pictures holding the class) and its rows for detection."""
    from tlweb.engine.train import data_efficiency

    task = train_task(TASK)
    data = task.load_data("sample", settings=settings)
    rows = data_efficiency("demo-rtdetr-shapes", data, shots=(2,), strategies=("head", "scratch"), seeds=1, epochs=1,
                           task=TASK, settings=settings.replace(mode="local"))
    runs = [r for r in rows if r.get("strategy")]
    assert [r["strategy"] for r in runs] == ["head", "scratch"]
    assert all(r["metric"] == "map" and 0.0 <= r["test_map"] <= 1.0 and r["test_metric"] == r["test_map"] for r in runs)
    assert all(r["train_images"] <= 6 for r in runs)  # 2 pictures per class, 3 classes (a picture may hold two)


def test_a_given_valid_split_picks_the_epoch(settings, tmp_path):
    from tlweb.engine.data.boxscenes import write_detection_dataset
    from tlweb.engine.listing import resolve

    task = train_task(TASK)
    root = write_detection_dataset(tmp_path / "rf", train=12, valid=3, test=4, size=48, seed=5)
    data = task.load_data(str(root), settings=settings)
    assert (len(data.train), len(data.validation), len(data.test)) == (12, 3, 4)
    assert set(data.counts()) == {"train", "validation", "test"}
    _, processor, _ = task.load_model(resolve("demo-rtdetr-shapes", settings=settings), data.class_names,
                                      task.strategy("scratch"), 0, settings)
    enc = task.encode(data, "train", processor, settings)
    hold = task.holdout(enc, data.class_names, 0)
    assert (len(hold.fit), len(hold.val)) == (12, 3)
    assert sorted(hold.val.rows) == [12, 13, 14] and hold.selects
