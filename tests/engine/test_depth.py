"""Depth estimation through its task record: a tiny random DPT written by plain save_pretrained, and the
shipped demo-dpt-scenes, whose map on a generated scene follows the scene's true depth far better than the
same architecture with random weights."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tlweb.engine.inference import task
from tlweb.errors import ImageError, ModelError
from tlweb.registry import DEPTH


@pytest.fixture(scope="module")
def tiny_dpt(tmp_path_factory):
    """A random-weight DPT (no tlweb metadata) saved as a user would have it."""
    from transformers import DPTConfig, DPTForDepthEstimation, DPTImageProcessorPil

    folder = tmp_path_factory.mktemp("tiny-dpt")
    import torch

    torch.manual_seed(0)
    cfg = DPTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=4, num_attention_heads=2,
                    intermediate_size=32, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16],
                    fusion_hidden_size=8, head_hidden_size=8)
    DPTForDepthEstimation(cfg).save_pretrained(folder)
    DPTImageProcessorPil(size={"height": 32, "width": 32}, keep_aspect_ratio=False).save_pretrained(folder)
    return folder


def test_the_record_runs_a_plain_dpt_folder_at_the_image_size(settings, tiny_dpt, make_image):
    record = task(DEPTH)
    assert record.auto_class == "AutoModelForDepthEstimation" and record.tab == "depth" and record.command == "depth"
    image = make_image(size=(97, 41))
    result = record.run(image, str(tiny_dpt), settings=settings)
    assert result.depth.shape == (41, 97) and result.depth.dtype == np.float32
    assert (result.width, result.height) == (97, 41)
    assert np.isfinite(result.depth).all() and result.depth_min <= result.depth_max
    assert result.depth_min == pytest.approx(float(result.depth.min())) and result.spec.task == DEPTH
    out = result.as_dict()
    assert out["family"] == "dpt" and out["latency_ms"] > 0 and out["params"] > 0
    assert out["kind"] == "relative inverse depth" and out["unit"] == ""
    near = result.nearness()
    assert near.min() == pytest.approx(0.0) and near.max() == pytest.approx(1.0)


def test_a_model_of_another_task_and_a_corrupt_image_are_sentences(settings, demo_models, make_image, tmp_path):
    with pytest.raises(ModelError, match="not a depth estimator"):
        task(DEPTH).run(make_image(size=(40, 30)), "demo-resnet-shapes", settings=settings)
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(ImageError):
        task(DEPTH).run(str(bad), "demo-dpt-scenes", settings=settings)


def test_metric_families_are_told_from_their_config():
    from transformers import DepthAnythingConfig, DPTConfig

    from tlweb.engine.depth import INVERSE, METRIC, output_kind

    assert output_kind(DPTConfig()).kind == INVERSE
    assert output_kind(DepthAnythingConfig(depth_estimation_type="metric")).kind == METRIC
    assert output_kind(DepthAnythingConfig()).kind == INVERSE


def test_the_shipped_demo_reads_a_generated_scene(settings, demo_models):
    """On held-out scenes rendered at 256 px (4× the training size), the shipped model's map ranks the pixels
    by their true nearness far better than the same architecture with random weights."""
    from scipy.stats import spearmanr

    from tlweb.engine.demo import depth as demo_depth
    from tlweb.engine.demo.scenes import inverse_depth, make_scene
    from tlweb.engine.depth import resample

    random_model, processor = demo_depth.untrained(), demo_depth.processor()
    trained, untrained = [], []
    for seed in list(demo_depth.TEST_SEEDS)[:6]:
        scene = make_scene(seed, 256)
        truth = inverse_depth(scene.depth).ravel()
        result = task(DEPTH).run(Image.fromarray(scene.image), "demo-dpt-scenes", settings=settings)
        assert result.depth.shape == (256, 256)
        trained.append(spearmanr(result.depth.ravel(), truth).statistic)
        import torch

        with torch.inference_mode():
            pred = random_model(**processor(images=Image.fromarray(scene.image), return_tensors="pt")).predicted_depth
        untrained.append(spearmanr(resample(pred, 256, 256).ravel(), truth).statistic)
    print(f"\nrank correlation with the true depth, 6 held-out scenes at 256 px: shipped {np.mean(trained):.3f} "
          f"(min {np.min(trained):.3f}), random weights {np.mean(untrained):.3f}")
    assert np.mean(trained) >= 0.9 and np.min(trained) >= 0.8
    assert np.mean(trained) >= np.mean(untrained) + 0.4


def test_the_example_scenes_are_the_generated_ones():
    from tlweb.assets import scene_images
    from tlweb.engine.demo.scenes import make_scene

    scenes = scene_images()
    assert len(scenes) >= 2
    for path in scenes:
        seed = int(path.stem.rsplit("-", 1)[1])
        assert np.array_equal(np.asarray(Image.open(path).convert("RGB")), make_scene(seed, 256).image), path.name


def test_resample_cuts_the_padding_before_resizing():
    import torch

    from tlweb.engine.depth import resample

    pred = torch.zeros(1, 10, 20)
    pred[:, :, 10:] = 5.0  # the right half is padding
    out = resample(pred, 30, 40, content=(0.5, 1.0))
    assert out.shape == (30, 40) and float(out.max()) == 0.0
