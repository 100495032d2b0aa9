"""The "Download report" buttons through gradio_client: each tab keeps its last result in its session and
its report endpoint returns one self-contained .html (plotly.js inlined, nothing fetched)."""

from __future__ import annotations

from pathlib import Path

import plotly.offline
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

PLOTLY_HEAD = plotly.offline.get_plotlyjs()[:2000]


@pytest.fixture(scope="module")
def rc(app_url):
    return Client(app_url, verbose=False)


def _report(client, api: str, *args, title: str, figures: int | None = None) -> str:
    out = client.predict(*args, api_name=api)
    if isinstance(out, dict):  # gr.update(value=…, visible=True)
        out = out.get("value")
    path = Path(out if isinstance(out, str) else out["path"])
    assert path.suffix == ".html", path
    markup = path.read_text(encoding="utf-8")
    assert markup.startswith("<!DOCTYPE html>") and markup.count(PLOTLY_HEAD) == 1, api  # plotly.js inlined once
    assert f"<h1>{title}" in markup, (api, markup[markup.find("<h1>"):][:120])
    if figures is not None:
        assert markup.count("Plotly.newPlot(") == figures, api
    return markup


def test_a_report_before_a_result_is_a_sentence(app_url):
    fresh = Client(app_url, verbose=False)  # a new session: nothing computed yet
    for api, words in (("/compare_report", "compare some backbones"), ("/segment_report", "segment a picture"),
                       ("/detect_report", "detect objects"), ("/explain_report", "explain a picture"),
                       ("/ladder_report", "run the strategy ladder"),
                       ("/efficiency_report", "draw the data-efficiency curve"),
                       ("/leaderboard_report", "rank some backbones"), ("/projector_report", "project the embeddings")):
        args = (0.3,) if api == "/detect_report" else ()
        with pytest.raises(AppError, match=f"Nothing to report yet: {words}"):
            fresh.predict(*args, api_name=api)
    with pytest.raises(AppError, match="Pick a run"):
        fresh.predict(None, api_name="/run_report")


def test_inference_tabs_report_their_last_result(rc, example_image):
    cat = handle_file(str(example_image))
    rc.predict([cat], ["demo-vit", "demo-resnet-shapes"], "", 2, api_name="/compare")
    markup = _report(rc, "/compare_report", title="Compare backbones", figures=3)
    assert "demo-resnet-shapes" in markup and "cat.jpg" in markup

    rc.predict(cat, "demo-segformer", "", "", 0.5, api_name="/segment")
    assert "demo-segformer" in _report(rc, "/segment_report", title="Segmentation", figures=1)

    rc.predict(cat, "demo-owlv2", "", "cat, sofa", 0.05, api_name="/detect")
    markup = _report(rc, "/detect_report", 0.5, title="Object detection", figures=1)
    assert "zero-shot: cat, sofa" in markup and "threshold 0.50" in markup  # the slider's value at the click

    out = rc.predict(cat, "demo-vit-shapes", "", "gradcam", 11, True, "mean of the heads", "top-1", False, 0.55,
                     api_name="/explain")
    assert out
    markup = _report(rc, "/explain_report", title="Explain", figures=1)
    assert "Grad-CAM" in markup and "Layer by layer" in markup


def test_fine_tune_runs_ladders_and_curves_report(rc):
    rc.predict(source="sample", api_name="/load_data")
    rc.submit(model="demo-vit", custom_model="", strategies=["linear", "full"], epochs="1", batch_size="auto",
              lr="auto", per_class=6, api_name="/ladder").result(timeout=300)
    markup = _report(rc, "/ladder_report", title="Strategy ladder · demo-vit · ladder", figures=2)
    assert "linear" in markup and "full" in markup
    rc.submit(model="demo-vit", custom_model="", strategies=["linear"], shots=["1", "2"], epochs="1",
              batch_size="auto", lr="auto", api_name="/data_efficiency").result(timeout=300)
    _report(rc, "/efficiency_report", title="Data efficiency · demo-vit · data efficiency", figures=1)

    table, pick = rc.predict(api_name="/runs")
    experiment = pick["value"] if isinstance(pick, dict) else pick  # the newest entry: the curve
    _report(rc, "/run_report", experiment, title="Data efficiency", figures=1)
    ladder = next(row[-1] for row in table["data"] if "ladder" in str(row[0]))  # experiments are collapsed rows
    from tlweb.engine.runs import entry_info

    run_id = next(r.run_id for r in entry_info(ladder).runs if r.strategy == "full")
    markup = _report(rc, "/run_report", run_id, title="Fine-tune run")
    assert run_id in markup and "Training curves" in markup


def test_embeddings_leaderboard_and_projector_report(rc):
    rc.predict(backbones=["demo-resnet-shapes", "demo-resnet"], custom_backbones="", zero_shot="demo-siglip",
               templates="a photo of a {}.", source="sample", api_name="/leaderboard")
    markup = _report(rc, "/leaderboard_report", title="Backbone leaderboard", figures=1)
    assert "demo-resnet-shapes" in markup and "demo-siglip" in markup and "95% interval" in markup
    rc.predict(model="demo-resnet-shapes", mode="random", run=None, method="pca", max_points=100, renderer="auto",
               source="sample", api_name="/project")
    markup = _report(rc, "/projector_report", title="Embeddings projector", figures=1)
    assert "pretrained" in markup and "random init" in markup and "k-NN accuracy" in markup
