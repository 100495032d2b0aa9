"""Cross-tab links (tlweb.ui.links) through gradio_client on the whole app: Classify → Explain, a
Fine-tune run's mistake → Explain (run preselected for before / after), Embeddings' "Fine-tune this
one" → Fine-tune, a run or an experiment → Classify. (The tab switch itself is a layout update that
gradio_client does not return; the browser test checks it.)"""

from __future__ import annotations

import gradio as gr
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tlweb.ui import links


def _value(update):
    return update.get("value") if isinstance(update, dict) else update


@pytest.fixture(scope="module")
def own(app_url):
    """A client of its own: the Fine-tune tab keeps its last run per session."""
    return Client(app_url, verbose=False)


def test_the_app_registers_every_link(app_url):
    from tlweb.ui.app import LINKS

    assert {f.__name__ for f in LINKS} >= {"classify_to_explain", "mistakes_to_explain", "embeddings_to_finetune",
                                           "finetune_to_classify"}


def test_classify_to_explain_presets_the_same_image_and_model(client, example_image):
    image, model, custom, run = client.predict(handle_file(str(example_image)), "demo-resnet-shapes", "",
                                               api_name="/classify_to_explain")
    assert _value(image).endswith(example_image.name) and _value(model) == "demo-resnet-shapes"
    assert _value(custom) == "" and "value" not in run  # no run preselected from Classify
    # a typed id or folder goes into Explain's free-text box
    image, model, custom, _ = client.predict(handle_file(str(example_image)), "demo-vit", "demo-vit-shapes",
                                             api_name="/classify_to_explain")
    assert _value(custom) == "demo-vit-shapes" and "value" not in model


@pytest.mark.parametrize("image, model, match", [(None, "demo-vit", "Upload, paste or capture an image"),
                                                 ("cat", "demo-clip", "zero-shot model")])
def test_classify_to_explain_refusals_are_sentences(client, example_image, image, model, match):
    with pytest.raises(AppError, match=match):
        client.predict(handle_file(str(example_image)) if image else None, model, "", api_name="/classify_to_explain")


def test_a_mistake_opens_in_explain_with_the_run(own, settings):
    from tlweb.engine.runs import load_run

    with pytest.raises(AppError, match="Train a model first"):
        own.predict(0, api_name="/ft_explain_mistake")
    own.submit(model="demo-vit", custom_model="", strategy="linear", epochs="auto", batch_size="auto", lr="auto",
               per_class=0, api_name="/finetune").result(timeout=300)
    from tlweb.engine.runs import list_runs

    run = list_runs(settings)[0]
    mistakes = load_run(run.run_id, settings)[2]["mistakes"]
    assert mistakes  # a random-weight backbone on the sample: it gets some wrong
    with pytest.raises(AppError, match="Click one of the mistakes"):
        own.predict(None, api_name="/ft_explain_mistake")
    last = len(mistakes) - 1
    image, model, custom, picked = own.predict(last, api_name="/ft_explain_mistake")
    assert _value(image).endswith(mistakes[last]["image"].rsplit("/", 1)[-1])
    assert _value(model) == run.run_id == _value(picked) and _value(custom) == ""
    assert run.run_id in [c[1] for c in picked["choices"]]  # the run list is refreshed: it is in it
    with pytest.raises(AppError, match=f"has {len(mistakes)} mistakes"):
        own.predict(len(mistakes), api_name="/ft_explain_mistake")


def test_fine_tune_this_one_from_the_leaderboard(client):
    assert client.predict("demo-resnet-shapes", api_name="/embeddings_finetune_ready") == {"visible": True,
                                                                                           "__type__": "update"}
    model, custom = client.predict("demo-resnet-shapes", api_name="/embeddings_to_finetune")
    assert _value(model) == "demo-resnet-shapes" and custom == ""
    model, custom = client.predict("/some/backbone-folder", api_name="/embeddings_to_finetune")
    assert "value" not in model and custom == "/some/backbone-folder"  # not in the list: the free-text box
    with pytest.raises(AppError, match="Rank the backbones first"):
        client.predict("", api_name="/embeddings_to_finetune")


def test_open_a_run_or_an_experiment_in_classify(client, settings, demo_models):
    from tlweb.engine.data import sample_data, subsample
    from tlweb.engine.runs import entry_info, list_experiments
    from tlweb.engine.train import ladder

    results = ladder("demo-vit", subsample(sample_data(settings), 3, 0), strategies=("linear", "scratch"), epochs=1,
                     seeds=1, settings=settings)
    exp = list_experiments(settings)[0]
    assert {r.run_id for r in results} == {r.run_id for r in exp.runs}
    model, custom = client.predict(results[-1].run_id, api_name="/ft_run_open_in_classify")
    assert _value(model) == results[-1].run_id and custom == ""
    assert "demo-clip" in [c[1] for c in model["choices"]]  # Classify's list keeps its zero-shot models
    model, _ = client.predict(exp.experiment_id, api_name="/ft_run_open_in_classify")
    assert _value(model) == entry_info(exp.experiment_id, settings).best.run_id  # an experiment: its best run
    for ref, match in (("", "Pick a run"), ("no-such-run", "no-such-run")):
        with pytest.raises(AppError, match=match):
            client.predict(ref, api_name="/ft_run_open_in_classify")


def test_links_without_their_tabs_do_nothing(settings):
    """A link is skipped when one of its tabs is missing (a tab served alone)."""
    from tlweb.ui.app import AppParts

    with gr.Blocks():
        with gr.Tabs() as tabs:
            pass
        parts = AppParts(tabs=tabs, handles={"classify": None}, settings=settings)
        for name in ("classify_to_explain", "mistakes_to_explain", "embeddings_to_finetune", "finetune_to_classify"):
            getattr(links, name)(parts)
