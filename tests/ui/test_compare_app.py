"""The Compare tab served with demo models, driven through gradio_client."""

from __future__ import annotations

import pytest
from gradio_client import handle_file


def _compare(client, paths, models, custom="", k=3):
    return client.predict([handle_file(str(p)) for p in paths], models, custom, k, api_name="/compare")


def _table(table):
    headers = table["headers"]
    return [dict(zip(headers, row)) for row in table["data"]]


def test_compare_four_models_on_two_images(client, make_image):
    images = [make_image("red.png", seed=1), make_image("blue.png", seed=2)]
    models = ["demo-vit", "demo-resnet", "demo-swin", "demo-convnext"]
    status, table, lat, conf, agree, agree_md = _compare(client, images, models)
    assert "Compared 4 of 4 models on 2 image(s)" in status
    rows = _table(table)
    assert [r["model"] for r in rows] == models
    for r in rows:
        assert r["error"] in ("", None)
        assert float(r["GFLOPs / image"]) > 0 and float(r["latency ms / image"]) > 0
        assert float(r["params (M)"]) > 0 and float(r["peak MB"]) > 0
        assert "red.png" in r["top-1 per image"] and "blue.png" in r["top-1 per image"]
    for plot in (lat, conf, agree):
        assert plot["type"] == "plotly"
    assert "Who agrees" in agree_md
    assert "random weights" in status


def test_custom_ids_add_models_and_a_bad_one_keeps_its_row(client, make_image, demo_models):
    images = [make_image("x.png")]
    custom = f"{demo_models['demo-beit']}, nobody/not-a-model"
    status, table, *_ = _compare(client, images, ["demo-vit"], custom, 2)
    rows = _table(table)
    assert [r["model"] for r in rows] == ["demo-vit", "demo-beit", "nobody/not-a-model"]
    assert rows[2]["error"] and "nobody/not-a-model" in rows[2]["error"]
    assert rows[0]["error"] in ("", None) and rows[1]["error"] in ("", None)
    assert "Compared 2 of 3" in status and "could not run" in status


def test_errors_are_sentences(client, make_image):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="at least 2 models"):
        _compare(client, [make_image("one.png")], ["demo-vit"])
    with pytest.raises(AppError, match="Upload one or more images"):
        client.predict([], ["demo-vit", "demo-resnet"], "", 3, api_name="/compare")


def test_presets_fill_the_picker(client):
    value = client.predict(api_name="/compare_preset_cnn_vs_vit")
    assert {"demo-resnet", "demo-vit"} <= set(value)
    small = client.predict(api_name="/compare_preset_small_fast")
    large = client.predict(api_name="/compare_preset_large_accurate")
    assert small and large and set(small) != set(large)
    assert all(v.startswith("demo-") for v in small + large)


def test_example_images_button(client):
    files = client.predict(api_name="/compare_examples")
    assert len(files) >= 2
