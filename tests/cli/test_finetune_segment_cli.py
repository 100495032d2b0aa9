"""`python -m tlweb finetune --task image-segmentation`: the JSON contract for every segmentation strategy, a
saved folder that `tlweb segment` reads with the dataset's class names, and bad data as one `error:` line
naming the file (exit 2)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.engine.ft_helpers import one_thread  # noqa: F401 - fixture
from tests.engine.seg_helpers import scenes, tiny_segmenter
from tlweb.cli import main
from tlweb.engine.train import strategy_names

pytestmark = pytest.mark.usefixtures("one_thread")

KEYS = {"task", "strategy", "base_model", "train_images", "val_images", "test_images", "test_miou",
        "test_pixel_accuracy", "per_class_iou", "run_dir", "model_dir"}
NAMES = ["background", "circle", "square", "triangle"]  # labels.txt of the generated scenes


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return scenes(tmp_path_factory.mktemp("seg-cli") / "scenes", n_train=12, n_test=4, size=40)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return tiny_segmenter("segformer", tmp_path_factory.mktemp("seg-ckpt") / "my-segformer")


def _finetune(capsys, *args):
    code = main(["finetune", "--task", "image-segmentation", *args])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("strategy", strategy_names("image-segmentation"))
def test_every_strategy_prints_the_json_contract(strategy, dataset, checkpoint, capsys, tmp_path, settings):
    code, out, err = _finetune(capsys, "--model", str(checkpoint), "--data", str(dataset), "--strategy", strategy,
                               "--epochs", "2", "--out", str(tmp_path / "run"), "--json")
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert KEYS <= set(result), set(result)
    assert (result["task"], result["strategy"], result["base_model"]) == ("image-segmentation", strategy,
                                                                          "my-segformer")
    # 12 training scenes, under the 20 from which a validation hold-out picks the epoch: all train, the last
    # epoch is kept; the test/ folder's 4
    assert (result["train_images"], result["val_images"], result["test_images"]) == (12, 0, 4)
    assert 0.0 <= result["test_miou"] <= 1.0 and 0.0 <= result["test_pixel_accuracy"] <= 1.0
    assert list(result["per_class_iou"]) == NAMES
    assert all(v is None or 0.0 <= v <= 1.0 for v in result["per_class_iou"].values())
    assert result["model_dir"] == str(tmp_path / "run" / "model")
    assert "data: 4 classes · 12 train / 4 test images with masks" in err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_miou"] == result["test_miou"] and metrics["worst"]


def test_saved_folder_segments_with_the_dataset_classes(dataset, checkpoint, capsys, tmp_path, settings):
    code, out, err = _finetune(capsys, "--model", str(checkpoint), "--data", str(dataset), "--strategy", "decoder",
                               "--epochs", "1", "--out", str(tmp_path / "run"), "--json")
    assert code == 0, err
    model_dir = json.loads(out.strip().splitlines()[-1])["model_dir"]
    picture = sorted((dataset / "test" / "images").iterdir())[0]
    assert main(["segment", str(picture), "--model", model_dir, "--json"]) == 0
    seg = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert seg["num_classes"] == len(NAMES)
    assert {c["name"] for c in seg["classes"]} <= set(NAMES)


@pytest.mark.parametrize("case", ["size", "value"])
def test_bad_masks_are_one_error_line_naming_the_file(case, dataset, checkpoint, capsys, tmp_path, settings):
    import shutil

    data = shutil.copytree(dataset, tmp_path / "data")
    bad = sorted((data / "train" / "masks").iterdir())[3]
    if case == "size":
        Image.fromarray(np.zeros((7, 9), np.uint8)).save(bad)
    else:
        Image.fromarray(np.full((40, 40), 9, np.uint8)).save(bad)
    code, out, err = _finetune(capsys, "--model", str(checkpoint), "--data", str(data), "--strategy", "full",
                               "--json")
    assert code == 2
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and f"masks/{bad.name}" in lines[0], err
    assert str(tmp_path) not in lines[0]


def test_missing_masks_warn_and_other_strategies_refuse(dataset, checkpoint, capsys, tmp_path, settings):
    import shutil

    data = shutil.copytree(dataset, tmp_path / "data")
    for m in sorted((data / "train" / "masks").iterdir())[:2]:
        m.unlink()
    code, out, err = _finetune(capsys, "--model", str(checkpoint), "--data", str(data), "--strategy", "decoder",
                               "--epochs", "1", "--json")
    assert code == 0, err
    assert "data: 2 images in train have no mask and were skipped" in err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["train_images"] + result["val_images"] == 10  # the 12 scenes less the 2 without a mask
    code, out, err = _finetune(capsys, "--model", str(checkpoint), "--data", str(data), "--strategy", "linear")
    assert code == 2 and "'linear' is a strategy for image classification" in err


def test_efficiency_curve_for_segmentation(dataset, checkpoint, capsys, settings):
    """`tlweb efficiency --task image-segmentation`: mIoU at each masks-per-class size, decoder and scratch by
    default, one experiment; a classification strategy is one sentence."""
    code = main(["efficiency", "--task", "image-segmentation", "--model", str(checkpoint), "--data", str(dataset),
                 "--shots", "1,2", "--seeds", "1", "--epochs", "1", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    rows = result["rows"]
    assert sorted({r["strategy"] for r in rows}) == ["decoder", "scratch"]
    assert sorted({r["per_class"] for r in rows}) == [1, 2]
    assert all(r["task"] == "image-segmentation" and r["metric"] == "miou" for r in rows), rows
    assert all(0.0 <= r["test_miou"] == r["test_metric"] <= 1.0 for r in rows)
    assert all(r["test_images"] == 4 for r in rows) and result["experiment"]
    code = main(["efficiency", "--task", "image-segmentation", "--model", str(checkpoint), "--data", str(dataset),
                 "--strategies", "linear"])
    out, err = capsys.readouterr()
    assert code == 2 and err.count("error:") == 1 and "linear" in err
