"""The Embeddings tab and the Classify tab's zero-shot labels, driven through gradio_client."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.conftest import plot_json


@pytest.fixture(scope="module")
def emb(app_url):
    """A client of its own: the tab keeps the data and the last projection per session."""
    return Client(app_url, verbose=False)


def test_endpoints_have_named_parameters(emb):
    api = emb.view_api(print_info=False, return_format="dict")["named_endpoints"]
    for name in ("/leaderboard", "/project", "/neighbours"):
        assert name in api, name
    params = [p["parameter_name"] for p in api["/leaderboard"]["parameters"]]
    assert params[:5] == ["backbones", "custom_backbones", "zero_shot", "templates", "source"]


def test_leaderboard_with_zero_shot_row(emb):
    status, table, chart, best, pick, notes = emb.predict(
        backbones=["demo-resnet-shapes", "demo-resnet"], custom_backbones="", zero_shot="demo-siglip",
        templates="a photo of a {}.\na drawing of a {}.", source="sample", api_name="/leaderboard")
    assert "Ranked 3 of 3 models" in status and "4 classes" in notes
    rows = {r[0]: dict(zip(table["headers"], r)) for r in table["data"]}
    assert set(rows) == {"demo-resnet-shapes", "demo-resnet", "demo-siglip"}
    assert float(rows["demo-resnet-shapes"]["linear probe %"]) > float(rows["demo-resnet"]["linear probe %"])
    assert rows["demo-siglip"]["zero-shot %"] not in (None, "")
    traces = plot_json(chart)["data"]
    assert any(t.get("name") == "Pareto front" for t in traces)
    assert best["value"].startswith("Best trade-off") and best["visible"] is True
    assert pick["value"] == "demo-resnet-shapes"  # the best trade-off, handed to "Fine-tune this one"
    assert [c[1] for c in pick["choices"]] == ["demo-resnet-shapes", "demo-resnet"]


def test_one_backbone_is_refused(emb):
    with pytest.raises(AppError, match="at least 2"):
        emb.predict(backbones=["demo-resnet"], custom_backbones="", zero_shot="", templates="", source="sample",
                    api_name="/leaderboard")


def test_projector_then_neighbours(emb):
    status, plot, notes = emb.predict(model="demo-resnet-shapes", mode="random", run=None, method="pca",
                                      max_points=100, renderer="svg", source="sample", api_name="/project")
    assert "pretrained: k-NN" in status and "random init: k-NN" in status and "SVG points" in status
    fig = plot_json(plot)
    assert {t["type"] for t in fig["data"]} == {"scatter"}
    assert sum(len(t["x"]) for t in fig["data"]) == 200  # 100 points in each of the two panels
    gallery, text = emb.predict(text="1:4", api_name="/neighbours")
    assert len(gallery) == 7 and "random init" in text and "nearest neighbours share its class" in text
    with pytest.raises(AppError, match="no panel 5"):
        emb.predict(text="5:1", api_name="/neighbours")


def test_neighbours_before_any_projection(app_url):
    fresh = Client(app_url, verbose=False)
    with pytest.raises(AppError, match="Project the embeddings first"):
        fresh.predict(text="3", api_name="/neighbours")


def test_classify_tab_zero_shot_labels(client, example_image):
    plot, facts = client.predict(handle_file(str(example_image)), "demo-clip", "", 3, "cat, dog, car",
                                 api_name="/classify")
    labels = list(plot_json(plot)["data"][0]["y"])
    assert sorted(labels) == ["car", "cat", "dog"] and "clip" in facts
    with pytest.raises(AppError, match="at least 2 labels"):
        client.predict(handle_file(str(example_image)), "demo-clip", "", 3, "", api_name="/classify")
