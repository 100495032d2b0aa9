"""python -m tlweb compare … as a user runs it (a subprocess, offline, demo models)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import EXAMPLES, ROOT


def _run(*args, timeout=180):
    return subprocess.run([sys.executable, "-m", "tlweb", *args], capture_output=True, text=True, cwd=ROOT,
                          env=dict(os.environ), timeout=timeout)


def test_compare_json_last_line(demo_models):
    folder = str(demo_models["demo-swin"])
    images = [str(EXAMPLES / "cat.jpg"), str(EXAMPLES / "coffee.jpg")]
    models = f"demo-vit,demo-resnet,{folder},nobody/no-such-model"
    out = _run("compare", *images, "--models", models, "--top-k", "2", "--json", "--runs", "2")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    rows = data["models"]
    assert [m["model"] for m in rows] == ["demo-vit", "demo-resnet", folder, "nobody/no-such-model"]
    for m in rows[:3]:
        assert {"model", "params", "gflops", "latency_ms", "peak_memory_mb", "device", "input_size", "family", "error",
                "predictions"} <= set(m)
        assert m["error"] is None and m["params"] > 0 and m["gflops"] > 0 and m["latency_ms"] > 0
        assert m["peak_memory_mb"] > 0 and m["device"] == "cpu" and m["input_size"] == 64
        assert len(m["predictions"]) == 2  # one top-k list per image
        assert all(len(p) == 2 and set(p[0]) == {"label", "score"} for p in m["predictions"])
    assert rows[2]["family"] == "swin"
    bad = rows[3]
    assert bad["error"] and bad["predictions"] == [] and bad["params"] is None
    agreement = data["agreement"]
    assert agreement["models"] == ["demo-vit", "demo-resnet", "demo-swin"]
    m = agreement["matrix"]
    assert all(m[i][i] == 1.0 for i in range(3)) and all(m[i][j] == m[j][i] for i in range(3) for j in range(3))
    assert [p["image"] for p in agreement["per_image"]] == ["cat.jpg", "coffee.jpg"]


def test_compare_text_table(demo_models):
    out = _run("compare", str(EXAMPLES / "rocket.jpg"), "--models", "demo-convnext,demo-efficientnet", "--runs", "1")
    assert out.returncode == 0, out.stderr
    assert "demo-convnext" in out.stdout and "demo-efficientnet" in out.stdout
    assert "median of warm runs on cpu" in out.stdout


def test_compare_needs_two_models_and_all_failing_exits_2(tmp_path):
    out = _run("compare", str(EXAMPLES / "cat.jpg"), "--models", "demo-vit")
    assert out.returncode == 2 and "at least 2" in out.stderr and "Traceback" not in out.stderr
    out = _run("compare", str(EXAMPLES / "cat.jpg"), "--models", "a/b,c/d", "--json")
    assert out.returncode == 2
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert all(m["error"] for m in data["models"])
