"""Compare engine: tiny demo models of several families, real measurements, agreement, eviction."""

from __future__ import annotations

import pytest

from tlweb.engine import compare as cmp
from tlweb.errors import ImageError, ModelError

FOUR = ["demo-vit", "demo-resnet", "demo-swin", "demo-convnext"]


@pytest.fixture
def two_images(make_image):
    return [make_image("a.png", size=(80, 60), seed=1), make_image("b.jpg", size=(50, 90), seed=2)]


@pytest.fixture(scope="module")
def result(demo_models, settings, tmp_path_factory):
    from PIL import Image

    folder = tmp_path_factory.mktemp("cmp")
    paths = []
    for i, color in enumerate(["red", "navy", "olive"]):
        p = folder / f"img{i}.png"
        Image.new("RGB", (70 + 10 * i, 64), color).save(p)
        paths.append(p)
    return cmp.compare(paths, FOUR + ["demo-efficientnet"], top_k=3, settings=settings, runs=2)


def test_every_model_reports_predictions_and_costs(result):
    assert [r.model for r in result.rows] == FOUR + ["demo-efficientnet"]
    assert result.images == ["img0.png", "img1.png", "img2.png"]
    families = {r.family for r in result.rows}
    assert families == {"vit", "resnet", "swin", "convnext", "efficientnet"}
    for row in result.rows:
        assert row.ok, row.error
        assert row.params > 1000 and row.params == sum(p.numel() for p in _model(row).parameters())
        assert row.gflops > 0
        assert row.latency_ms > 0 and row.batch_ms >= row.latency_ms
        assert row.batch_size == 3 and 1 <= row.runs <= 2 and (row.warm or row.runs == 1)
        assert row.peak_memory_mb > 0 and row.memory_method
        assert row.device == "cpu" and row.input_size == 64
        assert len(row.predictions) == 3
        for preds in row.predictions:
            assert len(preds) == 3
            scores = [p.score for p in preds]
            assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1.0 + 1e-6


def _model(row):
    from tlweb.engine.loading import load

    return load(row.spec).model


def test_peak_memory_covers_weights_and_input(result):
    for row in result.rows:
        weights_mb = sum(p.numel() * p.element_size() for p in _model(row).parameters()) / 2**20
        input_mb = 3 * 64 * 64 * 4 / 2**20
        assert row.peak_memory_mb > weights_mb + input_mb  # activations on top


def test_predictions_match_a_plain_forward_pass(result, settings):
    """Batched top-k equals what the model gives each image alone."""
    import torch

    from tlweb.engine.classify import classify

    row = result.rows[1]
    from PIL import Image

    for i, color in enumerate(["red", "navy", "olive"]):
        alone = classify(Image.new("RGB", (70 + 10 * i, 64), color), row.model, 3, settings)
        assert [p.label for p in alone.predictions] == [p.label for p in row.predictions[i]]
        assert torch.allclose(torch.tensor([p.score for p in alone.predictions]),
                              torch.tensor([p.score for p in row.predictions[i]]), atol=1e-5)


