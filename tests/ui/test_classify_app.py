"""The app served on 127.0.0.1 with demo models, driven through gradio_client."""

from __future__ import annotations

import io

import numpy as np
import pytest
from gradio_client import handle_file
from PIL import Image


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


def _bad_files(tmp_path):
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(good, format="JPEG")
    cases = {
        "text.jpg": b"not an image at all",
        "empty.png": b"",
        "truncated.jpg": good.getvalue()[:200],
        "html.png": b"<html></html>",
        "noise.webp": bytes(np.random.default_rng(1).integers(0, 255, 2048, dtype=np.uint8)),
    }
    out = []
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        out.append(p)
    return out


def test_bad_images_get_sentences_and_app_keeps_serving(client, tmp_path, example_image):
    from gradio_client.exceptions import AppError

    for path in _bad_files(tmp_path):
        with pytest.raises(AppError) as info:
            _predict(client, path)
        msg = str(info.value)
        assert "Traceback" not in msg
        assert any(w in msg for w in ("not an image", "truncated", "empty", "corrupt")), msg
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
