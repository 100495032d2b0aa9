"""Leaderboard chart and table, projector figure and page (no browser)."""

from __future__ import annotations

import numpy as np

from tlweb.engine.embeddings import Projection
from tlweb.viz import embeddings as ve


def _result():
    rows = [
        {"model": "a", "name": "a", "kind": "backbone", "linear_accuracy": 0.9, "linear_macro_f1": 0.88,
         "knn_accuracy": 0.85, "knn_k": 3, "latency_ms": 20.0, "params": 86_000_000, "gflops": 17.5,
         "feature_s": 3.0, "linear_C": 0.1, "linear_how": "24 held out", "test_images": 100, "cached": True},
        {"model": "b", "name": "b", "kind": "backbone", "linear_accuracy": 0.8, "linear_macro_f1": 0.79,
         "knn_accuracy": 0.7, "knn_k": 5, "latency_ms": 2.0, "params": 5_000_000, "gflops": 0.6,
         "feature_s": 1.0, "linear_C": 1.0, "linear_how": "5-fold CV", "test_images": 100},
        {"model": "clip", "name": "clip", "kind": "zero-shot", "zero_shot_accuracy": 0.6, "latency_ms": 8.0,
         "params": 88_000_000, "gflops": 4.4, "test_images": 100},
        {"model": "bad", "name": "bad", "kind": "backbone", "error": "could not load"},
    ]
    return {"rows": rows, "best": "b", "pareto": ["b", "a"], "test_images": 100, "device": "cpu", "precision": "fp32"}


def test_chart_has_points_errors_front_and_log_axis():
    fig = ve.leaderboard_chart(_result())
    points = [t for t in fig.data if t.mode == "markers+text"]
    assert [t.name for t in points] == ["a", "b", "clip"]
    assert points[2].marker.symbol == "diamond" and points[1].marker.size > points[0].marker.size  # best ringed
    assert all(t.error_y.array[0] > 0 for t in points)
    front = [t for t in fig.data if t.name == "Pareto front"][0]
    assert list(front.x) == [2.0, 20.0, 20.0] and list(front.y) == [80.0, 80.0, 90.0]
    assert fig.layout.xaxis.type == "log" and "ms per image" in fig.layout.xaxis.title.text
    assert "%" in fig.layout.yaxis.title.text


def test_chart_without_rows_says_so():
    fig = ve.leaderboard_chart({"rows": [{"model": "x", "error": "boom"}]})
    assert "nothing to plot" in fig.layout.annotations[0].text


def test_table_rows():
    rows = ve.leaderboard_rows(_result())
    assert len(rows) == 4 and len(rows[0]) == len(ve.LEADERBOARD_COLUMNS)
    assert rows[0][1] == 90.0 and rows[0][3] == "85.0% (3)" and rows[0][6] == 86.0
    assert "best trade-off" in rows[1][-1] and rows[2][4] == 60.0 and rows[2][1] is None
    assert rows[3][-1] == "could not load" and "from cache" in rows[0][-1]


def _projection(n=30, name="m", weights="pretrained"):
    rng = np.random.default_rng(0)
    return Projection(model=name, weights=weights, method="PCA", xy=rng.normal(size=(n, 2)),
                      labels=[i % 3 for i in range(n)], splits=["train"] * n, rows=list(range(n)),
                      class_names=["x", "y", "z"], knn={"accuracy": 0.75, "k": 3, "test_images": 8},
                      silhouette=0.25, neighbours=np.zeros((n, 2), dtype=int), explained=[0.5, 0.2],
                      sprite=b"\xff\xd8jpeg", sprite_cols=6, total_images=n)


def test_projector_webgl_and_svg():
    a, b = _projection(), _projection(weights="random init")
    gl = ve.projector_figure([a, b], webgl=True)
    svg = ve.projector_figure([a, b], webgl=False)
    assert {t.type for t in gl.data} == {"scattergl"} and {t.type for t in svg.data} == {"scatter"}
    assert len(gl.data) == 6 and sum(1 for t in gl.data if t.showlegend) == 3  # legend once per class
    assert {t.meta["panel"] for t in gl.data} == {0, 1}
    meta = gl.layout.meta
    assert meta["tl_sprites"][0].startswith("data:image/jpeg;base64,") and meta["tl_cols"] == [6, 6]
    titles = [a_.text for a_ in gl.layout.annotations]
    assert any("k-NN accuracy 75.0%" in t and "silhouette 0.25" in t for t in titles)
    assert "PC1 (50% of variance)" in gl.layout.xaxis.title.text
    points = sum(len(t.x) for t in gl.data if t.meta["panel"] == 0)
    assert points == 30


def test_projector_page_is_self_contained():
    page = ve.projector_html([_projection()])
    assert page.startswith("<!doctype html>") and "tlProjector" in page and "tl_neighbours" in page
    assert "<script src=" not in page.replace('<script src="data', "")  # plotly.js inline, no network
    assert "Click a point" in page
