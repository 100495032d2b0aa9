"""The model card in every saved model: huggingface_hub's ModelCard parses ``model/README.md`` and its front
matter carries the run's own figures (the ``--json`` numbers) for classification, segmentation and detection;
the pictures it names are in the folder; base_model is never a path; export writes a folder a plain pipeline
loads, card included."""

from __future__ import annotations

import json
import math
import shutil

import pytest

from tests.engine.ft_helpers import one_thread, shapes_folder  # noqa: F401
from tlweb.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")


def _finetune(capsys, *args) -> dict:
    code = main(["finetune", *args, "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out.strip().splitlines()[-1])


def _card(model_dir):
    from huggingface_hub import ModelCard

    card = ModelCard.load(f"{model_dir}/README.md")
    results = {r.metric_type: r for r in card.data.eval_results or []}
    return card, results


def _pictures_exist(card, model_dir):
    import re

    from PIL import Image

    names = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", card.text)
    assert names, "the card shows no picture"
    for name in names:
        assert "/" not in name
        with Image.open(f"{model_dir}/{name}") as im:
            assert im.format == "PNG" and im.width > 100
    return names


@pytest.fixture(scope="module")
def shapes(tmp_path_factory):
    return shapes_folder(tmp_path_factory.mktemp("card-data") / "my-shapes", classes=("circle", "square"),
                         per_class=6, test_per_class=4, size=32)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, demo_models):
    """A local base folder (a path a person typed, no tlweb record in it): the card names it plainly, never by
    its path."""
    dest = tmp_path_factory.mktemp("card-ckpt") / "my-vit"
    shutil.copytree(demo_models["demo-vit"], dest)
    config = json.loads((dest / "config.json").read_text())
    config.pop("tlweb", None)
    (dest / "config.json").write_text(json.dumps(config))
    return dest


def test_linear_probe_card_parses_with_the_runs_figures(shapes, checkpoint, capsys, tmp_path, settings):
    result = _finetune(capsys, "--model", str(checkpoint), "--data", str(shapes), "--strategy", "linear",
                       "--out", str(tmp_path / "run"))
    card, results = _card(result["model_dir"])
    d = card.data
    assert (d.pipeline_tag, d.library_name) == ("image-classification", "transformers")
    assert d.base_model == "my-vit" and str(tmp_path) not in card.content and "/work" not in card.content
    assert results["accuracy"].metric_value == result["test_accuracy"]
    assert results["f1"].metric_value == result["test_macro_f1"]
    acc = results["accuracy"]
    assert (acc.task_type, acc.dataset_name, acc.dataset_type, acc.dataset_split) == (
        "image-classification", "my-shapes", "imagefolder", "test")
    assert d.model_name and "linear" in d.tags and d.datasets is None
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["test_accuracy"] == pytest.approx(result["test_accuracy"], abs=1e-6)
    # honest limits: the test-set size with its interval, the numbers behind it
    n, k = result["test_images"], round(result["test_accuracy"] * result["test_images"])
    assert n == 8 and f"{k} of {n} test images right" in card.text and "Wilson" in card.text
    train = (result["train_images"] + result["val_images"]) // 2
    assert f"| circle | {train} | 4 |" in card.text and f"| square | {train} | 4 |" in card.text  # classes, counts
    assert 'pipeline("image-classification", model=' in card.text
    names = _pictures_exist(card, result["model_dir"])
    assert {"curves.png", "confusion_matrix.png"} <= set(names)


def test_demo_base_card_warns_and_records_no_path(shapes, capsys, tmp_path, settings):
    result = _finetune(capsys, "--model", "demo-vit", "--demo", "--data", str(shapes), "--strategy", "partial",
                       "--epochs", "1", "--out", str(tmp_path / "run"))
    card, results = _card(result["model_dir"])
    assert card.data.base_model == "demo-vit" and "tlweb-demo" in card.data.tags and "partial" in card.data.tags
    assert "**Demo base.**" in card.text
    assert results["accuracy"].metric_value == result["test_accuracy"]


def test_segmentation_card(tmp_path_factory, capsys, tmp_path, settings):
    from tests.engine.seg_helpers import scenes, tiny_segmenter

    data = scenes(tmp_path_factory.mktemp("card-seg") / "scenes", n_train=8, n_test=4, size=32)
    ckpt = tiny_segmenter("segformer", tmp_path_factory.mktemp("card-seg-ckpt") / "my-segformer")
    result = _finetune(capsys, "--task", "image-segmentation", "--model", str(ckpt), "--data", str(data),
                       "--strategy", "decoder", "--epochs", "1", "--out", str(tmp_path / "run"))
    card, results = _card(result["model_dir"])
    assert (card.data.pipeline_tag, card.data.base_model) == ("image-segmentation", "my-segformer")
    assert results["mean_iou"].metric_value == result["test_miou"]
    assert results["pixel_accuracy"].metric_value == result["test_pixel_accuracy"]
    assert results["mean_iou"].dataset_name == "scenes"
    assert "per_class_iou.png" in _pictures_exist(card, result["model_dir"])
    assert 'subtask="semantic"' in card.text


def test_detection_card(tmp_path_factory, capsys, tmp_path, settings):
    from tlweb.engine.data.boxscenes import write_detection_dataset

    coco = write_detection_dataset(tmp_path_factory.mktemp("card-det") / "coco", train=8, test=4, size=48, seed=3)
    result = _finetune(capsys, "--task", "object-detection", "--model", "demo-rtdetr-shapes", "--demo", "--data",
                       str(coco), "--strategy", "head", "--epochs", "1", "--out", str(tmp_path / "run"))
    card, results = _card(result["model_dir"])
    assert (card.data.pipeline_tag, card.data.base_model) == ("object-detection", "demo-rtdetr-shapes")
    for kind, key in (("map", "test_map"), ("map_50", "test_map50"), ("map_75", "test_map75")):
        assert math.isclose(results[kind].metric_value, result[key], abs_tol=0), kind
    assert "per_class_ap.png" in _pictures_exist(card, result["model_dir"])


def test_export_loads_with_a_plain_pipeline(shapes, checkpoint, capsys, tmp_path, settings):
    from PIL import Image
    from transformers import pipeline

    result = _finetune(capsys, "--model", str(checkpoint), "--data", str(shapes), "--strategy", "linear")
    run_id = result["run_id"] if "run_id" in result else result["run_dir"].rstrip("/").rsplit("/", 1)[-1]
    out = tmp_path / "exported"
    assert main(["export", run_id, "--out", str(out), "--json"]) == 0
    answer = json.loads(capsys.readouterr()[0].strip().splitlines()[-1])
    assert {"README.md", "config.json", "model.safetensors", "curves.png"} <= set(answer["files"])
    picture = next((shapes / "test" / "circle").iterdir())
    labels = {p["label"] for p in pipeline("image-classification", model=str(out))(Image.open(picture))}
    assert labels == {"circle", "square"}
    card, results = _card(out)
    assert results["accuracy"].metric_value == result["test_accuracy"]
    assert main(["export", run_id, "--out", str(out)]) == 2  # not into a folder with files in it
    assert "error:" in capsys.readouterr()[1]
