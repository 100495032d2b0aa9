"""Explain views: colour map, overlays at display size, the layer strip, channel grids, PCA, the chart."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tlweb.engine.explain.maps import ExplainMap, pca_rgb
from tlweb.viz import explain as ve


def _photo(w=120, h=80):
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def _left_map(w=120, h=80, layer=None, label=""):
    grid = np.zeros((4, 6), dtype=np.float32)
    grid[:, :2] = 1.0  # evidence on the left
    return ExplainMap(grid, w, h, label=label, layer=layer)


def test_colormap_runs_blue_to_red():
    c = ve.colormap(np.array([0.0, 0.5, 1.0]))
    assert c.dtype == np.uint8 and c.shape == (3, 3)
    assert c[0, 2] > c[0, 0] and c[2, 0] > c[2, 2]  # low is blue, high is red
    assert (ve.colormap(np.array([-3.0, 7.0])) == ve.colormap(np.array([0.0, 1.0]))).all()  # clipped


def test_overlay_keeps_the_photo_where_opacity_is_zero_and_colours_the_evidence():
    img, m = _photo(), _left_map()
    photo = np.asarray(img)
    assert np.array_equal(np.asarray(ve.overlay(img, m, 0.0)), photo)
    out = np.asarray(ve.overlay(img, m, 1.0, mark_peak=False)).astype(int)
    diff = np.abs(out - photo).sum(-1)
    assert out.shape == photo.shape
    assert diff[:, :20].mean() > diff[:, -20:].mean()  # evidence drawn stronger on the left


def test_overlay_downscales_big_photos_and_marks_the_peak():
    big = Image.new("RGB", (4000, 2000), (40, 40, 40))
    m = _left_map(4000, 2000)
    out = ve.overlay(big, m, 0.5)
    assert out.size == (1600, 800)
    x, y = m.peak
    px = np.asarray(out)[round(y * 0.4), round(x * 0.4) - 25:round(x * 0.4) + 25]
    assert (px.sum(-1) > 600).any()  # the white ring near the peak


def test_layer_strip_channel_grid_and_pca_sizes():
    img = _photo()
    maps = [_left_map(layer=i, label=f"stage {i}") for i in range(3)]
    strip = ve.layer_strip(img, maps, 0.5, thumb=60, selected=2)
    assert strip.size[0] >= 3 * 60 and strip.size[1] > 40
    framed = np.asarray(strip)[:, :, :]
    assert ((framed[..., 0] == 79) & (framed[..., 1] == 70) & (framed[..., 2] == 229)).any()  # the selected frame
    grid = ve.channel_grid(maps * 3, thumb=40, cols=4)
    assert grid.size[0] >= 4 * 40 and grid.size[1] >= 3 * 40
    pca = pca_rgb(np.random.default_rng(0).normal(size=(4, 6, 16)))
    assert pca.shape == (4, 6, 3) and pca.dtype == np.uint8
    assert ve.pca_image(pca, 120, 80, max_side=60).size == (60, 40)


def test_pca_sorts_regions_by_their_features():
    feats = np.zeros((4, 4, 8))
    feats[:, :2, 0] = 5.0  # left half one kind of feature, right half another
    feats[:, 2:, 1] = 5.0
    rgb = pca_rgb(feats + np.random.default_rng(1).normal(0, 0.01, feats.shape)).astype(int)
    assert (np.abs(rgb[:, 0] - rgb[:, 1]).sum(-1) < 30).all()  # same region → same colour
    assert (np.abs(rgb[:, 0] - rgb[:, 3]).sum(-1) > 200).all()  # different regions → different colours


def test_side_by_side_cuts_long_captions():
    a, b = _photo(), _photo()
    out = ve.side_by_side(a, b, ("before · ring · demo", "after · circle · " + "x" * 200))
    assert out.size[0] < 2 * 120 + 60


def test_facts_and_before_after_chart(settings, demo_models, example_image):
    from tlweb.engine.explain import BeforeAfter, explain

    res = explain(example_image, "demo-vit-shapes", "attention", head=1, settings=settings)
    html = ve.facts_html(res)
    assert "Attention" in html and "head 1" in html and "peak" in html and "demo-vit-shapes" in html
    assert "All 3 layers" in html and "vit.layers.2" in html and "65×32" in html
    ba = BeforeAfter(run="my-run", base_model="demo-vit-shapes", base=res, tuned=res, similarity=1.0)
    fig = ve.before_after_figure(ba)
    assert len(fig.data) == 2 and all(len(t.y) == 3 for t in fig.data)
    assert fig.layout.xaxis.title.text == "probability (%)" and fig.layout.yaxis.title.text == "class"
