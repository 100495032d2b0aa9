"""Compare figures from a comparison dict (the shape the engine and the CLI produce)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from tlweb.viz.compare import agreement_heatmap, confidence_bars, latency_vs_params


def _row(name, params, gflops, latency, preds, family="vit", error=None):
    return {
        "model": name, "name": name, "params": params, "gflops": gflops, "latency_ms": latency,
        "batch_ms": None if latency is None else latency * 2, "peak_memory_mb": 12.5, "device": "cpu", "dtype": "float32", "family": family,
        "input_size": 224, "error": error,
        "predictions": [[{"label": lab, "score": s}] for lab, s in preds] if preds else [],
    }


def _result():
    return {
        "images": ["cat.jpg", "bus.jpg"],
        "models": [
            _row("small", 3_500_000, 0.3, 4.0, [("tabby", 0.62), ("school bus", 0.9)], "mobilenet_v2"),
            _row("big", 86_000_000, 17.5, 40.0, [("tabby", 0.81), ("minibus", 0.4)]),
            _row("broken", None, None, None, None, "", error="It could not be loaded."),
            _row("mid", 25_000_000, 4.1, 12.0, [("tiger cat", 0.3), ("school bus", 0.7)], "resnet"),
        ],
        "agreement": {"models": ["small", "big", "mid"],
                      "matrix": [[1.0, 0.5, 0.5], [0.5, 1.0, 0.0], [0.5, 0.0, 1.0]],
                      "per_image": []},
    }


def test_latency_vs_params_axes_units_and_bubbles():
    fig = latency_vs_params(_result())
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names == ["small", "big", "mid"]  # the failed model has no point
    by = {t.name: t for t in fig.data}
    assert by["big"].x[0] == 86.0 and by["big"].y[0] == 40.0
    assert by["small"].x[0] == 3.5
    # Bubble area grows with GFLOPs.
    sizes = {n: by[n].marker.size for n in names}
    assert sizes["big"] > sizes["mid"] > sizes["small"]
    assert math.isclose((sizes["big"] / sizes["mid"]) ** 2, 17.5 / 4.1, rel_tol=1e-6)
    layout = fig.layout
    assert "millions" in layout.xaxis.title.text
    assert "ms" in layout.yaxis.title.text
    assert "GFLOPs" in layout.title.text and "cpu" in layout.title.text


def test_confidence_bars_one_trace_per_image_with_labels():
    fig = confidence_bars(_result())
    assert [t.name for t in fig.data] == ["cat.jpg", "bus.jpg"]
    cat = fig.data[0]
    assert cat.orientation == "h" and list(cat.y) == ["small", "big", "mid"]
    assert [round(v, 6) for v in cat.x] == [62.0, 81.0, 30.0]
    assert list(cat.text) == ["tabby", "tabby", "tiger cat"]
    assert "%" in fig.layout.xaxis.title.text and fig.layout.yaxis.title.text == "model"
    assert fig.layout.xaxis.range[1] >= 90.0


def test_agreement_heatmap_is_symmetric_percent():
    fig = agreement_heatmap(_result())
    hm = fig.data[0]
    assert list(hm.x) == list(hm.y) == ["small", "big", "mid"]
    z = [list(r) for r in hm.z]
    assert z == [[100.0, 50.0, 50.0], [50.0, 100.0, 0.0], [50.0, 0.0, 100.0]]
    assert hm.zmin == 0 and hm.zmax == 100
    assert "2 images" in fig.layout.title.text


def test_nothing_to_show_gives_a_message():
    empty = {"images": ["a.png"], "models": [_row("x", None, None, None, None, error="failed")],
             "agreement": {"models": [], "matrix": [], "per_image": []}}
    for fn in (latency_vs_params, confidence_bars, agreement_heatmap):
        fig = fn(empty)
        assert not fig.data and fig.layout.annotations and fig.layout.annotations[0].text


def test_figures_from_a_real_comparison(demo_models, settings, make_image):
    from tlweb.engine.compare import compare

    res = compare([make_image("a.png"), make_image("b.png", seed=3)], ["demo-vit", "demo-resnet", "demo-convnext"],
                  top_k=2, settings=settings, runs=1).as_dict()
    lat, conf, agree = latency_vs_params(res), confidence_bars(res), agreement_heatmap(res)
    assert len(lat.data) == 3 and all(t.x[0] > 0 and t.y[0] > 0 for t in lat.data)
    assert len(conf.data) == 2
    z = agree.data[0].z
    assert all(z[i][i] == 100.0 for i in range(3))
    for fig in (lat, conf, agree):
        fig.to_json()  # serialisable for gr.Plot


def test_bubble_labels_never_overlap_and_a_legend_names_crowded_bubbles():
    from tlweb.viz.compare import LINE_PX, PLOT_PX, _label_box, label_positions

    xs, ys, sizes = [0.1, 0.5, 0.9], [0.2, 0.8, 0.3], [20.0, 30.0, 20.0]
    names = ["resnet-50", "vit-base", "convnext-tiny"]
    pos = label_positions(xs, ys, sizes, names)
    assert pos is not None
    boxes = [_label_box(x * PLOT_PX[0], y * PLOT_PX[1], d / 2 + 2, 7.4 * len(n), p)
             for x, y, d, n, p in zip(xs, ys, sizes, names, pos)]
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3])
    assert LINE_PX > 0
    # four bubbles on top of each other: no place for every label
    assert label_positions([0.5, 0.51, 0.52, 0.5], [0.5, 0.5, 0.51, 0.52], [40.0] * 4, ["demo-vit", "demo-deit",
                                                                                         "demo-beit", "demo-swin"]) is None


def test_crowded_bubbles_are_named_in_a_legend():
    res = _result()
    res["models"] += [_row(n, 1, 1, 1, [("tabby", 0.5), ("bus", 0.5)]) for n in ("fourth", "fifth")]
    for m in res["models"]:
        if m["params"]:
            m["params"], m["latency_ms"], m["gflops"] = 25_000_000, 10.0, 4.0  # all in one place
    fig = latency_vs_params(res)
    assert fig.layout.showlegend is True
    assert all(t.mode == "markers" for t in fig.data)
    spread = latency_vs_params(_result())  # far apart: labels beside the bubbles
    assert spread.layout.showlegend is False and all(t.mode == "markers+text" for t in spread.data)


def test_figures_follow_the_page_theme():
    from tlweb.viz.common import TEXT, THEME_CSS, TRANSPARENT, message_figure

    for fig in (latency_vs_params(_result()), confidence_bars(_result()), message_figure("x " * 80)):
        assert fig.layout.paper_bgcolor == TRANSPARENT and fig.layout.plot_bgcolor == TRANSPARENT
        assert fig.layout.font.color == TEXT
    assert "rgb(51, 65, 85)" in THEME_CSS and ".dark" in THEME_CSS
    assert "<br>" in message_figure("word " * 40).layout.annotations[0].text  # long sentences wrap
