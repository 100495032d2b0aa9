"""python -m tlweb efficiency as a user runs it: the data-efficiency curve with a zero-shot CLIP
baseline, offline, JSON on the last line; a classifier as the baseline is one sentence, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT


def _run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "tlweb", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=timeout)


def test_efficiency_with_a_zero_shot_baseline(tmp_path, demo_models):
    from tlweb.engine.data import write_shapes_dataset

    root = write_shapes_dataset(tmp_path / "data", ("circle", "square", "triangle"), per_class=10, size=32, seed=2)
    report = tmp_path / "curve.html"
    out = _run("efficiency", "--data", str(root), "--model", "demo-vit", "--shots", "1,2", "--strategies", "linear",
               "--seeds", "1", "--zero-shot", "demo-clip", "--template", "a photo of a {}.", "--report", str(report),
               "--demo", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert [(r["strategy"], r["per_class"]) for r in data["rows"]] == [("linear", 1), ("linear", 2)]
    zs = data["zero_shot"]
    assert zs["model"] == "demo-clip" and zs["templates"] == ["a photo of a {}."] and zs["train_images"] == 0
    assert zs["test_images"] == data["rows"][0]["test_images"] > 0 and 0 <= zs["test_accuracy"] <= 1
    assert data["sentence"].startswith("zero-shot demo-clip (random weights): ")
    markup = report.read_text()
    assert "zero-shot demo-clip (random weights): 0 images" in markup and "class names only" in markup
    listed = _run("runs", "ls")  # the runs list shows the baseline under its experiment
    assert listed.returncode == 0 and "zero-shot demo-clip · 0/class" in listed.stdout
    assert data["experiment"] in listed.stdout


def test_a_classifier_as_the_baseline_is_one_sentence(demo_models):
    out = _run("efficiency", "--data", "sample", "--model", "demo-vit", "--zero-shot", "demo-vit", "--demo")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert "'demo-vit' is an image classifier, not a CLIP or SigLIP model" in out.stderr
