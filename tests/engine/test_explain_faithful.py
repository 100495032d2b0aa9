"""How faithful the maps are where the evidence is known, what the pretrained demo ViT learned to
look at, and the before/after view on runs fine-tuned here.

Known evidence (tests/engine/explain_helpers.py): the class is a circle or a cross in the LEFT half
of the picture; the right half holds clutter that says nothing about the class. A tiny ResNet and a
tiny ViT are trained on it in the test (fixed seeds), saved with save_pretrained and explained
through the app's own loading path; each map's share of its positive mass in the left half is
measured on 16 held-out pictures (0.5 = no preference).
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from tests.engine.explain_helpers import TOY_SIZE, save, tiny_resnet_model, tiny_vit_model, toy_batch, train_toy
from tests.engine.ft_helpers import one_thread  # noqa: F401 - fixture
from tlweb.engine.explain import explain

LEFT = (0, 0, TOY_SIZE / 2, TOY_SIZE)


def _left_share(folder, method, xs, random_weights=False):
    shares, peaks = [], []
    for x in xs:
        res = explain(Image.fromarray(x), str(folder), method, random_weights=random_weights)
        shares.append(res.map.mass_fraction(LEFT))
        peaks.append(res.map.peak[0] < TOY_SIZE / 2)
    return float(np.mean(shares)), float(np.mean(peaks))


@pytest.mark.slow
def test_known_evidence_cnn(settings, tmp_path, one_thread):  # noqa: F811
    model = tiny_resnet_model(seed=0)
    acc = train_toy(model, steps=150, lr=3e-3, seed=0)  # clutter: squares and triangles
    folder = save(model, tmp_path / "resnet", "resnet")
    xs, _ = toy_batch(16, 77)
    got = {m: _left_share(folder, m, xs) for m in ("gradcam", "occlusion", "features")}
    rand = {m: _left_share(folder, m, xs, random_weights=True) for m in ("gradcam", "occlusion")}
    print(f"\nCNN (held-out accuracy {acc:.2f}) — share of map mass on the left, share of peaks on the left:")
    for m, (share, peak) in got.items():
        print(f"  {m:10s} {share:.3f}  peaks {peak:.2f}" + (f"   random-init: {rand[m][0]:.3f}" if m in rand else ""))
    # measured (seeds 0 and 1): gradcam 0.66/0.65 (peaks 0.94/0.88), occlusion 0.93/0.95, features 0.67/0.64;
    # random-init twin: gradcam 0.61, occlusion 0.58
    assert acc >= 0.95
    assert got["occlusion"][0] >= 0.85 and got["occlusion"][1] >= 0.9
    assert got["occlusion"][0] >= rand["occlusion"][0] + 0.2
    assert got["gradcam"][0] >= 0.6 and got["gradcam"][1] >= 0.8
    assert got["features"][0] >= 0.58


@pytest.mark.slow
def test_known_evidence_vit(settings, tmp_path, one_thread):  # noqa: F811
    # clutter of the same two shapes: only the position tells evidence from clutter, so the ViT must
    # route information by position (a CNN with global pooling could not learn this task)
    clutter = ("circle", "cross")
    model = tiny_vit_model(layers=2, seed=0)
    acc = train_toy(model, steps=800, lr=2e-3, seed=0, clutter=clutter)
    folder = save(model, tmp_path / "vit", "vit")
    xs, _ = toy_batch(16, 77, clutter)
    got = {m: _left_share(folder, m, xs) for m in ("occlusion", "rollout", "attention", "gradcam", "features")}
    print(f"\nViT (held-out accuracy {acc:.2f}) — share of map mass on the left, share of peaks on the left:")
    for m, (share, peak) in got.items():
        print(f"  {m:10s} {share:.3f}  peaks {peak:.2f}")
    # measured (seed 0): occlusion 0.92 (peaks 1.00), rollout 0.56 (1.00), attention of the last layer 0.52 (0.56),
    # Grad-CAM on block 0's tokens 0.38 (0.12), features 0.52. Occlusion and rollout find the evidence; the last
    # layer's CLS attention is nearly uniform (the patch tokens already carry the answer), and token Grad-CAM
    # points the wrong way on this task: the numbers the closing note reports.
    assert acc >= 0.9
    assert got["occlusion"][0] >= 0.8 and got["occlusion"][1] >= 0.9
    assert got["rollout"][0] >= 0.53 and got["rollout"][1] >= 0.8


@pytest.mark.slow
def test_demo_vit_shapes_attends_to_the_shape(settings, demo_models):
    """The pretrained demo ViT's rollout and attention put more of their mass on the shape than the same
    architecture with random weights (clean shapes on a plain background: the mask is exact)."""
    from tlweb.engine.data import draw_shape
    from tlweb.engine.demo_recipes.pretrained import SOURCE_CLASSES, VIT_KEY

    rng = np.random.default_rng(123)
    pictures = []
    for i in range(18):
        bg = np.array([30, 30, 30])
        arr = draw_shape(SOURCE_CLASSES[i % 6], rng, size=48, color=rng.integers(150, 256, 3), background=bg, noise=0.0)
        pictures.append((arr, (arr != bg).any(-1)))

    def lift(method, random_weights):
        out = []
        for arr, mask in pictures:
            res = explain(Image.fromarray(arr), VIT_KEY, method, random_weights=random_weights, settings=settings)
            full = np.clip(res.map.full(), 0, None)
            out.append(full[mask].sum() / full.sum() / mask.mean())  # mass on the shape ÷ the shape's area share
        return float(np.mean(out))

    got = {m: (lift(m, False), lift(m, True)) for m in ("rollout", "attention")}
    print("\ndemo-vit-shapes: mass on the shape ÷ its area (1 = no preference), trained vs random-init:", got)
    # measured (demo build version 2): rollout 1.75 vs 0.97, attention 1.67 vs 0.97 (Grad-CAM 1.81 vs 0.92,
    # occlusion 1.59 vs 0.82); pretraining seeds 1 and 2 gave rollout 1.52 / 1.57, attention 1.89 / 1.36
    # (tlweb/engine/demo_recipes/pretrained.py). Version 1 under the cosine schedule: rollout 1.25 vs 1.00.
    assert got["rollout"][0] >= got["rollout"][1] + 0.3
    assert got["attention"][0] >= got["attention"][1] + 0.15


@pytest.mark.slow
def test_before_after_on_runs_fine_tuned_here(settings, demo_models, example_image, one_thread):  # noqa: F811
    from tlweb.engine.data import sample_data
    from tlweb.engine.explain import ExplainError, before_after, run_base_model
    from tlweb.engine.train import TrainConfig, finetune

    data = sample_data(settings)
    cnn_run = finetune(TrainConfig("demo-resnet-shapes", data, "full", epochs=2, name="explain before/after cnn"),
                       settings=settings)
    vit_run = finetune(TrainConfig("demo-vit-shapes", data, "full", epochs=2, name="explain before/after vit"),
                       settings=settings)
    from tlweb.engine.listing import resolve

    assert run_base_model(resolve(cnn_run.run_id, settings=settings), settings).key == "demo-resnet-shapes"
    ba = before_after(example_image, cnn_run.run_id, "gradcam", settings=settings)
    assert ba.base_model == "demo-resnet-shapes" and ba.run == cnn_run.run_id
    assert ba.base.spec.key == "demo-resnet-shapes" and ba.tuned.spec.source == "run"
    assert {p.label for p in ba.tuned.predictions} <= {"circle", "square", "triangle", "stripes"}
    assert {p.label for p in ba.base.predictions} <= {"cross", "checker", "ring", "diamond", "x", "half"}
    assert ba.base.map.size == ba.tuned.map.size == (384, 255)
    d = ba.as_dict()
    assert d["method"] == "gradcam" and len(d["base"]["predictions"]) >= 3 and len(d["tuned"]["predictions"]) >= 3
    assert ba.similarity is None or -1 <= ba.similarity <= 1
    print("\nbefore/after similarity (Pearson) gradcam cnn:", ba.similarity)

    vit = before_after(example_image, vit_run.run_id, "rollout", settings=settings)
    assert vit.base.spec.key == "demo-vit-shapes" and vit.tuned.method == "rollout"
    # full fine-tuning moved the weights: the rollout changes (the demo base is the model as pretrained)
    assert not np.array_equal(vit.base.map.grid, vit.tuned.map.grid)
    print("before/after similarity (Pearson) rollout vit:", vit.similarity)
    with pytest.raises(ExplainError, match="ViTs|convolutional|attention"):
        before_after(example_image, cnn_run.run_id, "rollout", settings=settings)
    with pytest.raises(ExplainError, match="not a model fine-tuned"):
        before_after(example_image, "demo-resnet-shapes", "gradcam", settings=settings)
