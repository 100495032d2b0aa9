"""Segment and Detect tabs served on 127.0.0.1 with demo models, driven through gradio_client."""

from __future__ import annotations

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tests.registries import replace_runner
from tests.ui.bad_images import assert_refused_with_sentences, bad_files
from tlweb.registry import DETECTION, SEGMENTATION, ZERO_SHOT_DETECTION


def _value(out):
    """A gr.update dict or a plain file path → the image path (or None)."""
    if isinstance(out, dict):
        return out.get("value")
    return out


def _pixels(path):
    return np.asarray(Image.open(path).convert("RGB"))


def _segment(client, path, model="demo-segformer", custom="", model_b="", opacity=0.55):
    return client.predict(handle_file(str(path)), model, custom, model_b, opacity, api_name="/segment")


def _detect(client, path, model="demo-detr", custom="", queries="", threshold=0.5):
    return client.predict(handle_file(str(path)), model, custom, queries, threshold, api_name="/detect")


def _refuse_model_runs(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("the model ran again")

    for name in (SEGMENTATION, DETECTION, ZERO_SHOT_DETECTION):
        replace_runner(monkeypatch, name, boom)


def _shown_size(path, max_side: int, min_side: int = 960) -> tuple[int, int]:
    """The size a picture is shown at: enlarged to ``min_side`` (it fills the panel) or shrunk to ``max_side``."""
    w, h = Image.open(path).size
    s = max_side / max(w, h) if max(w, h) > max_side else (min_side / max(w, h) if max(w, h) < min_side else 1.0)
    return max(1, round(w * s)), max(1, round(h * s))


# --------------------------------------------------------------------------- segment


def test_segment_endpoint_overlay_legend_chart_facts(client, example_image):
    out_a, out_b, legend, shown, view, plot, facts = _segment(client, example_image)
    path = _value(out_a)
    assert Image.open(path).size == _shown_size(example_image, 1280)
    assert not out_b.get("visible")
    assert "%" in legend and "tl-legend" in legend
    assert shown["choices"] and set(c[0] if isinstance(c, (list, tuple)) else c for c in shown["choices"]) == set(shown["value"])
    assert view["visible"] is False  # SegFormer has no panoptic head
    assert plot["type"] == "plotly"
    assert "latency" in facts and "segformer" in facts and "Random weights" in facts


def test_two_models_side_by_side(client, example_image):
    out_a, out_b, legend, shown, view, plot, facts = _segment(client, example_image, "demo-upernet",
                                                              model_b="demo-mask2former")
    assert out_b["visible"] is True and out_b["label"] == "demo-mask2former"
    assert Image.open(_value(out_b)).size == _shown_size(example_image, 1280)
    assert "demo-upernet" in legend and "demo-mask2former" in legend
    assert view["visible"] is True  # Mask2Former gives panoptic segments
    assert "demo-upernet" in facts and "demo-mask2former" in facts


def test_rerender_uses_the_stored_result(client, example_image, monkeypatch):
    _, _, _, shown, _, _, _ = _segment(client, example_image, "demo-upernet")
    names = list(shown["value"])
    _refuse_model_runs(monkeypatch)
    from tlweb.viz.segment import downscale_pair

    full = Image.open(example_image).convert("RGB")
    photo = np.asarray(downscale_pair(full, np.zeros(full.size[::-1], np.uint8), 1280, 960)[0])
    a, _, legend = client.predict(0.0, names, "classes", api_name="/segment_render")
    assert np.array_equal(_pixels(_value(a)), photo)  # opacity 0: the photo untouched
    a, _, legend = client.predict(1.0, names, "classes", api_name="/segment_render")
    assert not np.array_equal(_pixels(_value(a)), photo)
    a, _, legend = client.predict(1.0, [], "classes", api_name="/segment_render")
    assert np.array_equal(_pixels(_value(a)), photo)  # every class hidden
    assert "hidden" in legend and "line-through" in legend


def test_panoptic_view_reports_what_it_found(client, example_image, monkeypatch):
    _segment(client, example_image, "demo-mask2former")
    _refuse_model_runs(monkeypatch)
    a, _, legend = client.predict(0.6, [], "panoptic segments", api_name="/segment_render")
    assert Image.open(_value(a)).size == _shown_size(example_image, 1280)
    assert "panoptic" in legend


def test_segment_extreme_aspect_ratio(client, tmp_path):
    path = tmp_path / "strip.png"
    Image.new("RGB", (4000, 1), (90, 160, 220)).save(path)
    out_a, *_rest, facts = _segment(client, path)
    w, h = Image.open(_value(out_a)).size
    assert (w, h) == (1280, 1)  # displayed at most 1280 px; the engine's mask is 4000×1
    assert "4000×1" in facts


# --------------------------------------------------------------------------- detect


def test_detect_endpoint_boxes_table_chart(client, example_image):
    img, table, plot, summary, facts = _detect(client, example_image, threshold=0.3)
    assert Image.open(_value(img)).size == _shown_size(example_image, 1600)
    assert table["headers"] == ["label", "count", "best score", "mean score"]
    rows = table["data"]
    assert rows and all(r[2] >= 0.3 for r in rows)
    assert f"{sum(r[1] for r in rows)} box" in summary
    assert plot["type"] == "plotly"
    assert "latency" in facts and "closed set" in facts


def test_threshold_refilters_without_running_the_model(client, example_image, monkeypatch):
    _, table, _, _, _ = _detect(client, example_image, threshold=0.5)
    n_half = sum(r[1] for r in table["data"])
    _refuse_model_runs(monkeypatch)
    _, table, _, summary = client.predict(1.0, api_name="/detect_render")
    assert table["data"] == [] or all(r[1] == 0 for r in table["data"])
    assert "No boxes" in summary
    _, table, _, _ = client.predict(0.01, api_name="/detect_render")
    assert sum(r[1] for r in table["data"]) >= n_half


def test_zero_shot_uses_the_queries(client, example_image):
    img, table, plot, summary, facts = _detect(client, example_image, "demo-owlv2", queries="cat, sofa", threshold=0.01)
    assert {r[0] for r in table["data"]} <= {"cat", "sofa"} and table["data"]
    assert "zero-shot" in facts and "cat" in facts
    with pytest.raises(AppError, match="type what to look for"):
        _detect(client, example_image, "demo-owlvit", queries="  ")


def test_model_kind_switches_queries_and_threshold(client):
    q, t = client.predict("demo-detr", "", api_name="/detect_model_kind")
    assert q["interactive"] is False and t["value"] == 0.5
    q, t = client.predict("demo-owlv2", "", api_name="/detect_model_kind")
    assert q["interactive"] is True and t["value"] == 0.1


def test_detect_extreme_aspect_ratio(client, tmp_path):
    tall = tmp_path / "tall.png"
    Image.new("RGB", (1, 4000), (200, 30, 30)).save(tall)
    img, table, *_ = _detect(client, tall, threshold=0.01)
    assert Image.open(_value(img)).size == (1, 1600)  # displayed at most 1600 px


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("call", [_segment, _detect])
def test_bad_images_get_sentences_and_app_keeps_serving(client, tmp_path, example_image, call):
    assert_refused_with_sentences(lambda path: call(client, path), bad_files(tmp_path, more=False))
    assert call(client, example_image)  # still serving


def test_missing_image_and_wrong_model_are_explained(client, example_image, demo_models):
    with pytest.raises(AppError, match="image first"):
        client.predict(None, "demo-segformer", "", "", 0.5, api_name="/segment")
    with pytest.raises(AppError, match="image first"):
        client.predict(None, "demo-detr", "", "", 0.5, api_name="/detect")
    with pytest.raises(AppError, match="segmentation model"):
        _detect(client, example_image, custom=str(demo_models["demo-segformer"]))
    with pytest.raises(AppError, match="cannot be reached"):
        _segment(client, example_image, custom="nvidia/segformer-b0-finetuned-ade-512-512")
