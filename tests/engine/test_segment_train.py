"""The segmentation training task's pieces on tiny models of every family: new heads, encoder/decoder/head
parts for the strategies, batches whose masks move with their pixels, mIoU as mean_iou computes it, the worst
images, and a saved folder that transformers' own pipeline and tlweb's Segment tab load."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from tests.engine.ft_helpers import one_thread  # noqa: F401 - fixture
from tests.engine.seg_helpers import ADE, FAMILIES, scenes, tiny_segmenter
from tlweb.engine.train.config import TrainConfig
from tlweb.engine.train.tasks import Encoded, Feed, train_task
from tlweb.errors import ModelError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def task():
    return train_task("image-segmentation")


@pytest.fixture(scope="module")
def data(tmp_path_factory, settings):
    root = scenes(tmp_path_factory.mktemp("scenes") / "d")
    return train_task("image-segmentation").load_data(str(root), settings=settings)


def _feed(processor, names, settings, normalize=None):
    from tlweb.engine.accel import Normalizer, Runtime

    runtime = Runtime(settings.replace(device="cpu"))
    return Feed(runtime, processor, normalize or Normalizer(processor, runtime.device), False, list(names))


def _load(task, family, tmp_path, data, settings, strategy="full"):
    from tlweb.engine.listing import resolve

    folder = tiny_segmenter(family, tmp_path / family)
    spec = resolve(str(folder), settings=settings)
    return task.load_model(spec, data.class_names, task.strategy(strategy), 0, settings)


@pytest.mark.parametrize("family", FAMILIES)
def test_every_family_gets_a_new_head_and_trains(task, data, family, tmp_path, settings):
    model, processor, spec = _load(task, family, tmp_path, data, settings, "decoder")
    k = len(data.class_names)
    assert model.config.id2label == dict(enumerate(data.class_names))
    parts = task.parts(model)
    modules = dict(model.named_modules())
    for name in parts.head:  # class-sized outputs (the universal models' has one more: no object)
        layer = modules[name]
        assert getattr(layer, "out_channels", getattr(layer, "out_features", None)) in (k, k + 1)
    setup = task.strategy("decoder").setup(model, TrainConfig("m", data, "decoder"), parts)
    for n, p in model.named_parameters():
        assert p.requires_grad == (not parts.is_encoder(n)), n
    enc = task.encode(data, "train", processor, settings)
    side = enc.pixels.shape[-1]
    assert enc.pixels.dtype == torch.uint8 and enc.targets.shape == (len(enc), side, side)
    feed = _feed(processor, data.class_names, settings)
    batch = task.batch(enc, torch.arange(4), feed, True, torch.Generator().manual_seed(0))
    loss, _ = task.loss(setup.model, batch)
    assert torch.isfinite(loss)
    loss.backward()
    head = parts.head[0]
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for n, p in model.named_parameters()
               if n.startswith(head + "."))
    model.eval()
    with torch.inference_mode():
        ev = task.evaluate(model, task.encode(data, "test", processor, settings), feed, 8)
    assert 0.0 <= ev.metric <= 1.0 and 0.0 <= ev.extra["pixel_accuracy"] <= 1.0
    assert set(ev.extra["per_class_iou"]) == set(data.class_names)


def test_masks_move_with_their_pixels():
    """Blocks whose colour encodes their class: after flips and scale-crops each label still sits on the colour
    of its class (up to block edges, where bilinear pixels blend)."""
    task = train_task("image-segmentation")
    rng = np.random.default_rng(0)
    blocks = rng.integers(0, 4, (8, 4, 4))
    targets = torch.from_numpy(np.kron(blocks, np.ones((8, 8), dtype=np.int64)).astype(np.uint8))
    pixels = (targets[:, None].repeat(1, 3, 1, 1) * 60).to(torch.uint8)
    enc = Encoded(pixels, targets, list(range(8)))
    feed = SimpleNamespace(device=torch.device("cpu"), take=lambda t, i: t[i], model_input=lambda x: x)
    b1 = task.batch(enc, torch.arange(8), feed, True, torch.Generator().manual_seed(3))
    b2 = task.batch(enc, torch.arange(8), feed, True, torch.Generator().manual_seed(3))
    assert torch.equal(b1["labels"], b2["labels"])  # seeded
    assert not torch.equal(b1["labels"], targets)  # something moved
    def agree(labels):  # share of pixels whose colour is nearest their label's colour
        return float(((b1["pixel_values"][:, 0] / 60 - labels.float()).abs() < 0.5).float().mean())

    assert agree(b1["labels"]) > 0.95
    assert agree(b1["labels"].flip(-1)) < 0.6  # the check can fail: masks mirrored without their pixels


class FixedSegmenter(torch.nn.Module):
    """Predicts a fixed label map per image (one-hot logits) — to check evaluate's arithmetic."""

    def __init__(self, maps, k):
        super().__init__()
        self.maps, self.k = maps, k
        self.config = SimpleNamespace(model_type="segformer")
        self.calls = 0

    def forward(self, pixel_values, labels=None):
        n = pixel_values.shape[0]
        maps = self.maps[self.calls:self.calls + n]
        self.calls += n
        logits = torch.nn.functional.one_hot(maps.long(), self.k).permute(0, 3, 1, 2).float() * 10
        return SimpleNamespace(logits=logits, loss=torch.tensor(0.5))


