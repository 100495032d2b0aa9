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
