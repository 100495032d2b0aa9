"""Zero-shot CLIP (softmax) and SigLIP (sigmoid) on the demo models, end to end, against the
transformers pipeline's own reading."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from tlweb.engine import zeroshot as Z
from tlweb.errors import DataError


@pytest.fixture
def png(tmp_path):
    from PIL import Image

    path = tmp_path / "x.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (60, 80, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("key,kind", [("demo-clip", "softmax"), ("demo-siglip", "sigmoid")])
def test_scores_match_the_pipeline(key, kind, png, settings, demo_models):
    from PIL import Image
    from transformers import pipeline

    from tlweb.engine.loading import load

    labels = ["cat", "dog", "car"]
    ours = Z.classify_labels(png, key, ", ".join(labels), templates=["This is a photo of {}."], settings=settings)
    assert ours.scoring == kind and ours.labels == labels
    loaded = load(key, task="zero-shot-image-classification", settings=settings)
    pipe = pipeline("zero-shot-image-classification", model=loaded.model, tokenizer=loaded.processor.tokenizer,
                    image_processor=loaded.processor.image_processor)
    ref = {d["label"]: d["score"] for d in pipe(Image.open(png).convert("RGB"), candidate_labels=labels)}
    for p in ours.predictions:
        assert p.score == pytest.approx(ref[p.label], abs=1e-5)
    total = sum(p.score for p in ours.predictions)
    if kind == "softmax":
        assert total == pytest.approx(1.0, abs=1e-5)
    else:
        assert total != pytest.approx(1.0, abs=1e-3)  # independent yes/no scores


def test_templates_are_averaged(png, settings, demo_models):
    one = Z.classify_labels(png, "demo-clip", "cat, dog", templates=["a photo of a {}."], settings=settings)
    two = Z.classify_labels(png, "demo-clip", "cat, dog", templates=["a photo of a {}.", "a drawing of a {}."],
                            settings=settings)
    assert two.templates == ["a photo of a {}.", "a drawing of a {}."]
    assert {p.label: p.score for p in one.predictions} != pytest.approx({p.label: p.score for p in two.predictions})
    d = two.as_dict()
    assert d["scoring"] == "softmax" and len(d["predictions"]) == 2 and d["labels"] == ["cat", "dog"]


def test_plain_transformers_folder(tmp_path, png, settings, demo_models):
    """A folder written by plain save_pretrained (no tlweb metadata) is recognised from model_type."""
    folder = tmp_path / "my-siglip"
    shutil.copytree(demo_models["demo-siglip"], folder)
    cfg = json.loads((folder / "config.json").read_text())
    cfg.pop("tlweb", None)
    (folder / "config.json").write_text(json.dumps(cfg))
    assert Z.is_zero_shot(str(folder), settings) and not Z.is_zero_shot("demo-vit", settings)
    res = Z.classify_labels(png, str(folder), "cat", settings=settings)
    assert res.scoring == "sigmoid" and len(res.predictions) == 1


def test_zero_shot_eval_on_the_sample_is_cached(settings, demo_models):
    from tlweb.engine.data import sample_data
    from tlweb.engine.features import forward_passes

    data = sample_data(settings)
    first = Z.zero_shot_eval(data, "demo-siglip", settings=settings)
    assert first.images == len(data.test) and 0 <= first.accuracy <= 1 and first.scoring == "sigmoid"
    assert first.templates == list(Z.DEFAULT_TEMPLATES) and first.params > 0 and first.gflops > 0
    assert len(first.predictions) == first.images
    before = forward_passes()
    again = Z.zero_shot_eval(data, "demo-siglip", settings=settings)
    assert again.cached and forward_passes() == before and again.accuracy == first.accuracy
    assert Z.zero_shot_accuracy(data, "demo-siglip", settings=settings) == first.accuracy


def test_labels_and_templates_are_checked(png, settings, demo_models):
    assert Z.parse_labels(" cat,dog , cat,, ") == ["cat", "dog"]
    assert Z.parse_templates("a {label} here\n\nthe {}") == ["a {} here", "the {}"]
    assert Z.prompt_label("golden_retriever") == "golden retriever"
    with pytest.raises(DataError, match="at least 2 labels"):
        Z.classify_labels(png, "demo-clip", "cat", settings=settings)  # softmax over one label says nothing
    with pytest.raises(DataError, match="exactly once"):
        Z.parse_templates("no placeholder")
    with pytest.raises(DataError, match="exactly once"):
        Z.parse_templates("{} and {}")


def test_a_classifier_is_not_zero_shot(png, settings, demo_models):
    from tlweb.errors import ModelError

    with pytest.raises(ModelError):
        Z.classify_labels(png, "demo-vit", "cat, dog", settings=settings)
