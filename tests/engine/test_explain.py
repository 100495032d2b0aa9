"""Explain engine: references for Grad-CAM and rollout, maps in original pixels, every demo family
supported or refused with a sentence, hooks that never leak, the random-weights sanity check."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

from tests.engine.explain_helpers import save, tiny_resnet_model, tiny_vit_model
from tlweb.engine.explain import ExplainError, all_methods, explain, explain_loaded, load_for_explain
from tlweb.engine.explain.hooks import hook_count, instrumented
from tlweb.engine.explain.maps import ExplainMap
from tlweb.engine.explain.methods import rollout

FAMILIES = ["demo-vit", "demo-deit", "demo-swin", "demo-convnext", "demo-resnet", "demo-efficientnet",
            "demo-mobilenet-v2", "demo-dinov2", "demo-beit", "demo-resnet-shapes", "demo-vit-shapes"]
NO_ATTENTION = {"demo-swin", "demo-convnext", "demo-resnet", "demo-efficientnet", "demo-mobilenet-v2",
                "demo-resnet-shapes"}


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """A tiny ResNet and a tiny ViT written with plain save_pretrained (random weights)."""
    root = tmp_path_factory.mktemp("explain-models")
    return {"resnet": save(tiny_resnet_model(), root / "resnet", "resnet"),
            "vit": save(tiny_vit_model(layers=3), root / "vit", "vit")}


def _photo(w=90, h=60, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


# --------------------------------------------------------------------------- references


def test_gradcam_cnn_matches_the_analytic_gradient(settings, folders):
    """Last ResNet stage → global average pool → linear head: ∂logit_t/∂A[c,i,j] = W[t,c]/(h·w), so the
    Grad-CAM map is ReLU(Σ_c W[t,c]/(h·w)·A_c), computed here in numpy from the captured activations."""
    import torch

    loaded = load_for_explain(str(folders["resnet"]), settings)
    img = _photo()
    res = explain_loaded(img, loaded, "gradcam", strip=True)
    model = loaded.model
    stage = model.resnet.encoder.stages[-1]
    store = {}
    handle = stage.register_forward_hook(lambda m, a, o: store.__setitem__("a", o))
    from tlweb.engine.explain.inputs import model_input

    with torch.no_grad():
        logits = model(pixel_values=model_input(img, loaded).pixel_values).logits
    handle.remove()
    acts = store["a"][0].numpy().astype(np.float64)
    weight = model.classifier[-1].weight.detach().numpy().astype(np.float64)
    t = int(logits[0].argmax())
    expected = np.maximum((weight[t][:, None, None] / (acts.shape[1] * acts.shape[2]) * acts).sum(0), 0)
    assert res.target_index == t and res.layer == len(res.layers) - 1
    np.testing.assert_allclose(res.map.grid, expected, rtol=1e-4, atol=1e-6)
    # the one-pass hand-written Grad-CAM (used for token layers and the strip) agrees with Captum's
    np.testing.assert_allclose(res.strip[-1].grid, res.map.grid, rtol=1e-4, atol=1e-6)


def test_gradcam_tokens_match_a_numpy_reference(settings, folders):
    """ViT tokens: gradients by a plain backward() with retain_grad, then drop the CLS token, reshape the
    patches row-major to the 8×8 grid and apply the formula in numpy."""

    from tlweb.engine.explain.inputs import model_input

    loaded = load_for_explain(str(folders["vit"]), settings)
    img = _photo(seed=3)
    res = explain_loaded(img, loaded, "gradcam", layer=1, target=1)
    model = loaded.model
    store = {}

    def keep(_module, _args, out):
        out.retain_grad()
        store["t"] = out

    handle = model.vit.layers[1].register_forward_hook(keep)
    x = model_input(img, loaded).pixel_values.clone().requires_grad_(True)
    model(pixel_values=x).logits[0, 1].backward()
    handle.remove()
    model.zero_grad(set_to_none=True)
    tok = store["t"][0].detach().numpy().astype(np.float64)
    grad = store["t"].grad[0].numpy().astype(np.float64)
    acts, grads = tok[1:].reshape(8, 8, -1), grad[1:].reshape(8, 8, -1)
    expected = np.maximum((grads.mean(axis=(0, 1)) * acts).sum(-1), 0)
    assert res.target == "cross" and res.layer == 1
    np.testing.assert_allclose(res.map.grid, expected, rtol=1e-4, atol=1e-7)
    assert not res.map.is_flat


def test_vit_gradcam_default_skips_the_last_block_the_head_cannot_see(settings, folders):
    res = explain(_photo(), str(folders["vit"]), "gradcam", settings=settings)
    assert res.layer == 1  # of 0-2: the CLS-only head makes block 2's patch tokens irrelevant
    assert any("CLS token" in n for n in res.notes)
    last = explain(_photo(), str(folders["vit"]), "gradcam", layer=-1, settings=settings)
    assert last.layer == 2 and last.map.is_flat and any("empty" in n for n in last.notes)


def test_rollout_hand_computed():
    """Two layers, two tokens, one head: by hand, Â = ½A + ½I (rows sum to 1), R = Â₂·Â₁."""
    a1 = np.array([[0.5, 0.5], [0.0, 1.0]])
    a2 = np.array([[0.2, 0.8], [0.6, 0.4]])
    stack = np.stack([a1[None], a2[None]])
    r = rollout(stack)
    # Â₁ = [[.75, .25], [0, 1]], Â₂ = [[.6, .4], [.3, .7]]; Â₂·Â₁ = [[.45, .55], [.225, .775]]
    np.testing.assert_allclose(r[0], [[0.75, 0.25], [0.0, 1.0]])
    np.testing.assert_allclose(r[1], [[0.45, 0.55], [0.225, 0.775]])


def test_attention_and_rollout_match_the_models_attention_weights(settings, folders):
    import torch

    from tlweb.engine.explain.inputs import model_input

    loaded = load_for_explain(str(folders["vit"]), settings)
    assert loaded.model.config._attn_implementation == "eager"
    img = _photo(seed=5)
    with torch.no_grad():
        att = loaded.model(pixel_values=model_input(img, loaded).pixel_values, output_attentions=True).attentions
    att = [a[0].double().numpy() for a in att]
    head1 = explain_loaded(img, loaded, "attention", layer=2, head=1)
    np.testing.assert_allclose(head1.map.grid, att[2][1, 0, 1:].reshape(8, 8), rtol=1e-5, atol=1e-7)
    assert head1.num_heads == 2 and head1.head == 1
    joint = np.eye(65)
    for a in att:  # Abnar & Zuidema, written out independently
        m = 0.5 * a.mean(0) + 0.5 * np.eye(65)
        joint = (m / m.sum(-1, keepdims=True)) @ joint
    roll = explain_loaded(img, loaded, "rollout", strip=True)
    np.testing.assert_allclose(roll.map.grid, joint[0, 1:].reshape(8, 8), rtol=1e-5, atol=1e-8)
    assert len(roll.strip) == 3 and roll.layer == 2


# --------------------------------------------------------------------------- maps in original pixels


def test_map_at_original_size_with_peak_in_original_pixels():
    grid = np.zeros((4, 6), dtype=np.float32)
    grid[1, 4] = 1.0
    m = ExplainMap(grid, 300, 200)
    full = m.full()
    assert full.shape == (200, 300)
    y, x = np.unravel_index(int(full.argmax()), full.shape)
    assert abs(x - m.peak[0]) <= 1 and abs(y - m.peak[1]) <= 1
    assert m.peak == (225, 75)  # the centre of cell (row 1, column 4) of a 6×4 grid over 300×200 pixels


def test_large_photo_keeps_its_size(settings, demo_models, tmp_path):
    big = tmp_path / "big.jpg"
    arr = np.full((3000, 5000, 3), 40, dtype=np.uint8)
    arr[2000:2600, 3800:4500] = 250  # a bright block in the lower right
    Image.fromarray(arr).save(big, quality=90)
    res = explain(big, "demo-resnet-shapes", "occlusion", settings=settings)
    assert (res.width, res.height) == (5000, 3000) and res.as_dict()["map_size"] == [5000, 3000]
    x, y = res.map.peak
    assert 0 <= x < 5000 and 0 <= y < 3000


# --------------------------------------------------------------------------- families and refusals


@pytest.mark.parametrize("key", FAMILIES)
def test_every_demo_family_supported_or_refused_with_a_sentence(settings, demo_models, example_image, key):
    for record in all_methods():
        method = record.key
        if record.attention and key in NO_ATTENTION:
            with pytest.raises(ExplainError) as err:
                explain(example_image, key, method, settings=settings)
            text = str(err.value)
            assert "\n" not in text and text.endswith(".") and key in text
            continue
        res = explain(example_image, key, method, strip=True, settings=settings)
        d = res.as_dict()
        assert d["map_size"] == [384, 255] and 0 <= d["peak"][0] < 384 and 0 <= d["peak"][1] < 255
        assert d["target"] == res.predictions[0].label  # the default target is the top-1 for every method
        assert 1 <= len(res.predictions) <= 5 and res.predictions[0].score >= res.predictions[-1].score
        if method == "features":
            assert res.pca.shape[2] == 3 and res.pca.dtype == np.uint8 and len(res.channels) >= 1
        if record.layers:
            assert len(res.strip) == len(res.layers) >= 1
        if res.map.is_flat:  # dead random-weight demo models (EfficientNet, MobileNet) say so
            assert any("flat" in n or "empty" in n for n in res.notes)


def test_target_by_name_index_and_a_sentence_for_unknown(settings, demo_models, example_image):
    by_name = explain(example_image, "demo-resnet-shapes", "gradcam", target="ring", settings=settings)
    by_index = explain(example_image, "demo-resnet-shapes", "gradcam", target=4, settings=settings)
    assert by_name.target == "ring" and by_name.target_index == 4  # classes sorted: checker, cross, diamond, half, ring, x
    np.testing.assert_allclose(by_name.map.grid, by_index.map.grid)
    with pytest.raises(ExplainError, match="not one of this model's classes"):
        explain(example_image, "demo-resnet-shapes", "gradcam", target="giraffe", settings=settings)
    with pytest.raises(ExplainError, match="does not exist"):
        explain(example_image, "demo-resnet-shapes", "features", layer=7, settings=settings)
    with pytest.raises(ExplainError, match="Head 5 does not exist"):
        explain(example_image, "demo-vit-shapes", "attention", head=5, settings=settings)


def test_eager_copy_is_its_own_cache_entry(settings, demo_models):
    from tlweb.engine.loading import load

    plain = load("demo-vit", settings=settings)
    eager = load_for_explain("demo-vit", settings)
    assert plain is not eager and plain.model is not eager.model
    assert eager.model.config._attn_implementation == "eager"
    assert plain.model.config._attn_implementation != "eager"
    assert load_for_explain("demo-vit", settings) is eager


# --------------------------------------------------------------------------- hooks and threads


def test_an_error_mid_explain_leaves_no_hooks(settings, demo_models, example_image, monkeypatch):
    from tlweb.engine.explain import methods

    for key, method in (("demo-resnet-shapes", "gradcam"), ("demo-vit-shapes", "rollout"),
                        ("demo-vit-shapes", "gradcam")):
        loaded = load_for_explain(key, settings)
        explain(example_image, key, method, settings=settings)  # transformers' own recorders installed
        before = hook_count(loaded.model)
        target = "gradcam_captum" if key == "demo-resnet-shapes" else ("rollout" if method == "rollout" else "gradcam_all")
        original = getattr(methods, target)

        def boom(*args, **kwargs):
            raise RuntimeError("interrupted mid-explain")

        monkeypatch.setattr(methods, target, boom)
        with pytest.raises(RuntimeError, match="interrupted"):
            explain(example_image, key, method, strip=False, settings=settings)
        monkeypatch.setattr(methods, target, original)
        assert hook_count(loaded.model) == before
        assert not loaded.model.training


def test_captum_hooks_removed_after_an_error_in_its_forward(settings, demo_models, example_image, monkeypatch):
    loaded = load_for_explain("demo-resnet-shapes", settings)
    before = hook_count(loaded.model)
    head = loaded.model.classifier
    calls = {"n": 0}
    original = head.forward

    def failing(x):  # the first forward (logits) passes, Captum's forward fails
        calls["n"] += 1
        if calls["n"] >= 2:
            raise RuntimeError("boom inside Captum")
        return original(x)

    monkeypatch.setattr(head, "forward", failing)
    with pytest.raises(RuntimeError, match="boom inside Captum"):
        explain(example_image, "demo-resnet-shapes", "gradcam", settings=settings)
    assert hook_count(loaded.model) == before


def test_two_threads_on_one_cached_model_give_the_sequential_maps(settings, demo_models, example_image):
    methods = ["gradcam", "rollout", "features", "attention", "gradcam", "occlusion"]
    seq = {m: explain(example_image, "demo-vit-shapes", m, strip=True, settings=settings) for m in set(methods)}
    results, errors = {}, []

    def work(i, method):
        try:
            results[i] = explain(example_image, "demo-vit-shapes", method, strip=True, settings=settings)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    for _ in range(2):
        threads = [threading.Thread(target=work, args=(i, m)) for i, m in enumerate(methods)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for i, m in enumerate(methods):
            np.testing.assert_array_equal(results[i].map.grid, seq[m].map.grid)
            assert [s.grid.tolist() for s in results[i].strip] == [s.grid.tolist() for s in seq[m].strip]
    assert hook_count(load_for_explain("demo-vit-shapes", settings).model) == 0


def test_a_second_request_waits_for_the_models_lock(settings, demo_models, example_image):
    loaded = load_for_explain("demo-resnet-shapes", settings)
    done = threading.Event()

    def other():
        explain(example_image, "demo-resnet-shapes", "gradcam", settings=settings)
        done.set()

    with instrumented(loaded.model):
        t = threading.Thread(target=other)
        t.start()
        assert not done.wait(1.0)  # blocked while this "request" holds the model
    t.join(60)
    assert done.is_set()


# --------------------------------------------------------------------------- sanity check


def test_random_weights_change_the_map_and_are_reproducible(settings, demo_models, example_image):
    from tlweb.engine.explain.maps import correlation

    trained = explain(example_image, "demo-vit-shapes", "rollout", settings=settings)
    rand1 = explain(example_image, "demo-vit-shapes", "rollout", random_weights=True, settings=settings)
    rand2 = explain(example_image, "demo-vit-shapes", "rollout", random_weights=True, settings=settings)
    np.testing.assert_array_equal(rand1.map.grid, rand2.map.grid)
    assert rand1.random_weights and rand1.as_dict()["random_weights"] and "Random weights" in rand1.notes[0]
    corr = correlation(trained.map, rand1.map)
    print("rollout correlation trained vs random-init:", corr)
    assert corr is None or corr < 0.9
    # the random twin is a different object; the cached trained model is untouched
    assert float(np.abs(trained.map.grid - explain(example_image, "demo-vit-shapes", "rollout",
                                                   settings=settings).map.grid).max()) == 0
