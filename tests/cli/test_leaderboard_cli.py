"""python -m tlweb leaderboard / embed / classify --labels as a user runs them: local model
folders and an imagefolder, offline, JSON on the last line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "tlweb", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=timeout)


def _json(out):
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def imagefolder(tmp_path_factory):
    from tlweb.engine.data import write_shapes_dataset

    root = tmp_path_factory.mktemp("shapes")
    return write_shapes_dataset(root / "data", ("circle", "square", "triangle"), per_class=20, size=40, seed=3)


def test_leaderboard_contract(imagefolder, demo_models):
    models = f"{demo_models['demo-resnet-shapes']},{demo_models['demo-convnext']}"
    data = _json(_run("leaderboard", "--data", str(imagefolder), "--models", models,
                      "--zero-shot", str(demo_models["demo-clip"]), "--template", "a photo of a {}.", "--json"))
    rows = data["rows"]
    assert [r["model"] for r in rows] == models.split(",") + [str(demo_models["demo-clip"])]
    for r in rows[:2]:
        for key in ("linear_accuracy", "knn_accuracy", "latency_ms", "params", "gflops"):
            assert isinstance(r[key], (int, float)) and r[key] >= 0, key
        assert "zero_shot_accuracy" not in r
    zs = rows[2]
    assert zs["linear_accuracy"] is None and zs["knn_accuracy"] is None
    assert 0 <= zs["zero_shot_accuracy"] <= 1 and zs["templates"] == ["a photo of a {}."]
    assert data["best"] in [r["model"] for r in rows]
    assert data["test_images"] == 12 and data["test_from"].startswith("held-out")


def test_leaderboard_text_and_errors(demo_models):
    out = _run("leaderboard", "--data", "sample", "--models", "demo-resnet-shapes,demo-resnet")
    assert out.returncode == 0, out.stderr
    assert "Best trade-off" in out.stdout and "linear" in out.stdout
    one = _run("leaderboard", "--data", "sample", "--models", "demo-resnet")
    assert one.returncode == 2 and "at least 2" in one.stderr and "Traceback" not in one.stderr
    nodata = _run("leaderboard", "--data", "./no/such/folder", "--models", "demo-resnet,demo-vit")
    assert nodata.returncode == 2 and "does not exist" in nodata.stderr


@pytest.mark.parametrize("random_weights", [False, True])
def test_embed_contract(imagefolder, demo_models, tmp_path, random_weights):
    out_file = tmp_path / "proj.html"
    args = ["embed", "--data", str(imagefolder), "--model", str(demo_models["demo-resnet-shapes"]),
            "--out", str(out_file), "--json"]
    data = _json(_run(*args, *(["--random-weights"] if random_weights else [])))
    assert data["points"] == 60 and data["out"] == str(out_file)
    assert 0 <= data["knn_accuracy"] <= 1 and -1 <= data["silhouette"] <= 1
    assert data["weights"] == ("random init" if random_weights else "pretrained")
    page = out_file.read_text()
    assert "tlProjector" in page and "k-NN accuracy" in page


def test_classify_with_labels(demo_models, example_image):
    data = _json(_run("classify", str(example_image), "--model", str(demo_models["demo-clip"]),
                      "--labels", "cat, dog, car", "--json"))
    assert data["scoring"] == "softmax" and sorted(p["label"] for p in data["predictions"]) == ["car", "cat", "dog"]
    assert abs(sum(p["score"] for p in data["predictions"]) - 1) < 1e-4
    sig = _json(_run("classify", str(example_image), "--model", "demo-siglip", "--labels", "cat", "--json"))
    assert sig["scoring"] == "sigmoid" and len(sig["predictions"]) == 1
    missing = _run("classify", str(example_image), "--model", "demo-clip")
    assert missing.returncode == 2 and "--labels" in missing.stderr
