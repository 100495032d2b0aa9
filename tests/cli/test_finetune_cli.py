"""`python -m tlweb finetune`: every strategy on a local checkpoint folder and an imagefolder with
train/ and test/, JSON as the last line, progress on stderr, clear errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.engine.ft_helpers import one_thread, png_bytes, shapes_folder  # noqa: F401
from tlweb.cli import main
from tlweb.engine.train import strategy_names

pytestmark = pytest.mark.usefixtures("one_thread")

REQUIRED = ("run_dir", "strategy", "train_images", "test_images", "test_accuracy", "test_macro_f1")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-data") / "shapes"
    return shapes_folder(root, classes=("circle", "square", "triangle"), per_class=7, test_per_class=3, size=32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, demo_models):
    """A local pretrained checkpoint folder, as a user would have one (not a demo key)."""
    dest = tmp_path_factory.mktemp("ckpt") / "my-convnext"
    shutil.copytree(demo_models["demo-convnext"], dest)
    return dest


@pytest.mark.parametrize("strategy", strategy_names("image-classification"))
def test_every_strategy_prints_json(strategy, dataset, checkpoint, capsys, settings):
    code = main(["finetune", "--model", str(checkpoint), "--data", str(dataset), "--strategy", strategy,
                 "--epochs", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert all(k in result for k in REQUIRED)
    assert result["strategy"] == strategy
    if strategy == "linear":  # below 10 per class the linear probe holds nothing out: C by 4-fold CV, all 12 fit
        assert (result["train_images"], result["val_images"], result["test_images"]) == (12, 0, 9)
        assert "4-fold cross-validation" in result["selection"]
        assert "C sweep 1/15: C = 0.0001" in err
    else:  # 4 train images per class: 1 of each held out for validation (picks the epoch), 3 trained on
        assert (result["train_images"], result["val_images"], result["test_images"]) == (9, 3, 9)
        assert result["selection"] == "best validation epoch"
        assert "epoch 2" in err
    assert 0.0 <= result["test_accuracy"] <= 1.0 and 0.0 <= result["test_macro_f1"] <= 1.0
    assert os.path.isdir(os.path.join(result["run_dir"], "model"))
    assert "data: 3 classes · 12 train / 9 test images · test = test/ folder" in err
    assert "start: " in err and "done in " in err and "done: done" not in err  # one "done", not two


def test_out_dir_per_class_and_text_output(dataset, checkpoint, capsys, tmp_path, settings):
    out_dir = tmp_path / "my-run"
    code = main(["finetune", "--model", str(checkpoint), "--data", str(dataset), "--strategy", "linear",
                 "--per-class", "2", "--out", str(out_dir)])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "linear · " in out and "test accuracy" in out and str(out_dir / "model") in out
    assert (out_dir / "metrics.json").exists() and (out_dir / "events.jsonl").exists()
    assert json.loads((out_dir / "metrics.json").read_text())["train_images"] == 6
    code = main(["finetune", "--model", str(checkpoint), "--data", str(dataset), "--out", str(out_dir)])
    assert code == 2 and "not empty" in capsys.readouterr().err


def test_bad_data_is_one_sentence(tmp_path, checkpoint, capsys, settings):
    (tmp_path / "one" / "only").mkdir(parents=True)
    (tmp_path / "one" / "only" / "a.png").write_bytes(png_bytes())
    code = main(["finetune", "--model", str(checkpoint), "--data", str(tmp_path / "one")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: Only one class") and err.count("\n") == 1


def test_module_entry_point(dataset, checkpoint):
    proc = subprocess.run([sys.executable, "-m", "tlweb", "finetune", "--model", str(checkpoint), "--data",
                           str(dataset), "--strategy", "linear", "--json"],
                          capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["strategy"] == "linear" and result["test_images"] == 9
    assert "Loading weights" not in proc.stderr  # transformers' progress bars stay quiet
