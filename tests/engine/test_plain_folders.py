"""Every demo family as a user would have it: a folder written by plain transformers
(``save_pretrained`` of the model's own class, no tlweb metadata in config.json).

The demo builders stamp the task into config.json, which once hid that a plain OWLv2 folder
("architectures": ["Owlv2ForObjectDetection"]) was taken for a closed-set detector. Here each
family goes through resolve() → load() → its task's runner (``task.run``) without that help.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.registries import demo_keys
from tlweb import registry
from tlweb.engine import loading
from tlweb.engine.demo import registry as demo_registry
from tlweb.engine.listing import resolve


def plain_copy(demo_folder, out):
    """Load with the class named in config.json and the Auto processor, save again, drop tlweb's keys."""
    import transformers

    cfg = json.loads((demo_folder / "config.json").read_text())
    model = getattr(transformers, cfg["architectures"][0]).from_pretrained(demo_folder)
    model.save_pretrained(out)
    transformers.AutoProcessor.from_pretrained(demo_folder).save_pretrained(out)
    path = out / "config.json"
    saved = json.loads(path.read_text())
    saved.pop("tlweb", None)
    path.write_text(json.dumps(saved, indent=2))
    return out


@pytest.mark.parametrize("key", demo_keys())
def test_plain_save_pretrained_folder_works_for_its_task(settings, demo_models, make_image, tmp_path, key):
    dm = demo_registry()[key]
    folder = plain_copy(demo_models[key], tmp_path / "plain")
    assert "tlweb" not in json.loads((folder / "config.json").read_text())

    spec = resolve(str(folder), settings=settings)
    assert (spec.source, spec.task, spec.family) == ("local", dm.task, dm.family)
    loaded = loading.load(str(folder), task=spec.task, settings=settings)
    assert loaded.params > 0 and loaded.spec.task == dm.task

    task = registry.task(dm.task)
    assert task.runner() is not None, f"no engine module declares a runner for {dm.task}"
    result = task.run(make_image(size=(80, 60)), str(folder), settings=settings, **task.example)
    out = result.as_dict()
    assert out["latency_ms"] > 0 and out["family"] == dm.family
    if task.needs_text and "queries" in task.example:
        assert out.get("zero_shot") and out["queries"], out


def test_cli_detect_with_queries_takes_a_plain_owl_folder(demo_models, make_image, tmp_path):
    key = next(k for k in demo_keys(registry.ZERO_SHOT_DETECTION))
    folder = plain_copy(demo_models[key], tmp_path / "owl")
    image = make_image(size=(80, 60))
    out = subprocess.run([sys.executable, "-m", "tlweb", "detect", str(image), "--model", str(folder),
                          "--queries", "cat, dog", "--threshold", "0", "--json"],
                         capture_output=True, text=True, cwd=ROOT, env=dict(os.environ), timeout=180)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout.strip().splitlines()[-1])
    assert data["zero_shot"] is True and data["queries"] == ["cat", "dog"]
    assert data["boxes"] and {b["label"] for b in data["boxes"]} <= {"cat", "dog"}
