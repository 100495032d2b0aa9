"""`python -m tlweb finetune --task object-detection`: the JSON contract for every detection strategy,
bad data as exit 2 with one `error:` line, and the saved folder in `tlweb detect` and a plain pipeline."""

from __future__ import annotations

import json
import math

import pytest

from tests.engine.ft_helpers import one_thread  # noqa: F401
from tlweb.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")

KEYS = {"task", "strategy", "base_model", "train_images", "val_images", "test_images", "test_map", "test_map50",
        "test_map75", "per_class_ap", "run_dir", "model_dir"}


@pytest.fixture(scope="module")
def coco(tmp_path_factory):
    from tlweb.engine.data.boxscenes import write_detection_dataset

    return write_detection_dataset(tmp_path_factory.mktemp("det") / "coco", train=10, test=4, size=48, seed=3)


def _last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


@pytest.mark.parametrize("strategy", ["head", "full", "scratch"])
def test_every_strategy_prints_the_detection_json(strategy, coco, capsys, tmp_path, settings):
    code = main(["finetune", "--task", "object-detection", "--model", "demo-rtdetr-shapes", "--demo", "--data",
                 str(coco), "--strategy", strategy, "--epochs", "1", "--out", str(tmp_path / "run"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = _last_json(out)
    assert KEYS <= set(result), set(KEYS) - set(result)
    assert (result["task"], result["strategy"], result["base_model"]) == ("object-detection", strategy,
                                                                          "demo-rtdetr-shapes")
    assert result["train_images"] + result["val_images"] == 10 and result["test_images"] == 4
    for k in ("test_map", "test_map50", "test_map75"):
        assert 0.0 <= result[k] <= 1.0
    assert set(result["per_class_ap"]) == {"circle", "square", "triangle"}
    assert all(v is None or 0.0 <= v <= 1.0 for v in result["per_class_ap"].values())
    assert result["model_dir"] == str(tmp_path / "run" / "model")
    assert "data: 3 classes · 10 train / 4 test images" in err and "done in " in err
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["task"] == "object-detection" and math.isclose(metrics["test_map"], result["test_map"])


def test_saved_folder_detects_with_the_dataset_names(coco, capsys, tmp_path, settings):
    """A short fine-tune of the pretrained demo detector; its folder runs in `tlweb detect` and in a plain
    transformers pipeline, both naming the dataset's classes."""
    from PIL import Image
    from transformers import pipeline

    code = main(["finetune", "--task", "object-detection", "--model", "demo-rtdetr-shapes", "--demo", "--data",
                 str(coco), "--strategy", "head", "--epochs", "2", "--out", str(tmp_path / "run"), "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    model_dir = _last_json(out)["model_dir"]
    picture = next((coco / "test").glob("*.png"))
    assert main(["detect", str(picture), "--model", model_dir, "--threshold", "0", "--json"]) == 0
    found = _last_json(capsys.readouterr()[0])
    assert found["boxes"] and {b["label"] for b in found["boxes"]} <= {"circle", "square", "triangle"}
    plain = pipeline("object-detection", model=model_dir, threshold=0.0)(Image.open(picture))
    assert plain and {d["label"] for d in plain} <= {"circle", "square", "triangle"}


def test_bad_data_and_another_tasks_strategy_are_one_error_line(coco, tmp_path, capsys, settings):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "train").symlink_to(coco / "train")
    ann = json.loads((coco / "test" / "_annotations.coco.json").read_text())
    ann["annotations"][0]["category_id"] = 99
    (bad / "test").mkdir()
    for p in (coco / "test").glob("*.png"):
        (bad / "test" / p.name).symlink_to(p)
    (bad / "test" / "_annotations.coco.json").write_text(json.dumps(ann))
    for args, text in (
        (["--data", str(bad), "--strategy", "head"], "category id 99"),
        (["--data", str(coco), "--strategy", "decoder"], "for object detection pick head, full or scratch"),
        (["--data", str(tmp_path / "missing"), "--strategy", "head"], "does not exist"),
    ):
        code = main(["finetune", "--task", "object-detection", "--model", "demo-rtdetr-shapes", "--demo",
                     *args, "--epochs", "1", "--json"])
        out, err = capsys.readouterr()
        assert code == 2, (args, err)
        lines = [line for line in err.strip().splitlines() if line.startswith("error:")]
        assert len(lines) == 1 and text in lines[0], err
