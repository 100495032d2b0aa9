"""python -m tlweb explain …: the JSON contract for all five methods on a local ResNet and a local ViT folder
(written by plain save_pretrained), and one sentence with exit 2 where a method does not apply."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from PIL import Image

from tests.conftest import ROOT
from tests.engine.explain_helpers import save, tiny_resnet_model, tiny_vit_model
from tests.registries import explain_methods
from tlweb.cli import main
from tlweb.engine.explain import get_method

CONTRACT = {"method", "model", "layer", "target", "map_size", "peak", "out"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-explain")
    return {"resnet": save(tiny_resnet_model(), root / "resnet", "resnet"), "vit": save(tiny_vit_model(), root / "vit", "vit")}


def _last_json(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@pytest.mark.parametrize("kind", ["resnet", "vit"])
@pytest.mark.parametrize("method", explain_methods())
def test_contract_for_every_method(folders, example_image, tmp_path, capsys, kind, method):
    out = tmp_path / f"{kind}-{method}.png"
    argv = ["explain", str(example_image), "--model", str(folders[kind]), "--method", method, "--out", str(out), "--json"]
    code = main(argv)
    captured = capsys.readouterr()
    record = get_method(method)
    if kind == "resnet" and not record.cnn:
        assert code == 2
        err = captured.err.strip()
        assert err.startswith("error: ") and "no attention layers" in err and len(err.splitlines()) == 1
        assert not out.exists()
        return
    assert code == 0, captured.err
    data = _last_json(captured.out)
    assert CONTRACT <= set(data)
    assert data["method"] == method and data["model"] == str(folders[kind]) and data["out"] == str(out)
    assert data["map_size"] == [384, 255]  # the image's own size
    assert 0 <= data["peak"][0] < 384 and 0 <= data["peak"][1] < 255
    assert data["target"] in {"circle", "cross"}  # the toy models' classes; class-agnostic methods: the top-1
    if not record.class_specific:
        assert data["target"] == data["predictions"][0]["label"] and data["class_agnostic"]
    if not record.layers:
        assert data["layer"] is None
    else:
        assert isinstance(data["layer"], int) and 0 <= data["layer"] < len(data["layers"])
    assert Image.open(out).size == (384, 255)


def test_layer_target_and_random_weights_flags(folders, example_image, capsys):
    code = main(["explain", str(example_image), "--model", str(folders["resnet"]), "--method", "gradcam",
                 "--layer", "0", "--target", "cross", "--random-weights", "--json"])
    data = _last_json(capsys.readouterr().out)
    assert code == 0 and data["layer"] == 0 and data["target"] == "cross" and data["random_weights"] is True
    assert data["out"] is None
    code = main(["explain", str(example_image), "--model", str(folders["vit"]), "--method", "attention",
                 "--layer", "vit.layers.0", "--head", "1", "--json"])
    data = _last_json(capsys.readouterr().out)
    assert code == 0 and data["layer"] == 0 and data["head"] == 1 and data["layer_name"] == "vit.layers.0"
    code = main(["explain", str(example_image), "--model", str(folders["resnet"]), "--target", "giraffe"])
    assert code == 2 and "not one of this model's classes" in capsys.readouterr().err


def test_as_a_user_runs_it(folders, example_image, tmp_path):
    env = dict(os.environ)
    ok = subprocess.run([sys.executable, "-m", "tlweb", "explain", str(example_image), "--model", str(folders["vit"]),
                         "--method", "rollout", "--json"], capture_output=True, text=True, cwd=ROOT, env=env,
                        timeout=180)
    assert ok.returncode == 0, ok.stderr
    assert CONTRACT <= set(_last_json(ok.stdout))
    refused = subprocess.run([sys.executable, "-m", "tlweb", "explain", str(example_image), "--model",
                              str(folders["resnet"]), "--method", "attention", "--json"], capture_output=True,
                             text=True, cwd=ROOT, env=env, timeout=180)
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().count("\n") == 0 and refused.stderr.strip().endswith(".")
