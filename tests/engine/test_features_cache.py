"""The one feature cache: computed once, keyed by weights + data + preprocessing, shared by the
linear probe, the leaderboard and the projector; a second use runs no forward pass."""

from __future__ import annotations

import pytest

from tlweb.engine import features as F


@pytest.fixture(scope="module")
def sample(settings, demo_models):
    from tlweb.engine.data import sample_data

    return sample_data(settings)


def _no_model_load(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the model was loaded although everything was cached")

    monkeypatch.setattr(F, "load_backbone", boom)


def test_second_use_runs_no_forward_pass_and_loads_no_model(sample, settings, monkeypatch):
    first = F.split_features(sample, "train", F.Backbone("demo-resnet", settings), settings=settings)
    before = F.forward_passes()
    _no_model_load(monkeypatch)
    bb = F.Backbone("demo-resnet", settings)
    again = F.split_features(sample, "train", bb, settings=settings)
    assert again.cached and not bb.is_loaded
    assert F.forward_passes() == before
    assert again.features.shape == first.features.shape == (len(sample.train), first.features.shape[1])
    assert (again.features == first.features).all()
    assert again.labels.tolist() == [int(x) for x in sample.train["label"]]
    assert again.seconds == pytest.approx(first.seconds)  # the stored extraction time


def test_first_use_counts_batches(sample, settings):
    bb = F.Backbone("demo-deit", settings, random_init=True, seed=123)  # a key nothing else uses
    seen = []
    before = F.forward_passes()
    fs = F.split_features(sample, "test", bb, settings=settings, batch_size=8, on_progress=lambda d, n: seen.append(d))
    assert not fs.cached and bb.is_loaded
    assert F.forward_passes() - before == len(sample.test) // 8 == len(seen)
    assert seen[-1] == len(sample.test)


def test_random_init_is_its_own_entry(sample, settings):
    pre = F.split_features(sample, "test", F.Backbone("demo-resnet-shapes", settings), settings=settings)
    rnd = F.split_features(sample, "test", F.Backbone("demo-resnet-shapes", settings, random_init=True),
                           settings=settings)
    assert not (pre.features == rnd.features).all()
    key_pre = F.feature_key(F.Backbone("demo-resnet-shapes", settings), sample, "test", "fp32", 32)
    key_rnd = F.feature_key(F.Backbone("demo-resnet-shapes", settings, random_init=True), sample, "test", "fp32", 32)
    assert "init" not in key_pre and key_rnd["init"] == "random:0"


def test_subsample_indexes_the_full_set(sample, settings, monkeypatch):
    from tlweb.engine.data import subsample

    full = F.split_features(sample, "train", F.Backbone("demo-resnet", settings), settings=settings)
    _no_model_load(monkeypatch)
    small = subsample(sample, 3, seed=0)
    part = F.split_features(small, "train", F.Backbone("demo-resnet", settings), settings=settings)
    assert part.cached and len(part) == 3 * len(sample.class_names)
    pos = {r: i for i, r in enumerate(full.rows)}
    for vec, row in zip(part.features, part.rows):
        assert (vec == full.features[pos[small.train_rows[row]]]).all()


def test_model_facts_counted_once_latency_timed_afresh(settings):
    """Parameters and GFLOPs come from the cache the second time; the latency never does: it is timed again
    (the median of warm passes), so one measurement taken while the machine was busy cannot stick."""
    import json

    bb = F.Backbone("demo-convnext", settings)
    facts = F.model_facts(bb, settings=settings)
    assert facts["params"] > 0 and facts["gflops"] > 0 and facts["latency_ms"] > 0 and facts["runs"] >= 3
    # an old cache entry that still holds a latency (as every entry did before): it must not come back
    entries = [p for p in (settings.cache_dir / "features").rglob("facts-*.json")]
    assert entries
    for path in entries:
        path.write_text(json.dumps({**json.loads(path.read_text()), "latency_ms": 278.0589, "runs": 20}))
    before, timed = F.forward_passes(), F.timing_passes()
    again = F.model_facts(F.Backbone("demo-convnext", settings), settings=settings)
    assert again["cached"] and F.forward_passes() == before  # no FLOP count, no pass over data
    assert {k: again[k] for k in ("params", "gflops")} == {k: facts[k] for k in ("params", "gflops")}
    assert F.timing_passes() - timed == again["runs"] + 2 and again["runs"] >= 3  # two warm-ups, then timed
    assert again["latency_ms"] != 278.0589


def test_head_params_excluded(settings):
    bb = F.Backbone("demo-vit", settings)
    total = sum(p.numel() for p in bb.model.parameters())
    assert F.model_facts(bb, settings=settings)["params"] == total - F.head_params(bb.model)


def test_linear_probe_run_fills_the_same_cache(sample, settings, monkeypatch):
    """The Fine-tune tab's linear probe and the leaderboard share entries: after a linear run the
    leaderboard's features are a cache hit."""
    from tlweb.engine.train import TrainConfig, finetune

    finetune(TrainConfig("demo-swin", sample, "linear", epochs=2), settings=settings)
    _no_model_load(monkeypatch)
    before = F.forward_passes()
    for split in ("train", "test"):
        assert F.split_features(sample, split, F.Backbone("demo-swin", settings), settings=settings).cached
    assert F.forward_passes() == before


def test_zero_shot_model_is_refused_as_backbone(settings):
    from tlweb.errors import ModelError

    with pytest.raises(ModelError, match="zero-shot"):
        F.Backbone("demo-clip", settings)
