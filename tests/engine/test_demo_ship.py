"""Demo models whose trained weights ship inside the package (tlweb.engine.demo.ship): every record's
weights are there, made by its current recipe; the first pick copies them (no training); a rebuild by our
own recipe reaches the shipped measure."""

from __future__ import annotations

import json

import pytest

from tests.engine.ft_helpers import one_thread  # noqa: F401 - fixture
from tlweb import registry as tasks
from tlweb.engine.demo import ensure_built
from tlweb.engine.demo import registry as demo_registry
from tlweb.engine.demo.ship import KEEP, WEIGHTS, folder_bytes, has_weights, main, meta, shipped

RECORDS = shipped()


def _known(task: str) -> bool:
    try:
        tasks.task(task)
        return True
    except KeyError:
        return False


def test_the_shapes_models_ship():
    assert {"demo-resnet-shapes", "demo-vit-shapes"} <= set(RECORDS)


@pytest.mark.parametrize("key", list(RECORDS))
def test_every_shipped_model_is_in_the_package_by_its_current_recipe(key):
    rec = RECORDS[key]
    assert has_weights(key), f"no weights for {key}: python -m tlweb.engine.demo.ship {key}"
    assert rec.folder.parent == WEIGHTS and {p.name for p in rec.folder.iterdir()} <= set(KEEP)
    assert folder_bytes(rec.folder) < 1_000_000  # a tiny model: hundreds of KB
    cfg = json.loads((rec.folder / "config.json").read_text())
    assert cfg["model_type"] == rec.family
    info = cfg["tlweb"]
    assert (info["key"], info["task"], info["family"]) == (key, rec.task, rec.family)
    shipped_meta = meta(key)
    assert shipped_meta["recipe_version"] == rec.recipe_version, f"recipe changed: python -m tlweb.engine.demo.ship {key}"
    assert rec.metric in shipped_meta["metrics"]
    # listed among the demo models exactly when tlweb runs its task
    assert (key in demo_registry()) == _known(rec.task)
    if key in demo_registry():
        dm = demo_registry()[key]
        assert dm.shipped and "ships with tlweb" in dm.license and "random" not in dm.label_note


@pytest.mark.parametrize("key", [k for k, r in RECORDS.items() if _known(r.task)])
def test_first_pick_copies_the_shipped_weights_without_training(settings, tmp_path, monkeypatch, key):
    from tlweb.engine.demo import ship

    def no_training(*args, **kwargs):
        raise AssertionError("a shipped demo model was trained on its first pick")

    monkeypatch.setattr(ship, "_make", no_training)
    fresh = settings.replace(home=tmp_path / "home")
    folder = ensure_built(key, fresh)
    shipped_folder = RECORDS[key].folder
    assert (folder / "model.safetensors").read_bytes() == (shipped_folder / "model.safetensors").read_bytes()
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["tlweb"]["build_version"] and cfg["tlweb"]["shipped"] == meta(key)
    assert "ships with tlweb" in cfg["tlweb"]["license"]


def test_a_picked_shapes_model_classifies_as_trained(settings, tmp_path, make_image):
    from tlweb.engine.classify import classify
    from tlweb.engine.demo_recipes.pretrained import KEY, SOURCE_CLASSES

    fresh = settings.replace(home=tmp_path / "home")
    result = classify(make_image(size=(48, 48)), KEY, 3, fresh)
    assert {p.label for p in result.predictions} <= set(SOURCE_CLASSES)
    assert result.as_dict()["model"] == KEY


@pytest.mark.slow  # 19-45 s of wall time on a loaded 2-core CPU (about 10 s of CPU)
def test_rebuild_reaches_the_shipped_accuracy(tmp_path, capsys, one_thread):  # noqa: F811
    """The cheapest record, rebuilt by its recipe through the command line into a temporary folder."""
    from tlweb.engine.demo_recipes.pretrained import KEY

    rec = RECORDS[KEY]
    assert main([KEY, "--out", str(tmp_path)]) == 0
    assert KEY in capsys.readouterr().out
    new, old = meta(KEY, tmp_path / KEY)["metrics"][rec.metric], meta(KEY)["metrics"][rec.metric]
    print(f"{KEY} {rec.metric}: rebuilt {new}, shipped {old}")
    assert abs(new - old) <= rec.tolerance
    assert {p.name for p in (tmp_path / KEY).iterdir()} == {p.name for p in rec.folder.iterdir()}
    assert not any(p.name.endswith(".rebuild") for p in tmp_path.iterdir())


def test_command_line_lists_and_refuses_unknown_keys(capsys):
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(key in out for key in RECORDS)
    assert main(["no-such-model"]) == 2
    assert "no shipped demo model no-such-model" in capsys.readouterr().err