def test_evaluate_is_mean_iou(settings):
    from tlweb.engine.metrics import mean_iou

    task = train_task("image-segmentation")
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 3, (5, 6, 6)).astype(np.uint8)
    truth[0, 0] = 255
    pred = rng.integers(0, 3, (5, 6, 6)).astype(np.uint8)
    enc = Encoded(torch.zeros(5, 3, 6, 6, dtype=torch.uint8), torch.from_numpy(truth), list(range(5)))
    names = ["a", "b", "c"]
    feed = _feed(None, names, settings, normalize=lambda x: x)
    ev = task.evaluate(FixedSegmenter(torch.from_numpy(pred), 3), enc, feed, 2)
    ref = mean_iou(list(pred), list(truth), num_labels=3)
    assert ev.metric == pytest.approx(ref["mean_iou"])
    assert ev.extra["pixel_accuracy"] == pytest.approx(ref["overall_accuracy"])
    assert [ev.extra["per_class_iou"][n] for n in names] == pytest.approx(list(ref["per_category_iou"]))
    per = ev.predictions["per_image"]
    worst = ev.predictions["worst"]
    assert [w[0] for w in worst] == sorted(range(5), key=lambda i: (per[i][0], i))  # lowest mIoU first
    assert torch.equal(worst[0][3], torch.from_numpy(pred[worst[0][0]]))


def test_finish_and_save_load_in_pipeline_and_segment(task, data, tmp_path, settings):
    from PIL import Image
    from transformers import pipeline

    from tlweb.engine.segment import before_after, segment

    model, processor, spec = _load(task, "segformer", tmp_path, data, settings)
    feed = _feed(processor, data.class_names, settings)
    enc_test = task.encode(data, "test", processor, settings)
    model.eval()
    with torch.inference_mode():
        ev = task.evaluate(model, enc_test, feed, 8)
    fields = task.finish(tmp_path / "run", data, enc_test, ev, settings)
    assert set(task.json_keys) <= set(fields)
    assert fields["test_miou"] == pytest.approx(ev.metric, abs=1e-6)
    worst = fields["worst"][0]
    pos = [r for r in range(len(enc_test)) if data.test.names[enc_test.rows[r]] == worst["name"]][0]
    assert np.array_equal(np.asarray(Image.open(worst["truth"])), enc_test.targets[pos].numpy())
    out = tmp_path / "model"
    task.save(model, processor, out, spec, "tiny", "full", data, settings)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["tlweb"]["task"] == "image-segmentation"
    image = data.test.images[0]
    found = pipeline("image-segmentation", model=str(out))(Image.open(image))
    assert {r["label"] for r in found} <= set(data.class_names)
    result = segment(image, str(out), settings.replace(mode="local"))
    assert result.class_names == dict(enumerate(data.class_names))
    before, after = before_after(image, str(tmp_path / "segformer"), str(out), settings.replace(mode="local"))
    assert set(before.class_names.values()) == set(ADE.values())  # the base model's own classes
    assert after.class_names == result.class_names and after.label_map.shape == before.label_map.shape


def test_other_tasks_strategies_and_models_are_sentences(task, data, tmp_path, settings):
    from tests.engine.ft_helpers import tiny_resnet
    from tlweb.engine.listing import resolve

    for name in ("head", "linear"):
        with pytest.raises(ModelError) as err:
            task.strategy(name)
        assert "semantic segmentation pick decoder, full, lora or scratch" in str(err.value)
    spec = resolve(str(tiny_resnet(tmp_path / "resnet")), settings=settings)
    with pytest.raises(ModelError, match="segment"):
        task.load_model(spec, data.class_names, task.strategy("full"), 0, settings)


def test_data_efficiency_curve_counts_masks_per_class(data, tmp_path, settings):
    """The curve runs for segmentation as for classification: per point a subsample holding each class in at
    least that many training masks, the task's metric in each row."""
    from tlweb.engine.train import data_efficiency

    folder = tiny_segmenter("segformer", tmp_path / "m")
    rows = data_efficiency(str(folder), data, shots=(1, 2), strategies=("decoder", "scratch"), seeds=1, epochs=1,
                           settings=settings, task="image-segmentation")
    assert [(r["strategy"], r["per_class"]) for r in rows] == [("decoder", 1), ("scratch", 1), ("decoder", 2),
                                                              ("scratch", 2)]
    for r in rows:
        assert r["metric"] == "miou" and 0.0 <= r["test_miou"] == r["test_metric"] <= 1.0
        assert r["test_images"] == len(data.test)
        assert r["train_images"] <= r["per_class"] * (len(data.class_names) - 1)  # each scene was needed by a shape
