"""The demo depth model: generated scenes whose depth is known, and the tiny DPT that ships trained on them
(tlweb.engine.demo.depth) reads depth from held-out scenes far better than random weights or a picture-blind
prior."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from tests.conftest import ROOT
from tlweb.engine.demo import depth
from tlweb.engine.demo.scenes import FAR, INVERSE_SCALE, NEAR, inverse_depth, make_scene
from tlweb.engine.demo.ship import meta, record

TEST_SCENES = list(depth.TEST_SEEDS)[:32]


def test_scenes_are_reproducible_and_their_depth_is_consistent():
    a, b, c = make_scene(7), make_scene(7), make_scene(8)
    assert np.array_equal(a.image, b.image) and np.array_equal(a.depth, b.depth)
    assert not np.array_equal(a.image, c.image)
    assert a.image.shape == (64, 64, 3) and a.image.dtype == np.uint8 and a.depth.shape == (64, 64)
    for seed in range(20):
        s = make_scene(seed)
        rows = np.arange(64) + 0.5
        sky = ~np.isfinite(s.depth)
        assert sky[rows < s.horizon].all() or s.things[rows < s.horizon].any()  # above the horizon: sky or things
        assert np.isfinite(s.depth[rows > s.horizon + 1]).all()  # below it: ground or things, never sky
        assert (s.depth[np.isfinite(s.depth)] > 0).all() and not (s.things & sky).any()
        ground = ~s.things & ~sky
        for col in range(0, 64, 8):  # the ground comes nearer row by row
            z = s.depth[:, col][ground[:, col]]
            assert (np.diff(z) <= 1e-4).all()
        if s.things.any():  # things stand where they were put: NEAR - their depth .. FAR
            assert NEAR - 1.5 <= s.depth[s.things].min() and s.depth[s.things].max() <= FAR + 1.5
    inv = inverse_depth(np.array([np.inf, 10.0, 2.5], dtype=np.float32))
    assert inv.tolist() == [0.0, INVERSE_SCALE / 10, INVERSE_SCALE / 2.5]


def test_the_scene_generator_imports_without_torch_gradio_or_plotly():
    code = ("import sys; from tlweb.engine.demo.scenes import make_scene; make_scene(0, 32); "
            "print(sorted(m for m in ('torch', 'gradio', 'plotly', 'transformers') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


@pytest.fixture(scope="module")
def shipped_model():
    from transformers import AutoImageProcessor, AutoModelForDepthEstimation

    folder = record(depth.KEY).folder
    cfg = json.loads((folder / "config.json").read_text())
    assert cfg["model_type"] == "dpt" and cfg["tlweb"]["task"] == depth.TASK
    return AutoModelForDepthEstimation.from_pretrained(folder).eval(), AutoImageProcessor.from_pretrained(folder)


def test_shipped_depth_model_beats_random_weights_and_the_blind_prior(shipped_model):
    model, proc = shipped_model
    got = depth.measure(model, proc, TEST_SCENES)
    rand = depth.measure(depth.untrained(), proc, TEST_SCENES)
    prior = depth.mean_map_scores(TEST_SCENES, train_scenes=256)
    print(f"\n{depth.KEY} on {len(TEST_SCENES)} held-out scenes: trained {got}\nrandom weights {rand}\n"
          f"mean depth map of the training scenes {prior}")
    assert got["rank"] >= rand["rank"] + 0.5 and got["rank"] >= 0.9
    assert got["abs_rel"] <= rand["abs_rel"] / 5 and got["delta1"] >= rand["delta1"] + 0.5
    # it reads the picture: things are placed much better than the row prior places them
    assert got["rank"] > prior["rank"] and got["abs_rel"] < prior["abs_rel"]
    assert got["things_abs_rel"] <= prior["things_abs_rel"] / 2


def test_shipped_measures_are_what_the_model_does(shipped_model):
    """The numbers in the shipped config (and the module docstring) are re-measured here, not copied."""
    model, proc = shipped_model
    shipped_metrics = meta(depth.KEY)["metrics"]
    got = depth.measure(model, proc)
    for key in ("rank", "abs_rel", "delta1", "things_abs_rel"):
        assert got[key] == pytest.approx(shipped_metrics[key], abs=2e-3), key
    assert shipped_metrics["random_rank"] < shipped_metrics["rank"] - 0.5


def test_the_transformers_depth_pipeline_runs_the_shipped_folder():
    """What the Depth task will call: predicted depth at the picture's size, nearer = larger."""
    from PIL import Image
    from transformers import pipeline

    scene = make_scene(TEST_SCENES[0])
    pipe = pipeline("depth-estimation", model=str(record(depth.KEY).folder))
    out = pipe(Image.fromarray(scene.image).resize((96, 80)))
    pred = out["predicted_depth"]
    assert tuple(pred.shape[-2:]) == (80, 96) and out["depth"].size == (96, 80)
    small = np.asarray(Image.fromarray(pred.squeeze().numpy()).resize((64, 64)))
    ground = ~scene.things & np.isfinite(scene.depth)
    assert small[-4:][ground[-4:]].mean() > small[:8].mean()  # the bottom rows (near ground) above the top (sky)
