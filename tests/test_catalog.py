"""The one model catalog: curated entries, resolve() of keys, labels, ids and folders."""

from __future__ import annotations

import pytest

from tests.registries import demo_keys
from tlweb import catalog
from tlweb.catalog import CATALOG, CLASSIFICATION
from tlweb.engine.listing import list_models, resolve
from tlweb.errors import ModelError


def test_catalog_has_the_families_the_issue_asks_for():
    cls = [s for s in CATALOG if s.task == CLASSIFICATION]
    assert len(cls) >= 8
    families = {s.family for s in cls}
    assert {"vit", "swin", "convnext", "resnet", "dinov2"} <= families
    assert families & {"efficientnet", "mobilenet_v2"}
    assert any("deit" in s.hub_id for s in cls)
    for s in CATALOG:
        assert s.license and s.license != "unknown", s.key
        assert s.params_m and s.input_size, s.key
    keys = [s.key for s in CATALOG]
    assert len(keys) == len(set(keys))


def test_resolve_by_key_label_and_hub_id(settings):
    spec = resolve("vit-base", settings=settings)
    assert spec.hub_id == "google/vit-base-patch16-224"
    assert resolve(spec.label, settings=settings) == spec
    assert resolve("google/vit-base-patch16-224", settings=settings) == spec


def test_resolve_any_hub_id_and_local_folder(settings, demo_models, tmp_path):
    import shutil

    spec = resolve("someone/their-model", settings=settings)
    assert spec.source == "hub" and spec.hub_id == "someone/their-model"
    folder = tmp_path / "my-model"
    shutil.copytree(demo_models["demo-vit"], folder)
    local = resolve(str(folder), settings=settings)
    assert local.source == "local" and local.task == CLASSIFICATION and local.family == "vit"


@pytest.mark.parametrize("bad", ["", "   ", "a/b/c/d", "bad id with spaces", "../../etc", "/no/such/folder", "x" * 300])
def test_resolve_rejects_nonsense_with_a_sentence(settings, bad):
    with pytest.raises(ModelError) as info:
        resolve(bad, settings=settings)
    assert len(str(info.value)) > 20


def test_resolve_file_instead_of_folder(settings, tmp_path):
    f = tmp_path / "model.bin"
    f.write_bytes(b"x")
    with pytest.raises(ModelError, match="file, not a model folder"):
        resolve(str(f), settings=settings)


def test_demo_models_listed_only_in_demo_mode(settings):
    listed = [s.key for s in list_models(CLASSIFICATION, settings) if s.source == "demo"]
    assert listed == demo_keys(CLASSIFICATION)
    plain = settings.replace(demo=False)
    assert not [s for s in list_models(CLASSIFICATION, plain) if s.source == "demo"]
    # each demo label says what the weights are: random, or (demo-resnet-shapes) pretrained on generated shapes
    assert all("random weights" in s.label or "pretrained on synthetic shapes" in s.label
               for s in list_models(CLASSIFICATION, settings) if s.source == "demo")


def test_task_from_config():
    assert catalog.task_from_config({"architectures": ["ViTForImageClassification"]}) == CLASSIFICATION
    assert catalog.task_from_config({"architectures": ["DetrForObjectDetection"]}) == catalog.DETECTION
    assert catalog.task_from_config({"model_type": "owlv2"}) == catalog.ZERO_SHOT_DETECTION
    # a plain save_pretrained OWLv2 / CLIP config: the family decides, not the class-name ending
    assert catalog.task_from_config({"model_type": "owlv2", "architectures": ["Owlv2ForObjectDetection"]}) \
        == catalog.ZERO_SHOT_DETECTION
    assert catalog.task_from_config({"model_type": "clip", "architectures": ["CLIPModel"]}) \
        == catalog.ZERO_SHOT_CLASSIFICATION
    assert catalog.task_from_config({"architectures": ["Dinov2Model"]}) == catalog.FEATURES


def test_resolve_finds_fine_tuned_runs_by_key_label_and_folder(settings, demo_models, tmp_path):
    import shutil

    from tlweb.engine.listing import run_specs

    run_id = "20260101-000000-linear-test-run"
    model_dir = settings.runs_dir / run_id / "model"
    shutil.copytree(demo_models["demo-vit"], model_dir)
    try:
        listed = [s for s in run_specs(settings) if s.key == run_id]
        assert listed and listed[0].source == "run"
        for name in (run_id, listed[0].label, str(model_dir)):
            spec = resolve(name, settings=settings)
            assert spec.source == "run" and spec.key == run_id and spec == listed[0], name
        with pytest.raises(ModelError):
            resolve("../" + run_id, settings=settings)
    finally:
        shutil.rmtree(settings.runs_dir / run_id)
