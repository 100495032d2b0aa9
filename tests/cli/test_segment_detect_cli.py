"""python -m tlweb segment / detect … as a user runs them (a subprocess, offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT


def _run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "tlweb", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=timeout)


def _last_json(out):
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_segment_json_and_mask(demo_models, example_image, tmp_path):
    mask = tmp_path / "mask.png"
    data = _last_json(_run("segment", str(example_image), "--model", str(demo_models["demo-mask2former"]),
                           "--out", str(mask), "--json"))
    w, h = Image.open(example_image).size
    assert (data["width"], data["height"]) == (w, h)
    assert data["classes"] and all(set(c) >= {"name", "share"} for c in data["classes"])
    assert all(0.0 <= c["share"] <= 1.0 for c in data["classes"])
    assert sum(c["share"] for c in data["classes"]) == pytest.approx(1.0, abs=1e-4)
    ids = np.asarray(Image.open(mask))
    assert ids.shape == (h, w)
    for c in data["classes"]:  # the PNG's pixel values are the class ids, in the shares printed
        assert abs((ids == c["id"]).mean() - c["share"]) < 1e-5


def test_segment_text_output(demo_models, example_image):
    out = _run("segment", str(example_image), "--model", "demo-segformer")
    assert out.returncode == 0, out.stderr
    assert "%" in out.stdout and "384×255" in out.stdout


def test_detect_json_boxes_in_original_pixels(demo_models, tmp_path):
    img = tmp_path / "wide.png"
    Image.new("RGB", (640, 120), (40, 90, 200)).save(img)
    data = _last_json(_run("detect", str(img), "--model", "demo-detr", "--threshold", "0.05", "--json"))
    assert (data["width"], data["height"]) == (640, 120) and data["threshold"] == 0.05
    assert data["boxes"], "a random detector still scores some boxes above 0.05"
    for b in data["boxes"]:
        assert set(b) >= {"label", "score", "xyxy"} and b["score"] >= 0.05
        x0, y0, x1, y1 = b["xyxy"]
        assert 0 <= x0 <= x1 <= 640 and 0 <= y0 <= y1 <= 120


def test_detect_zero_shot_queries_and_drawing(demo_models, example_image, tmp_path):
    drawn = tmp_path / "boxes.png"
    data = _last_json(_run("detect", str(example_image), "--model", "demo-owlv2", "--queries", "cat,dog",
                           "--threshold", "0.01", "--out", str(drawn), "--json"))
    assert data["queries"] == ["cat", "dog"] and {b["label"] for b in data["boxes"]} <= {"cat", "dog"}
    assert Image.open(drawn).size == Image.open(example_image).size


def test_errors_are_one_sentence_exit_2(demo_models, example_image, tmp_path):
    bad = tmp_path / "x.jpg"
    bad.write_text("hello")
    out = _run("segment", str(bad), "--model", "demo-segformer")
    assert out.returncode == 2 and "not an image" in out.stderr and "Traceback" not in out.stderr
    out = _run("detect", str(example_image), "--model", "demo-owlvit")
    assert out.returncode == 2 and "type what to look for" in out.stderr
