"""Loading through the real from_pretrained path: cache, budget, offline errors, safety rules."""

from __future__ import annotations

import shutil
import time

import pytest

from tlweb.catalog import CLASSIFICATION, DETECTION
from tlweb.engine import availability, loading
from tlweb.errors import ModelError, ModelUnavailableError


@pytest.fixture
def fresh_cache():
    cache = loading.reset_cache()
    yield cache
    loading.reset_cache()


def test_offline_hub_model_fails_fast_with_instructions(settings, fresh_cache):
    t0 = time.perf_counter()
    with pytest.raises(ModelUnavailableError) as info:
        loading.load("google/vit-base-patch16-224", task=CLASSIFICATION, settings=settings)
    assert time.perf_counter() - t0 < 15
    msg = str(info.value)
    assert "not in the local cache" in msg and "cannot be reached" in msg and "python -m tlweb download" in msg


def test_hub_reachable_false_when_offline_forced():
    assert availability.hub_offline_forced()
    assert availability.hub_reachable() is False


def test_loads_local_folder_and_caches(settings, demo_models, fresh_cache):
    a = loading.load(str(demo_models["demo-vit"]), task=CLASSIFICATION, settings=settings)
    b = loading.load(str(demo_models["demo-vit"]), task=CLASSIFICATION, settings=settings)
    assert a is b and len(fresh_cache) == 1
    assert a.device == "cpu" and a.dtype == "float32"
    assert a.spec.params_m and a.spec.params_m > 0 and a.spec.input_size == 64
    assert not a.model.training


def test_budget_evicts_least_recently_used(settings, demo_models):
    cache = loading.reset_cache(budget_mb=1)
    try:
        # Each tiny model is ~0.1–1 MB; a 1 MB budget cannot hold them all.
        first = loading.load("demo-mobilenet-v2", task=CLASSIFICATION, settings=settings)
        assert first.evicted == []
        second = loading.load("demo-efficientnet", task=CLASSIFICATION, settings=settings)
        third = loading.load("demo-vit", task=CLASSIFICATION, settings=settings)
        evicted = second.evicted + third.evicted
        assert "demo-mobilenet-v2" in evicted
        assert cache.used <= max(cache.budget, third.nbytes)
    finally:
        loading.reset_cache()


def test_pickle_only_folder_refused_unless_allowed(settings, demo_models, tmp_path, fresh_cache):
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / "pickled"
    shutil.copytree(demo_models["demo-resnet"], folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    with pytest.raises(ModelError, match="pickle"):
        loading.load(str(folder), task=CLASSIFICATION, settings=settings)
    loaded = loading.load(str(folder), task=CLASSIFICATION, settings=settings.replace(allow_pickle=True))
    assert loaded.params > 0


def test_wrong_task_is_refused(settings, demo_models, fresh_cache):
    with pytest.raises(ModelError, match="not an object detector"):
        loading.load(str(demo_models["demo-vit"]), task=DETECTION, settings=settings)


def test_folder_without_weights(settings, demo_models, tmp_path, fresh_cache):
    folder = tmp_path / "empty-weights"
    shutil.copytree(demo_models["demo-vit"], folder)
    (folder / "model.safetensors").unlink()
    with pytest.raises(ModelError, match="no weights"):
        loading.load(str(folder), task=CLASSIFICATION, settings=settings)


def test_remote_code_config_is_not_executed(settings, tmp_path, fresh_cache):
    folder = tmp_path / "remote"
    folder.mkdir()
    (folder / "config.json").write_text('{"model_type": "evil-model", "auto_map": {"AutoConfig": "x.Cfg"},'
                                        ' "architectures": ["EvilForImageClassification"]}')
    (folder / "model.safetensors").write_bytes(b"0")
    with pytest.raises(ModelError):
        loading.load(str(folder), task=CLASSIFICATION, settings=settings)


def test_download_refuses_offline(settings):
    with pytest.raises(ModelUnavailableError):
        loading.download("google/vit-base-patch16-224", settings)


def test_processor_input_size_variants():
    class P:
        do_center_crop = True
        crop_size = {"height": 224, "width": 224}
        size = {"shortest_edge": 256}

    assert loading.processor_input_size(P()) == 224
    P.do_center_crop = False
    assert loading.processor_input_size(P()) == 256
