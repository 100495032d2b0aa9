"""Classification on a tiny model of every demo family."""

from __future__ import annotations

import pytest

from tests.registries import demo_keys
from tlweb.catalog import CLASSIFICATION
from tlweb.engine.classify import classify
from tlweb.engine.loading import load
from tlweb.errors import ImageError

FAMILIES = demo_keys(CLASSIFICATION)


@pytest.mark.parametrize("key", FAMILIES)
def test_every_family_classifies(settings, demo_models, example_image, key):
    result = classify(example_image, key, top_k_n=3, settings=settings)
    assert len(result.predictions) == 3
    scores = [p.score for p in result.predictions]
    assert scores == sorted(scores, reverse=True)
    assert all(0 <= s <= 1 for s in scores)
    assert result.latency_ms > 0 and result.params > 0
    labels = set(load(key, task=CLASSIFICATION, settings=settings).model.config.id2label.values())
    assert {p.label for p in result.predictions} <= labels


def test_probabilities_sum_to_one_over_all_classes(settings, demo_models, example_image):
    result = classify(example_image, "demo-resnet", top_k_n=100, settings=settings)
    assert len(result.predictions) == 10  # capped at the number of classes
    assert abs(sum(p.score for p in result.predictions) - 1) < 1e-4


def test_matches_a_bare_forward_pass(settings, demo_models, example_image):
    import torch
    from PIL import Image
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    folder = demo_models["demo-convnext"]
    model = AutoModelForImageClassification.from_pretrained(folder).eval()
    proc = AutoImageProcessor.from_pretrained(folder)
    with torch.no_grad():
        probs = model(**proc(images=Image.open(example_image).convert("RGB"), return_tensors="pt")).logits.softmax(-1)[0]
    result = classify(example_image, "demo-convnext", top_k_n=1, settings=settings)
    assert result.predictions[0].label == model.config.id2label[int(probs.argmax())]
    assert abs(result.predictions[0].score - float(probs.max())) < 1e-5


def test_bad_image_is_an_image_error(settings, demo_models, tmp_path):
    p = tmp_path / "x.jpg"
    p.write_text("nope")
    with pytest.raises(ImageError):
        classify(p, "demo-vit", settings=settings)