def test_gflops_match_a_hand_count_for_tiny_vit(demo_models, settings):
    """demo-vit: 64 px, patch 8, hidden 32, 2 layers, MLP 64, 10 labels (2 FLOPs per multiply-add)."""
    import torch

    from tlweb.engine.loading import load

    cfg = load("demo-vit", settings=settings).model.config
    h, L, inter, p, s = cfg.hidden_size, cfg.num_hidden_layers, cfg.intermediate_size, cfg.patch_size, cfg.image_size
    n = (s // p) ** 2
    t = n + 1  # + CLS token
    patch_embed = 2 * n * h * (3 * p * p)
    per_layer = 2 * t * h * h * 4 + 2 * t * h * inter * 2 + 2 * (2 * t * t * h)  # q,k,v,o + MLP + attention
    head = 2 * h * cfg.num_labels
    expected = patch_embed + L * per_layer + head

    model = load("demo-vit", settings=settings).model
    assert cmp.count_flops(model, torch.zeros(1, 3, s, s)) == expected
    assert cmp.count_flops(model, torch.zeros(3, 3, s, s)) == 3 * expected

    res = cmp.compare([Image_(s)], ["demo-vit", "demo-deit"], settings=settings, runs=1)
    assert res.rows[0].gflops == pytest.approx(expected / 1e9, rel=1e-9)


def Image_(size):  # noqa: N802 - a tiny helper image
    from PIL import Image

    return Image.new("RGB", (size, size), "white")


def test_gflops_of_a_conv_net_match_its_convolutions(demo_models, settings):
    """FLOPs counted for demo-resnet equal the sum over its conv and linear layers, worked out from
    each layer's output shape (hooks), so the counter sees every conv."""
    import torch

    from tlweb.engine.loading import load

    model = load("demo-resnet", settings=settings).model
    total = 0

    def conv_hook(mod, inp, out):
        nonlocal total
        k = mod.weight.shape[1] * mod.weight.shape[2] * mod.weight.shape[3]
        total += 2 * out.numel() * k

    def lin_hook(mod, inp, out):
        nonlocal total
        total += 2 * out.numel() * mod.in_features

    hooks = [m.register_forward_hook(conv_hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    hooks += [m.register_forward_hook(lin_hook) for m in model.modules() if isinstance(m, torch.nn.Linear)]
    x = torch.rand(1, 3, 64, 64)
    with torch.inference_mode():
        model(pixel_values=x)
    for h in hooks:
        h.remove()
    assert total > 0 and cmp.count_flops(model, x) == total


def test_each_image_is_decoded_once(monkeypatch, two_images, demo_models, settings):
    calls = []
    real = cmp.load_image

    def counting(src, *a, **kw):
        calls.append(src)
        return real(src, *a, **kw)

    monkeypatch.setattr(cmp, "load_image", counting)
    res = cmp.compare(two_images, ["demo-vit", "demo-resnet", "demo-swin"], settings=settings, runs=1)
    assert len(calls) == 2
    assert all(r.ok for r in res.rows)


def test_bad_model_reported_in_its_row_others_compare(two_images, demo_models, settings, tmp_path):
    not_a_model = tmp_path / "empty-folder"
    not_a_model.mkdir()
    res = cmp.compare(two_images, ["demo-vit", "nobody/no-such-model", str(not_a_model), "demo-resnet"],
                      top_k=2, settings=settings, runs=1)
    rows = {r.model: r for r in res.rows}
    assert rows["demo-vit"].ok and rows["demo-resnet"].ok
    bad = rows["nobody/no-such-model"]
    assert not bad.ok and "nobody/no-such-model" in bad.error and bad.predictions == []
    assert "Traceback" not in bad.error and bad.error.count("\n") == 0
    assert not rows[str(not_a_model)].ok and "config.json" in rows[str(not_a_model)].error
    # Agreement covers the models that ran.
    assert res.agreement.models == ["demo-vit", "demo-resnet"]
    d = res.as_dict()
    assert [m["model"] for m in d["models"]] == ["demo-vit", "nobody/no-such-model", str(not_a_model), "demo-resnet"]
    assert d["models"][1]["error"] and d["models"][1]["gflops"] is None


def test_non_classifier_reported_in_its_row(two_images, demo_models, settings, tmp_path):
    """A backbone without a classification head gets a sentence, not a crash."""
    from transformers import ViTConfig, ViTImageProcessorPil, ViTModel

    folder = tmp_path / "bare-vit"
    ViTModel(ViTConfig(image_size=32, patch_size=8, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                       intermediate_size=32)).save_pretrained(folder)
    ViTImageProcessorPil(size={"height": 32, "width": 32}).save_pretrained(folder)
    res = cmp.compare(two_images, [str(folder), "demo-vit"], settings=settings, runs=1)
    assert not res.rows[0].ok and res.rows[0].error
    assert res.rows[1].ok


def test_eviction_under_a_tiny_budget(two_images, demo_models, settings):
    from tlweb.engine.loading import get_cache, reset_cache

    reset_cache(budget_mb=1)  # demo-mobilenet-v2 alone is ~1 MB
    try:
        res = cmp.compare(two_images, ["demo-vit", "demo-resnet", "demo-mobilenet-v2", "demo-convnext"],
                          settings=settings, runs=1)
        assert all(r.ok for r in res.rows)
        rows = {r.model: r for r in res.rows}
        assert set(rows["demo-mobilenet-v2"].evicted) == {"demo-vit", "demo-resnet"}
        assert rows["demo-convnext"].evicted == ["demo-mobilenet-v2"]
        assert res.evicted == ["demo-vit", "demo-resnet", "demo-mobilenet-v2"]
        assert res.as_dict()["evicted"] == res.evicted
        assert len(get_cache()) == 1
    finally:
        reset_cache()


def test_agreement_matrix_symmetric_with_unit_diagonal(result):
    m = result.agreement.matrix
    n = len(m)
    assert n == len(result.ok_rows) == 5
    for i in range(n):
        assert m[i][i] == 1.0
        for j in range(n):
            assert m[i][j] == m[j][i]
            assert 0.0 <= m[i][j] <= 1.0
    # Each entry is the share of images with the same top-1.
    tops = [r.top1() for r in result.ok_rows]
    for i in range(n):
        for j in range(n):
            same = sum(a == b for a, b in zip(tops[i], tops[j]))
            assert m[i][j] == pytest.approx(same / 3)


def test_agreement_by_hand():
    a = cmp.agreement(["A", "B", "C"],
                      [["cat", "dog", "car"], ["Cat", "dog", "bus"], ["fox", None, "bus"]],
                      ["1.png", "2.png", "3.png"])
    assert a.matrix == [[1.0, 2 / 3, 0.0], [2 / 3, 1.0, 0.5], [0.0, 0.5, 1.0]]
    first, second, third = a.per_image
    assert first["groups"][0] == {"label": "cat", "models": ["A", "B"]} and not first["all_agree"]
    assert second["all_agree"] and second["top1"] == {"A": "dog", "B": "dog"}
    assert third["groups"][0]["models"] == ["B", "C"]
    none = cmp.agreement(["A", "B"], [[None], ["cat"]], ["x"])
    assert none.matrix[0][1] is None and none.matrix[1][1] == 1.0


def test_inputs_are_checked(two_images, settings):
    with pytest.raises(ModelError, match="at least 2"):
        cmp.compare(two_images, ["demo-vit"], settings=settings)
    with pytest.raises(ModelError, match="at most 6"):
        cmp.compare(two_images, [f"demo-{x}" for x in "abcdefg"], settings=settings)
    with pytest.raises(ImageError, match="No images"):
        cmp.compare([], ["demo-vit", "demo-resnet"], settings=settings)
    with pytest.raises(ImageError, match="limit"):
        cmp.compare(two_images * 40, ["demo-vit", "demo-resnet"], settings=settings.replace(max_images=4))
    assert cmp.parse_models(["demo-vit", "demo-vit, demo-swin ,", None, ""]) == ["demo-vit", "demo-swin"]


def test_bad_image_fails_with_a_sentence(tmp_path, settings):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    with pytest.raises(ImageError) as info:
        cmp.compare([bad], ["demo-vit", "demo-resnet"], settings=settings)
    assert "bad.png" in str(info.value)


def test_progress_is_streamed(two_images, demo_models, settings):
    steps = list(cmp.iter_compare(two_images, ["demo-vit", "demo-resnet"], settings=settings, runs=1))
    assert [s.done for s in steps] == [0, 1, 2, 2]
    assert steps[-1].finished and not any(s.finished for s in steps[:-1])
    assert "loading demo-resnet" in steps[1].message
    assert len(steps[1].result.rows) == 1


def test_presets_pick_matching_families(settings):
    demo = cmp.preset_models("cnn-vs-vit", settings)
    fams = {k: k.removeprefix("demo-") for k in demo}
    assert all(k.startswith("demo-") for k in demo) and len(demo) == 6
    assert {"demo-resnet", "demo-convnext", "demo-vit"} <= set(fams)
    hub = settings.replace(demo=False)
    cnn_vit = cmp.preset_models("cnn-vs-vit", hub)
    from tlweb.engine.listing import resolve

    specs = [resolve(k, settings=hub) for k in cnn_vit]
    assert sum(s.family in cmp.CNN_FAMILIES for s in specs) == 3
    assert sum(s.family in cmp.VIT_FAMILIES for s in specs) == 3
    small = [resolve(k, settings=hub) for k in cmp.preset_models("small-fast", hub)]
    large = [resolve(k, settings=hub) for k in cmp.preset_models("large-accurate", hub)]
    assert max(s.params_m for s in small) < min(s.params_m for s in large)
    assert len(cmp.preset_models("small-fast", settings)) == len(small)
    with pytest.raises(ModelError):
        cmp.preset_models("fastest", settings)


def test_identical_processors_share_pixels_and_answers_stay_exact(result, settings):
    """demo-resnet and demo-convnext use the same processor settings: the second reuses the pixels,
    and its top-k still equals classifying each image on its own."""
    from PIL import Image

    from tlweb.engine.classify import classify

    rows = {r.model: r for r in result.rows}
    assert rows["demo-resnet"].preprocess_shared_with is None
    assert rows["demo-convnext"].preprocess_shared_with == "demo-resnet"
    assert rows["demo-swin"].preprocess_shared_with == "demo-vit"  # same ViT processor at 64 px
    assert rows["demo-efficientnet"].preprocess_shared_with is None
    for i, color in enumerate(["red", "navy", "olive"]):
        alone = classify(Image.new("RGB", (70 + 10 * i, 64), color), "demo-convnext", 3, settings)
        assert [p.label for p in alone.predictions] == [p.label for p in rows["demo-convnext"].predictions[i]]


def test_flops_and_memory_measured_once_per_loaded_model(monkeypatch, two_images, demo_models, settings):
    from tlweb.engine.loading import reset_cache

    reset_cache()  # fresh model objects
    calls = []
    real = cmp._measure_uncached

    def counting(model, *a, **kw):
        calls.append(type(model).__name__)
        return real(model, *a, **kw)

    monkeypatch.setattr(cmp, "_measure_uncached", counting)
    first = cmp.compare(two_images, ["demo-vit", "demo-resnet"], settings=settings, runs=1)
    second = cmp.compare(two_images[:1], ["demo-vit", "demo-resnet"], settings=settings, runs=1)
    assert len(calls) == 2  # the second comparison reuses both measurements
    for a, b in zip(first.rows, second.rows):
        assert a.gflops == b.gflops and a.peak_memory_mb == b.peak_memory_mb


def test_timing_budget_and_runs(two_images, demo_models, settings):
    """Generous budget: exactly ``runs`` timed passes after the first (dropped) one. No budget:
    the first batch pass is the only timing and the row says it is not a warm median."""
    roomy = cmp.compare(two_images, ["demo-vit", "demo-resnet"], settings=settings, runs=3, time_budget_s=60)
    assert all(r.runs == 3 and r.warm for r in roomy.rows)
    tight = cmp.compare(two_images, ["demo-vit", "demo-resnet"], settings=settings, runs=3, time_budget_s=0)
    assert all(r.runs == 1 and not r.warm and r.latency_ms > 0 for r in tight.rows)
    assert tight.as_dict()["models"][0]["latency_warm"] is False
