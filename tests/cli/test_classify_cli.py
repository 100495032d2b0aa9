"""python -m tlweb classify … as a user runs it (a subprocess, offline)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from tests.conftest import ROOT


def _run(*args, timeout=120):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "tlweb", *args], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=timeout)


def test_classify_json_last_line(demo_models, example_image):
    out = _run("classify", str(example_image), "--model", str(demo_models["demo-vit"]), "--top-k", "3", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["model"] == str(demo_models["demo-vit"])
    assert len(data["predictions"]) == 3
    assert set(data["predictions"][0]) == {"label", "score"}
    assert data["predictions"][0]["score"] >= data["predictions"][1]["score"]


def test_classify_text_output(demo_models, example_image):
    out = _run("classify", str(example_image), "--model", "demo-resnet")
    assert out.returncode == 0, out.stderr
    assert "%" in out.stdout


def test_offline_hub_model_exits_nonzero_fast(example_image):
    t0 = time.perf_counter()
    out = _run("classify", str(example_image), "--model", "google/vit-base-patch16-224")
    assert time.perf_counter() - t0 < 15
    assert out.returncode != 0
    assert "not in the local cache" in out.stderr and "cannot be reached" in out.stderr
    assert "Traceback" not in out.stderr


def test_bad_image_exits_2_with_sentence(tmp_path, demo_models):
    bad = tmp_path / "x.jpg"
    bad.write_text("hello")
    out = _run("classify", str(bad), "--model", "demo-vit")
    assert out.returncode == 2 and "not an image" in out.stderr


def test_models_lists_catalog():
    out = _run("models", "--task", "image-classification", "--json")
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert any(m["model"] == "google/vit-base-patch16-224" for m in data["models"])


def test_models_has_a_status_column(demo_models):
    out = _run("models", "--task", "image-classification", "--demo")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert "status" in lines[0].split()
    row = {line.split()[0]: line for line in lines[1:]}
    assert "download ≈ 346 MB" in row["vit-base"]
    assert "demo (built)" in row["demo-vit"]  # the session's demo models are built
    data = json.loads(_run("models", "--task", "image-classification", "--demo", "--json").stdout.splitlines()[-1])
    by_key = {m["key"]: m for m in data["models"]}
    assert by_key["vit-base"]["ready"] is False and by_key["vit-base"]["size_bytes"] == int(86.6e6 * 4)
    assert by_key["demo-vit"]["ready"] is True and by_key["demo-vit"]["status"] == "demo (built)"


def test_a_missing_image_is_said_before_any_model_work(monkeypatch, capsys, tmp_path):
    """`classify missing.jpg --model resnet-50` once answered with the Hub's error after seconds; the file's
    absence is the first thing to say (compare too)."""
    from tlweb.cli import main
    from tlweb.engine import availability, loading

    def no_model_work(*args, **kwargs):
        raise AssertionError("a model was loaded before the image was checked")

    monkeypatch.setattr(loading, "load", no_model_work)
    monkeypatch.setattr(availability, "hub_reachable", no_model_work)
    missing = str(tmp_path / "missing.jpg")
    for argv in (["classify", missing, "--model", "resnet-50"],
                 ["compare", missing, "--models", "resnet-50,vit-base"],
                 ["classify", str(tmp_path), "--model", "resnet-50"]):
        t0 = time.perf_counter()
        code = main(argv)
        err = capsys.readouterr().err
        assert code == 2 and time.perf_counter() - t0 < 2, err
        assert ("missing.jpg' does not exist" in err or "is a folder, not an image" in err), err
        assert "Hub" not in err and "Traceback" not in err
