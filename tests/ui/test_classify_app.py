"""The app served on 127.0.0.1 with demo models, driven through gradio_client."""

from __future__ import annotations

import pytest
from gradio_client import handle_file

from tests.ui.bad_images import assert_refused_with_sentences, bad_files


def _predict(client, path, model="demo-vit", custom="", k=5):
    return client.predict(handle_file(str(path)), model, custom, k, api_name="/classify")


def test_classify_endpoint_returns_chart_and_facts(client, example_image):
    plot, facts = _predict(client, example_image, "demo-convnext", "", 3)
    assert plot["type"] == "plotly"
    assert "latency" in facts and "ms" in facts and "convnext" in facts
    assert "Random weights" in facts


def test_custom_folder_wins_over_dropdown(client, example_image, demo_models):
    _, facts = _predict(client, example_image, "demo-vit", str(demo_models["demo-resnet"]), 2)
    assert "resnet" in facts


def test_bad_images_get_sentences_and_app_keeps_serving(client, tmp_path, example_image):
    assert_refused_with_sentences(lambda path: _predict(client, path), bad_files(tmp_path))
    plot, facts = _predict(client, example_image)  # still serving
    assert "latency" in facts


@pytest.mark.parametrize("model,words", [
    ("google/vit-base-patch16-224", "cannot be reached"),
    ("not a valid id!!", "valid Hugging Face model id"),
    ("/no/such/folder", "does not exist"),
])
def test_bad_models_get_sentences(client, example_image, model, words):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError) as info:
        _predict(client, example_image, "demo-vit", model)
    assert words in str(info.value)


def test_missing_image_is_explained(client):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="image first"):
        client.predict(None, "demo-vit", "", 5, api_name="/classify")
