"""Step 5 of the Fine-tune tab through gradio_client: the data-efficiency curve with a zero-shot
baseline picked in its dropdown returns a chart with the dashed line; reopening the experiment from
the Runs step draws it again; a classifier picked as the baseline is one sentence."""

from __future__ import annotations

import json

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError


@pytest.fixture(scope="module")
def ft(app_url):
    client = Client(app_url, verbose=False)
    client.predict(source="sample", api_name="/load_data")
    return client


def _zero_shot_lines(value) -> list[dict]:
    assert value["type"] == "plotly"
    plot = value["plot"]
    fig = json.loads(plot) if isinstance(plot, str) else plot
    return [t for t in fig["data"] if (t.get("meta") or {}).get("kind") == "zero-shot"]


def test_the_dropdown_lists_zero_shot_models_and_defaults_to_none_offline(ft, settings):
    from tlweb.catalog import ZERO_SHOT_CLASSIFICATION
    from tlweb.engine.listing import resolve

    api = ft.view_api(print_info=False, return_format="dict")["named_endpoints"]["/data_efficiency"]
    params = {p["parameter_name"]: p for p in api["parameters"]}
    assert {"zero_shot", "templates"} <= set(params)
    # tests have no real CLIP on disk: only demo models (random weights) are ready, so none is picked
    assert params["zero_shot"]["parameter_default"] == ""
    (dropdown,) = [c for c in ft.config["components"] if c.get("props", {}).get("elem_id") == "ft-zero-shot"]
    choices = {value: label for label, value in dropdown["props"]["choices"]}
    assert {"", "demo-clip", "demo-siglip", "clip-vit-base"} <= set(choices) and choices[""] == "none"
    assert "random weights" in choices["demo-clip"]  # a demo model says what it is
    assert all(resolve(v, settings=settings).task == ZERO_SHOT_CLASSIFICATION for v in choices if v)  # CLIP/SigLIP only


def test_the_curve_with_a_zero_shot_baseline_draws_its_line(ft, settings):
    from tlweb.engine.runs import list_experiments

    job = ft.submit(model="demo-vit", custom_model="", strategies=["linear"], shots=["1", "2"], epochs="1",
                    batch_size="auto", lr="auto", seeds=1, zero_shot="demo-clip", templates="a photo of a {}.",
                    api_name="/data_efficiency")
    status, eff_plot, _ = job.result(timeout=300)
    assert "Data efficiency done" in status and "2 runs" in status and "zero-shot demo-clip (random weights)" in status
    (line,) = _zero_shot_lines(eff_plot)
    assert line["name"].startswith("zero-shot demo-clip (random weights): 0 images · ")
    assert line["line"]["dash"] == "dash" and "test images right" in line["hovertemplate"]
    # the line is on the chart from the first update after the baseline, before the runs finish
    early = [o for o in job.outputs() if isinstance(o, (list, tuple)) and len(o) == 3 and isinstance(o[1], dict)]
    assert any(_zero_shot_lines(o[1]) for o in early[:-1])
    # reopening the experiment from the Runs step draws it again
    exp = next(e for e in list_experiments(settings) if e.kind == "data-efficiency" and e.zero_shot)
    chart, details = ft.predict(exp.experiment_id, api_name="/run_details")
    assert [t["name"] for t in _zero_shot_lines(chart)] == [line["name"]]
    assert "zero-shot baseline" in details


def test_a_classifier_as_the_baseline_is_refused_with_a_sentence(ft):
    with pytest.raises(AppError) as info:
        ft.submit(model="demo-vit", custom_model="", strategies=["linear"], shots=["1"], epochs="1",
                  batch_size="auto", lr="auto", seeds=1, zero_shot="demo-vit", api_name="/data_efficiency").result()
    text = str(info.value)
    assert "'demo-vit' is an image classifier, not a CLIP or SigLIP model" in text and "Traceback" not in text


def test_the_default_is_a_ready_model_with_real_weights(monkeypatch, settings):
    from tlweb.engine import availability
    from tlweb.ui.tabs.finetune.sections import zero_shot_choices

    assert zero_shot_choices(settings)[1] == ""  # offline: only random-weight demo models are ready
    real = availability.model_states

    def cached_clip(specs, settings=None):  # as if openai/clip-vit-base-patch32 were in the Hub cache
        return [availability.ModelState("cached", True, 600_000_000) if s.key == "clip-vit-base" else st
                for s, st in zip(specs, real(specs, settings))]

    monkeypatch.setattr(availability, "model_states", cached_clip)
    choices, default = zero_shot_choices(settings)
    assert default == "clip-vit-base" and ("none", "") == choices[0]
