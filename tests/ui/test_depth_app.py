"""The Depth tab served on 127.0.0.1 with the demo models, driven through gradio_client (its /depth endpoint)."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError
from PIL import Image

from tlweb.assets import scene_images


def _array(value) -> np.ndarray:
    """A plotly array as JSON gives it: a list, or plotly's typed-array form ({dtype, bdata, shape})."""
    if isinstance(value, dict) and "bdata" in value:
        shape = [int(n) for n in str(value.get("shape", "-1")).split(",")]
        return np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"]).reshape(shape)
    return np.asarray(value, dtype=float)


def _depth(client, path, model="demo-dpt-scenes", custom=""):
    return client.predict(handle_file(str(path)), model, custom, api_name="/depth")


def test_depth_endpoint_picture_surface_facts(client, demo_models):
    scene = scene_images()[0]
    picture, plot, facts = _depth(client, scene)
    shown = np.asarray(Image.open(picture.get("value") if isinstance(picture, dict) else picture).convert("RGB"))
    assert shown.shape[:2] == Image.open(scene).size[::-1]
    brightness = shown.mean(axis=2)
    # the scene's ground comes nearer toward the bottom: the bottom rows are painted brighter than the sky
    assert brightness[-20:].mean() > brightness[:20].mean() + 60
    fig = json.loads(plot["plot"])
    surface = [t for t in fig["data"] if t["type"] == "surface"]
    assert len(surface) == 1
    z = _array(surface[0]["z"])
    assert z.ndim == 2 and np.isfinite(z).all() and z[-8:].mean() > z[:8].mean()  # inverse depth: near = larger
    scene_axes = fig["layout"]["scene"]
    assert all(scene_axes[a]["title"]["text"] for a in ("xaxis", "yaxis", "zaxis"))
    assert "px" in scene_axes["xaxis"]["title"]["text"] and "depth" in scene_axes["zaxis"]["title"]["text"]
    assert max(len(scene_axes[a]["title"]["text"]) for a in ("xaxis", "yaxis", "zaxis")) <= 16  # not cut at the edge
    assert "latency" in facts and "inverse depth" in facts and "Random weights" not in facts


def test_a_model_of_another_task_is_a_sentence(client, demo_models, example_image):
    with pytest.raises(AppError, match="not a depth estimator"):
        _depth(client, example_image, model="demo-resnet-shapes")


def test_the_tab_lists_the_depth_models(client, demo_models):
    info = client.view_api(print_info=False, return_format="dict")["named_endpoints"]["/depth"]
    names = [p.get("label") for p in info["parameters"]]
    assert names[:2] == ["Image (upload, webcam or paste)", "Depth model"]
    choices = json.dumps(info["parameters"][1])
    assert "demo-dpt-scenes" in choices and "dpt-hybrid-midas" in choices
