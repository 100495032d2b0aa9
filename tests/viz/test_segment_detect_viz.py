"""Overlays, legends, box drawing and charts for the Segment and Detect tabs."""

from __future__ import annotations

import numpy as np
from PIL import Image

from tlweb.engine.detect import Box
from tlweb.viz import detect as vd
from tlweb.viz import segment as vs


def _photo(w=60, h=40):
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))


def _labels(w=60, h=40):
    lm = np.zeros((h, w), dtype=np.uint8)
    lm[:, w // 2:] = 3
    lm[: h // 4, :] = 7
    return lm


COLORS = {0: (255, 0, 0), 3: (0, 255, 0), 7: (0, 0, 255)}


def test_overlay_opacity_and_hidden_classes():
    img, lm = _photo(), _labels()
    base = np.asarray(img, dtype=np.int16)
    assert np.array_equal(np.asarray(vs.overlay(img, lm, COLORS, 0.0, outlines=False)), base)
    full = np.asarray(vs.overlay(img, lm, COLORS, 1.0, outlines=False))
    assert (full[lm == 0] == [255, 0, 0]).all() and (full[lm == 3] == [0, 255, 0]).all()
    half = np.asarray(vs.overlay(img, lm, COLORS, 0.5, outlines=False), dtype=np.int16)
    assert np.abs(half[lm == 7] - (base[lm == 7] * 0.5 + np.array([0, 0, 255]) * 0.5)).max() <= 1
    hidden = np.asarray(vs.overlay(img, lm, COLORS, 1.0, visible={0, 7}, outlines=False))
    assert np.array_equal(hidden[lm == 3], base[lm == 3].astype(np.uint8))  # class 3 shows the photo
    assert (hidden[lm == 0] == [255, 0, 0]).all()


def test_overlay_outlines_between_classes():
    img, lm = _photo(), _labels()
    out = np.asarray(vs.overlay(img, lm, COLORS, 1.0, outlines=True))
    assert out[20, 29].min() > 180 and out[20, 30].min() > 180  # whitened border between 0 and 3
    assert (out[35, 5] == [255, 0, 0]).all()  # inside a region: pure colour


def test_overlay_downscales_huge_masks_for_display():
    lm = np.zeros((1000, 4000), dtype=np.uint8)
    lm[:, 2000:] = 3
    out = vs.overlay(Image.new("RGB", (4000, 1000)), lm, COLORS, 1.0, outlines=False, max_side=800)
    assert out.size == (800, 200)
    arr = np.asarray(out)
    assert (arr[:, :399] == [255, 0, 0]).all() and (arr[:, 401:] == [0, 255, 0]).all()


def test_colorize_and_color_list():
    cols = vs.color_list(200)
    assert len(set(cols)) == 200 and all(0 <= v <= 255 for c in cols for v in c)
    arr = np.asarray(vs.colorize(_labels(), COLORS))
    assert (arr[_labels() == 7] == [0, 0, 255]).all()
    assert vs.assign_colors(["sky", "road", "sky"]) == {"sky": cols[0], "road": cols[1]}


def test_legend_lists_names_shares_and_hidden_state():
    html = vs.legend_html([("sky", (1, 2, 3), 0.4215, True), ("road <b>", (4, 5, 6), 0.1, False)], title="A")
    assert "sky" in html and "42.1%" in html and "#010203" in html
    assert "road &lt;b&gt;" in html and "line-through" in html and "10.0%" in html
    assert "No classes" in vs.legend_html([])


def test_share_bar_one_and_two_models():
    fig = vs.share_bar([("m", [("sky", 0.6), ("road", 0.4)])], {"sky": (1, 2, 3), "road": (4, 5, 6)})
    bar = fig.data[0]
    assert list(bar.y) == ["road", "sky"] and list(bar.x) == [40.0, 60.0]
    assert "%" in fig.layout.xaxis.title.text
    fig2 = vs.share_bar([("a", [("sky", 0.6)]), ("b", [("sky", 0.2), ("car", 0.8)])])
    assert len(fig2.data) == 2 and fig2.layout.barmode == "group"
    assert dict(zip(fig2.data[0].y, fig2.data[0].x))["car"] == 0.0


BOXES = [Box("cat", 0.9, (10, 10, 50, 40), 5), Box("dog", 0.4, (60, 20, 90, 70), 6), Box("cat", 0.2, (0, 0, 5, 5), 5)]


def test_draw_boxes_draws_outline_and_label_tag():
    img = Image.new("RGB", (120, 90), (0, 0, 0))
    colors = vd.box_colors(BOXES)
    assert colors["cat"] != colors["dog"]
    out = np.asarray(vd.draw_boxes(img, [Box("cat", 0.9, (10, 40, 50, 80), 5)], colors))
    assert tuple(out[60, 10]) == colors["cat"]  # left edge of the box
    assert tuple(out[60, 100]) == (0, 0, 0)  # untouched
    tag = out[20:40, 10:50]
    near = lambda a, c: (np.abs(a.astype(int) - c).max(axis=-1) < 24)  # noqa: E731 - the tag is 92% opaque
    assert near(tag, colors["cat"]).mean() > 0.3  # a filled tag above the box …
    assert (tag.max(axis=-1) > 200).any() or (tag.min(axis=-1) < 40).any()  # … with text on it
    top = np.asarray(vd.draw_boxes(img, BOXES[:1], colors))  # box at the top edge: tag inside
    assert near(top[11:25, 12:40], colors["cat"]).mean() > 0.3


def test_draw_boxes_scales_to_display_size():
    img = Image.new("RGB", (8000, 2000), (0, 0, 0))
    out = vd.draw_boxes(img, [Box("car", 0.8, (4000, 1000, 6000, 1800), 2)], max_side=1600)
    assert out.size == (1600, 400)
    arr = np.asarray(out)
    assert arr[200:360, 800].any() and not arr[380:, :700].any()


def test_box_colors_stay_put_when_boxes_are_filtered():
    assert vd.box_colors(BOXES)["dog"] == vd.box_colors(BOXES[1:2])["dog"]


def test_count_rows_and_counts_figure():
    from tlweb.engine.detect import count_by_label

    rows = vd.count_rows(count_by_label([b for b in BOXES if b.score >= 0.3]))
    assert rows == [["cat", 1, 0.9, 0.9], ["dog", 1, 0.4, 0.4]]
    fig = vd.counts_figure(BOXES, 0.3)
    bars = fig.data[0]
    assert dict(zip(bars.y, bars.x)) == {"cat": 1, "dog": 1}
    kept = [t for t in fig.data if t.name == "kept"][0]
    dropped = [t for t in fig.data if t.name == "below threshold"][0]
    assert sorted(kept.x) == [0.4, 0.9] and list(dropped.x) == [0.2]
    assert fig.layout.xaxis.title.text and fig.layout.xaxis2.title.text
    empty = vd.counts_figure([], 0.5)
    assert "No boxes" in empty.layout.annotations[0].text


def test_summary_html():
    assert "2 boxes" in vd.summary_html(BOXES, 0.3) and "1 × cat" in vd.summary_html(BOXES, 0.3)
    assert "lower the threshold" in vd.summary_html(BOXES, 0.95)


def test_tag_layout_never_overlaps_and_gives_up_rather_than_cover():
    boxes = [(10, 30, 60, 80), (12, 32, 62, 82), (14, 34, 64, 84), (200, 100, 260, 160)]
    tags = vd.tag_layout(boxes, [(50, 16)] * 4, 300, 200)
    placed = [t for t in tags if t is not None]
    for i, a in enumerate(placed):
        assert 0 <= a[0] and a[2] <= 300 and 0 <= a[1] and a[3] <= 200
        for b in placed[i + 1:]:
            assert not vd._rects_overlap(a, b)
    assert tags[0] == (10, 14, 60, 30)  # the best box's tag above its top-left corner
    crowded = vd.tag_layout([(0, 0, 20, 20)] * 12, [(18, 10)] * 12, 40, 40)
    assert None in crowded  # no room for twelve tags: some boxes keep only their colour


def test_draw_boxes_counts_labels_left_off_and_enlarges_small_pictures():
    img = Image.new("RGB", (100, 60), (0, 0, 0))
    many = [Box("cat", 0.9 - i / 100, (10 + i, 10 + i, 40 + i, 40 + i), 5) for i in range(40)]
    out = vd.draw_boxes(img, many, min_side=400)
    assert out.size == (400, 240)
    assert out.info["hidden_labels"] > 0
    assert vd.draw_boxes(img, many[:1], min_side=400).info["hidden_labels"] == 0
