"""Explain tab served on 127.0.0.1 with demo models, driven through gradio_client."""

from __future__ import annotations

import gradio as gr
import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

import tlweb.ui.tabs.explain as explain_tab


def _value(out):
    return out.get("value") if isinstance(out, dict) else out


def _explain(client, path, model="demo-vit-shapes", method="gradcam", layer=0, auto=True, head="mean of the heads",
             target="top-1", random_weights=False, opacity=0.55):
    return client.predict(handle_file(str(path)), model, "", method, layer, auto, head, target, random_weights, opacity,
                          api_name="/explain")


@pytest.mark.parametrize("model,method", [("demo-vit-shapes", "rollout"), ("demo-vit-shapes", "attention"),
                                          ("demo-resnet-shapes", "gradcam"), ("demo-resnet-shapes", "features"),
                                          ("demo-vit-shapes", "occlusion")])
def test_explain_endpoint_gives_maps_and_facts(client, example_image, model, method):
    overlay, strip, channels, pca, top5, facts, layer, head, target = _explain(client, example_image, model, method)
    assert Image.open(_value(overlay)).size == Image.open(example_image).size
    assert top5["type"] == "plotly"
    assert "peak" in facts and model in facts and "ms" in facts
    choices = [c[0] if isinstance(c, (list, tuple)) else c for c in target["choices"]]
    assert choices[0] == "top-1" and len(choices) == 6
    if method == "occlusion":
        assert _value(strip) is None
    else:
        assert Image.open(_value(strip)).size[0] > 100
        assert layer["maximum"] >= 1
    if method == "features":
        assert channels["visible"] and pca["visible"]
    else:
        assert channels["visible"] is False
    if model == "demo-vit-shapes" and method != "occlusion":
        assert [c[0] if isinstance(c, (list, tuple)) else c for c in head["choices"]][-1] == "head 1"


def test_attention_on_a_cnn_is_refused_with_a_sentence(client, example_image):
    with pytest.raises(AppError, match="convolutional network with no attention layers"):
        _explain(client, example_image, "demo-resnet-shapes", "rollout")


def test_opacity_redraws_without_running_the_model(client, example_image, monkeypatch):
    _explain(client, example_image, "demo-resnet-shapes", "gradcam")

    def boom(*a, **k):
        raise AssertionError("the model ran again")

    monkeypatch.setattr(explain_tab, "explain", boom)
    photo = np.asarray(Image.open(example_image).convert("RGB"))
    out = client.predict(0.0, api_name="/explain_render")
    assert np.array_equal(np.asarray(Image.open(_value(out[0])).convert("RGB")), photo)  # opacity 0: the photo
    out = client.predict(1.0, api_name="/explain_render")
    assert not np.array_equal(np.asarray(Image.open(_value(out[0])).convert("RGB")), photo)


def test_manual_layer_and_random_weights(client, example_image):
    first = _explain(client, example_image, "demo-resnet-shapes", "gradcam", layer=0, auto=False)
    assert first[6]["value"] == 0 and "stage 0" in first[5]
    rand = _explain(client, example_image, "demo-resnet-shapes", "gradcam", random_weights=True)
    assert "Random weights (sanity check)" in rand[5]


def test_model_info_sets_layers_and_heads(client):
    layer, head, target, auto = client.predict("demo-vit-shapes", "", api_name="/explain_model_info")
    assert layer["maximum"] == 2 and auto is True
    assert [c[0] if isinstance(c, (list, tuple)) else c for c in head["choices"]] == ["mean of the heads", "head 0",
                                                                                       "head 1"]
    layer, head, target, auto = client.predict("demo-resnet-shapes", "", api_name="/explain_model_info")
    assert layer["maximum"] == 2 and head["interactive"] is False


def test_before_after_needs_a_run(client, example_image):
    with pytest.raises(AppError, match="not a model fine-tuned|Fine-tune a model"):
        client.predict(handle_file(str(example_image)), "demo-resnet-shapes", "gradcam", 0.5,
                       api_name="/explain_before_after")


def test_preset_fills_image_model_and_run(settings, example_image):
    with gr.Blocks():
        handle = explain_tab.build(settings)
    image, model, custom, run = (handle.port(p) for p in explain_tab.PRESET_PORTS)
    values = explain_tab.preset(handle, str(example_image), "demo-resnet-shapes", run="run-key")
    assert set(values) == {image, model, custom, run}
    assert values[image]["value"] == str(example_image) and values[model]["value"] == "demo-resnet-shapes"
    assert values[run]["value"] == "run-key"
    labels = {value: label for label, value in values[model]["choices"]}
    assert labels["demo-resnet-shapes"].startswith("demo-resnet-shapes (pretrained on synthetic shapes — UI demo)")
    assert values[custom]["value"] == ""
    values = explain_tab.preset(handle, str(example_image), custom="./my-model")
    assert values[custom]["value"] == "./my-model"
    assert set(values) == {image, custom}  # the model and the run picker stay as they are


def test_before_after_captions_name_the_run_by_its_short_title(settings):
    """The captions under the two maps read "after · ring · demo-vit · linear · 14:02", not the raw run id."""
    from tlweb.engine.data import sample_data, subsample
    from tlweb.engine.runs import run_title
    from tlweb.engine.train import TrainConfig, finetune

    res = finetune(TrainConfig("demo-vit", subsample(sample_data(settings), 2, 0), "linear"), settings=settings)
    name = explain_tab._run_name(res.run_id, settings)
    assert name == run_title(res.run_dir) and res.run_id not in name and "demo-vit" in name
    assert explain_tab._run_name("20200101-000000-gone-0000", settings) == "20200101-000000-gone-0000"  # deleted
