"""python -m tlweb depth … as a user runs it (a subprocess, offline): the JSON contract, the picture at the
image's size, and bad input as one ``error:`` line with exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
from PIL import Image

from tests.conftest import ROOT

KEYS = {"model", "width", "height", "depth_min", "depth_max", "out"}


def _run(*args, cwd=ROOT, timeout=180):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p)}
    return subprocess.run([sys.executable, "-m", "tlweb", "depth", *args], capture_output=True, text=True, cwd=cwd,
                          env=env, timeout=timeout)


def test_depth_json_and_picture(demo_models, example_image, tmp_path):
    out = _run(str(example_image), "--model", "demo-dpt-scenes", "--out", "depth.png", "--json", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(data) == KEYS
    w, h = Image.open(example_image).size
    assert data["model"] == "demo-dpt-scenes" and (data["width"], data["height"]) == (w, h)
    assert isinstance(data["depth_min"], float) and data["depth_min"] <= data["depth_max"]
    assert os.path.isabs(data["out"]) and data["out"] == str(tmp_path / "depth.png")
    picture = Image.open(data["out"])
    assert picture.size == (w, h) and picture.mode == "RGB"
    assert np.asarray(picture).std() > 0  # a map, not a flat colour


def test_depth_without_out_prints_null_and_writes_nothing(demo_models, example_image, tmp_path):
    out = _run(str(example_image), "--model", "demo-dpt-scenes", "--json", cwd=tmp_path)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert set(data) == KEYS and data["out"] is None and not list(tmp_path.iterdir())


def test_bad_input_is_one_error_line(demo_models, example_image, tmp_path):
    wrong = _run(str(example_image), "--model", "demo-resnet-shapes", "--json")
    assert wrong.returncode == 2 and wrong.stderr.strip().count("\n") == 0
    assert wrong.stderr.startswith("error: ") and "not a depth estimator" in wrong.stderr
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 this is not a JPEG")
    bad = _run(str(broken), "--model", "demo-dpt-scenes")
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0 and bad.stderr.startswith("error: ")
    assert "Traceback" not in bad.stderr + wrong.stderr
