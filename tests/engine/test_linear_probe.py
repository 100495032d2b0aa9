"""The Fine-tune tab's linear probe is the leaderboard's head (tlweb.engine.head): the same features
(one cache entry), the same hold-out rule, the same C, the same test accuracy; below ten images per
class nothing is held out (C by cross-validation, the head fitted on all of them); the run reports
its C sweep as events; Stop keeps the best C so far."""

from __future__ import annotations

import json

import pytest
import torch

from tests.engine.ft_helpers import one_thread, shapes_data  # noqa: F401
from tlweb.engine import features as F
from tlweb.engine import head as H
from tlweb.engine.data import subsample
from tlweb.engine.train import TrainConfig, finetune

pytestmark = pytest.mark.usefixtures("one_thread")

MODELS = ("demo-vit", "demo-resnet")


@pytest.fixture(scope="module")
def twelve(tmp_path_factory, settings):
    """4 classes, 12 training images each (≥ head.MIN_PER_CLASS_FOR_HOLDOUT) and 3 test images each."""
    return shapes_data(tmp_path_factory.mktemp("twelve"), settings, per_class=15, test_per_class=3, size=32, seed=11)


def _saved_head(result):
    from safetensors.torch import load_file

    weights = load_file(str(result.model_dir / "model.safetensors"))
    w = next(v for k, v in weights.items() if k.startswith("classifier") and k.endswith("weight"))
    b = next(v for k, v in weights.items() if k.startswith("classifier") and k.endswith("bias"))
    return w, b


def test_held_out_rule_same_head_and_same_cache_as_the_leaderboard(demo_models, twelve, settings, monkeypatch):
    from tlweb.engine.leaderboard import leaderboard

    assert min(twelve.counts()["train"].values()) >= H.MIN_PER_CLASS_FOR_HOLDOUT
    for name in MODELS:  # what the backbones cost is measured once, whatever the data (not this test's point)
        F.model_facts(F.Backbone(name, settings), settings=settings)
    runs, all_events = {}, {}
    for name in MODELS:
        events = []
        runs[name] = finetune(TrainConfig(name, twelve, "linear", seed=3), on_event=events.append, settings=settings)
        all_events[name] = events
    res = runs["demo-vit"]
    labels = [int(x) for x in twelve.train["label"]]
    fit_pos, val_pos = H.holdout_split(labels, 4, seed=3)
    assert len(val_pos) == 4 * round(12 * H.HOLDOUT_FRACTION)
    # held out to choose C, then refitted on all 48: the numbers say so
    assert (res.train_images, res.val_images, res.test_images) == (48, len(val_pos), 12)
    cfg = json.loads((res.run_dir / "config.json").read_text())
    assert cfg["data"]["validation_rows"] == val_pos and cfg["data"]["validation_fraction"] == H.HOLDOUT_FRACTION
    assert res.selection.startswith(f"C = {res.metrics['head']['C']:g} chosen on {len(val_pos)} held-out images")
    # the C kept is the one with the lowest held-out loss among the sweep's eval events
    evals = [e for e in all_events["demo-vit"] if e.kind == "eval"]
    assert evals and all(e.eval_split == "validation" for e in evals)
    best = min(evals, key=lambda e: (e.val_loss, -e.val_accuracy))
    assert res.metrics["head"]["C"] == pytest.approx(best.C)
    # the saved head is exactly the leaderboard policy's head on the cached features
    tr = F.split_features(twelve, "train", F.Backbone("demo-vit", settings), settings=settings)
    ref = H.auto_head(tr.features, tr.labels, 4, seed=3)
    w, b = _saved_head(res)
    assert torch.allclose(w, ref.weight, atol=1e-5) and torch.allclose(b, ref.bias, atol=1e-5)
    # a leaderboard on the same data afterwards runs no forward pass over the data (its features are cached;
    # the model is loaded only to time warm one-image passes, counted apart) …
    before = F.forward_passes()
    board = leaderboard(twelve, list(MODELS), seed=3, settings=settings)
    assert F.forward_passes() == before
    # … and ranks each backbone with the accuracy and the C of its linear fine-tune
    for row in board.rows:
        run = runs[row.model]
        assert row.cached and row.linear_accuracy == pytest.approx(run.test_accuracy)
        assert row.linear_C == pytest.approx(run.metrics["head"]["C"])


def test_below_ten_per_class_nothing_is_held_out(demo_models, twelve, settings):
    small = subsample(twelve, 5, seed=0)
    events = []
    res = finetune(TrainConfig("demo-vit", small, "linear"), on_event=events.append, settings=settings)
    assert (res.train_images, res.val_images) == (20, 0)  # today's "5 per class" point fits on all 5
    assert "by 5-fold cross-validation on the training images, then fitted on all of them" in res.selection
    assert "20 train / 12 test images, none held out" in events[0].message
    evals = [e for e in events if e.kind == "eval"]
    assert evals and all(e.eval_split == "cross-validation" and "monitoring" not in e.message for e in evals)
    cfg = json.loads((res.run_dir / "config.json").read_text())
    assert cfg["data"]["validation_rows"] == [] and cfg["data"]["val_images"] == 0
    tr = F.split_features(small, "train", F.Backbone("demo-vit", settings), settings=settings)
    ref = H.fit_head(tr.features, tr.labels, 4, seed=0)
    assert ref.folds == 5 and res.metrics["head"]["C"] == ref.C
    w, b = _saved_head(res)
    assert torch.allclose(w, ref.weight, atol=1e-5) and torch.allclose(b, ref.bias, atol=1e-5)
    one = finetune(TrainConfig("demo-vit", subsample(twelve, 1, seed=0), "linear"), settings=settings)
    assert one.train_images == 4 and "by default" in one.selection  # no folds with one image a class


def test_stop_mid_sweep_keeps_the_best_c_so_far(demo_models, twelve, settings):
    evals = []

    def on_event(e):
        if e.kind == "eval":
            evals.append(e)

    res = finetune(TrainConfig("demo-vit", twelve, "linear"), on_event=on_event, should_stop=lambda: len(evals) >= 3,
                   settings=settings)
    assert res.stopped and len(evals) == 3 and res.history[-1].kind == "stopped"
    best = min(evals, key=lambda e: (e.val_loss, -e.val_accuracy))
    assert res.metrics["head"]["C"] == pytest.approx(best.C) and "stopped early; kept the head with C" in \
        res.history[-1].message
    assert (res.model_dir / "model.safetensors").exists()
