"""Detection engine on tiny random-weight DETR, YOLOS, RT-DETR, OWLv2 and OWL-ViT models.

Random weights put boxes anywhere, so the run-the-model tests check bounds, order, labels
and thresholds; the coordinate tests feed each family's real processor a box at a KNOWN
normalised position (fabricated model outputs) and check where it lands in original pixels,
including OWLv2's square padding and our own downscale + padding of extreme images.
"""

from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

from tests.registries import demo_keys
from tlweb.catalog import DETECTION, ZERO_SHOT_DETECTION
from tlweb.engine import detect as det
from tlweb.engine.loading import load
from tlweb.engine.pipeline import prepare_image
from tlweb.errors import ImageError, ModelError, ModelUnavailableError

CLOSED = demo_keys(DETECTION)
ZERO_SHOT = demo_keys(ZERO_SHOT_DETECTION)
QUERIES = "cat, dog, remote control"


def _img(w, h, seed=0):
    rng = np.random.default_rng(seed)
    small = rng.integers(0, 255, (max(1, h // 16), max(1, w // 16), 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)


def _check_bounds(result):
    for b in result.boxes:
        x0, y0, x1, y1 = b.xyxy
        assert 0 <= x0 <= x1 <= result.width, b
        assert 0 <= y0 <= y1 <= result.height, b
        assert x1 - x0 >= det.MIN_SIDE and y1 - y0 >= det.MIN_SIDE


@pytest.mark.parametrize("key", CLOSED + ZERO_SHOT)
@pytest.mark.parametrize("size", [(97, 61), (1, 4000), (4000, 1)])
def test_boxes_lie_within_the_original_image(demo_models, settings, key, size):
    r = det.detect(_img(*size), key, queries=QUERIES, threshold=0.0, settings=settings)
    assert (r.width, r.height) == size
    _check_bounds(r)
    scores = [b.score for b in r.boxes]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize("key", CLOSED)
def test_closed_set_labels_and_threshold(demo_models, settings, key):
    loaded = load(key, task="object-detection", settings=settings)
    r = det.detect_loaded(_img(160, 120), loaded, threshold=0.3, min_score=0.0)
    assert not r.zero_shot and r.boxes, "a random detector still proposes boxes at score 0"
    names = set(loaded.model.config.id2label.values())
    assert {b.label for b in r.boxes} <= names
    kept = r.kept()
    assert all(b.score >= 0.3 for b in kept)
    assert len(kept) == sum(1 for b in r.boxes if b.score >= 0.3)
    counts = r.counts()
    assert sum(c.count for c in counts) == len(kept)
    for c in counts:
        group = [b.score for b in kept if b.label == c.label]
        assert c.count == len(group) and c.max_score == max(group)
    d = r.as_dict()
    assert len(d["boxes"]) == len(kept) and set(d["boxes"][0] if d["boxes"] else {"label", "score", "xyxy"}) >= {
        "label", "score", "xyxy"}
    assert det.detect_loaded(_img(160, 120), loaded).threshold == det.DEFAULT_THRESHOLD


@pytest.mark.parametrize("key", ZERO_SHOT)
def test_zero_shot_labels_are_the_queries(demo_models, settings, key):
    r = det.detect(_img(120, 90), key, queries="cat,  dog ,cat, , remote control", threshold=0.0, settings=settings)
    assert r.zero_shot and r.queries == ["cat", "dog", "remote control"]
    assert r.boxes and {b.label for b in r.boxes} <= set(r.queries)
    assert all(r.queries[b.label_id] == b.label for b in r.boxes)
    assert det.detect(_img(64, 64), key, queries="cat", settings=settings).threshold == det.DEFAULT_ZERO_SHOT_THRESHOLD


@pytest.mark.parametrize("key", ZERO_SHOT)
def test_zero_shot_needs_queries(demo_models, settings, key):
    for q in (None, "", " , ,"):
        with pytest.raises(det.QueryError, match="type what to look for"):
            det.detect(_img(64, 64), key, queries=q, settings=settings)
    with pytest.raises(det.QueryError, match="Up to"):
        det.detect(_img(64, 64), key, queries=",".join(f"thing {i}" for i in range(40)), settings=settings)


def test_parse_queries():
    assert det.parse_queries("cat,dog") == ["cat", "dog"]
    assert det.parse_queries(" a  red car ;\nCat, cat ") == ["a red car", "Cat"]
    assert det.parse_queries(["x", "", "y"]) == ["x", "y"]
    assert det.parse_queries(None) == []


# --------------------------------------------------------------------------- coordinates


def test_normalised_to_pixels_reference():
    b = [[0.5, 0.25, 0.5, 0.5]]
    assert det.normalised_to_pixels(b, 400, 200).tolist() == [[100, 0, 300, 100]]
    assert det.normalised_to_pixels(b, 400, 200, square_pad=True).tolist() == [[100, 0, 300, 200]]
    assert det.normalised_to_pixels(b, 200, 400, square_pad=True).tolist() == [[100, 0, 300, 200]]


def _fake_outputs(key, loaded, box, n_queries=5, n_text=3):
    """One confident query (index 0, class/query 1) at ``box`` (cx, cy, w, h); the rest unsure."""
    boxes = torch.full((1, n_queries, 4), 0.5)
    boxes[0, 0] = torch.tensor(box)
    if key in ("demo-detr", "demo-yolos"):  # softmax over classes + "no object"
        n = loaded.model.config.num_labels + 1
        logits = torch.full((1, n_queries, n), -10.0)
        logits[..., -1] = 10.0
        logits[0, 0, -1] = -10.0
        logits[0, 0, 1] = 10.0
    elif key == "demo-rtdetr":  # sigmoid per class
        logits = torch.full((1, n_queries, loaded.model.config.num_labels), -10.0)
        logits[0, 0, 1] = 10.0
    else:  # OWL: sigmoid per text query
        logits = torch.full((1, n_queries, n_text), -10.0)
        logits[0, 0, 1] = 10.0
    return SimpleNamespace(logits=logits, pred_boxes=boxes)


def _postprocess(key, settings, prep, box):
    task = "zero-shot-object-detection" if key in ZERO_SHOT else "object-detection"
    loaded = load(key, task=task, settings=settings)
    queries = ["cat", "dog", "remote control"] if key in ZERO_SHOT else None
    out = det.postprocess(loaded, _fake_outputs(key, loaded, box), prep, 0.5, queries)
    return loaded, out


@pytest.mark.parametrize("key", CLOSED + ZERO_SHOT)
def test_known_box_lands_on_the_right_pixels(demo_models, settings, key):
    prep = prepare_image(Image.new("RGB", (400, 200)), max_side=1024)
    loaded, boxes = _postprocess(key, settings, prep, [0.5, 0.25, 0.5, 0.5])
    assert len(boxes) == 1
    want = [100, 0, 300, 200] if key == "demo-owlv2" else [100, 0, 300, 100]  # OWLv2: normalised by the padded square
    assert boxes[0].xyxy == pytest.approx(want, abs=1e-3)
    assert boxes[0].label == ("dog" if key in ZERO_SHOT else loaded.model.config.id2label[1])


@pytest.mark.parametrize("key", ["demo-detr", "demo-rtdetr", "demo-owlv2"])
def test_known_box_survives_downscale_and_padding(demo_models, settings, key):
    """A 4000×100 strip is downscaled to 1024×26 and padded to 1024×103 before the processor."""
    prep = prepare_image(Image.new("RGB", (4000, 100)), max_side=1024)
    assert prep.fed_size == (1024, 103) and (prep.content_w, prep.content_h) == (1024, 26)
    if key == "demo-owlv2":  # normalised by the 1024-px square OWLv2 pads to
        box, want_y1 = [0.5, 0.0125, 1.0, 0.025], 0.025 * 1024 / 0.26
    else:  # normalised by the 1024×103 image the processor got
        box, want_y1 = [0.5, 0.125, 1.0, 0.25], 0.25 * 103 / 0.26
    _, boxes = _postprocess(key, settings, prep, box)
    assert len(boxes) == 1
    assert boxes[0].xyxy == pytest.approx([0, 0, 4000, want_y1], abs=1e-2)
    # a box wholly in the padding (below the strip) is dropped
    _, gone = _postprocess(key, settings, prep, [0.5, 0.8, 0.2, 0.1])
    assert gone == []


def test_to_original_divides_by_the_downscale_and_clips():
    prep = prepare_image(Image.new("RGB", (3000, 1500)), max_side=1500)  # scale 0.5
    out = det.to_original([[10, 20, 30, 40], [-5, -5, 1600, 900]], prep)
    assert out.tolist() == [[20, 40, 60, 80], [0, 0, 3000, 1500]]


def test_very_large_image_within_limits(demo_models, settings, tmp_path):
    path = tmp_path / "big.png"
    Image.new("RGB", (8000, 8000), (200, 120, 40)).save(path)
    r = det.detect(path, "demo-detr", threshold=0.0, settings=settings)
    assert (r.width, r.height) == (8000, 8000)
    _check_bounds(r)


# --------------------------------------------------------------------------- refusals


def test_bad_images_are_refused_with_a_sentence(demo_models, settings, tmp_path):
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(good, format="JPEG")
    for name, data in {"text.png": b"<html></html>", "truncated.jpg": good.getvalue()[:200]}.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ImageError) as info:
            det.detect(p, "demo-detr", settings=settings)
        assert any(w in str(info.value) for w in ("not an image", "truncated", "corrupt"))


def test_local_folders_pick_their_kind(demo_models, settings):
    owl = det.load_detector(str(demo_models["demo-owlvit"]), settings=settings)
    assert owl.spec.task == "zero-shot-object-detection"
    detr = det.load_detector(str(demo_models["demo-detr"]), settings=settings)
    assert detr.spec.task == "object-detection"


def test_a_segmenter_is_not_a_detector(demo_models, settings):
    with pytest.raises(ModelError, match="segmentation model.*object detector"):
        det.detect(_img(32, 32), str(demo_models["demo-segformer"]), settings=settings)


def test_uncached_hub_model_offline_says_so(settings):
    with pytest.raises(ModelUnavailableError, match="cannot be reached"):
        det.detect(_img(32, 32), "detr-resnet-50", settings=settings)
    with pytest.raises(ModelUnavailableError, match="cannot be reached"):
        det.detect(_img(32, 32), "someone/owlv2-finetuned", queries="cat", settings=settings)
