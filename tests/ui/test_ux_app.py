"""Presenter-grade UX through gradio_client: model states and Download, intros that follow the
model, cold and warm latency, errors that still reach API clients, the Learn tab's steps, and a
start that builds no demo model."""

from __future__ import annotations

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests import fake_hub


def test_picking_an_uncached_model_says_why_it_cannot_run_here(client):
    # (the Download button's visibility is checked in the browser: buttons are not API outputs)
    html = client.predict("vit-base", "", api_name="/classify_model_state")
    assert html["visible"] is True and "not downloaded yet (≈ 346 MB)" in html["value"]
    assert "cannot be reached" in html["value"] and "python -m tlweb download vit-base" in html["value"]
    html = client.predict("demo-vit", "", api_name="/classify_model_state")
    assert html["visible"] is False


def test_segment_state_covers_both_pickers(client):
    html = client.predict("demo-segformer", "segformer-b0-ade", "", api_name="/segment_model_state")
    assert "nvidia/segformer-b0-finetuned-ade-512-512" in html["value"]


@pytest.mark.parametrize("api", ["/classify", "/segment", "/detect"])
def test_a_failed_run_is_an_error_for_api_clients(client, example_image, api):
    args = {"/classify": ("vit-base", "", 5), "/segment": ("segformer-b0-ade", "", "", 0.5),
            "/detect": ("detr-resnet-50", "", "cat", 0.5)}[api]
    with pytest.raises(AppError, match="cannot be reached"):
        client.predict(handle_file(str(example_image)), *args, api_name=api)


def test_compare_without_images_is_an_error_for_api_clients(client):
    with pytest.raises(AppError, match="images first"):
        client.predict([], ["demo-vit", "demo-resnet"], "", 3, api_name="/compare")


def test_download_fills_the_cache_and_the_model_then_runs(client, demo_models, monkeypatch, example_image):
    with fake_hub.reachable_hub(monkeypatch, demo_models["demo-deit"]):
        html = client.predict(fake_hub.KEY, "", api_name="/classify_model_state")
        assert "press Download" in html["value"]
        html, dropdown = client.predict(fake_hub.KEY, "", api_name="/classify_download")
        assert "Downloaded" in html["value"] and fake_hub.REPO in html["value"]
        labels = {value: label for label, value in dropdown["choices"]}
        assert "✓ cached" in labels[fake_hub.KEY] and "⬇ download" in labels["vit-base"]
        plot, facts = client.predict(handle_file(str(example_image)), fake_hub.KEY, "", 3, api_name="/classify")
        assert plot["type"] == "plotly" and fake_hub.REPO in facts


def test_the_intro_follows_the_selected_model(client):
    random = client.predict("demo-vit", "", api_name="/classify_intro")
    assert "random weights" in random and "ImageNet" not in random
    shapes = client.predict("demo-resnet-shapes", "", api_name="/classify_intro")
    assert "synthetic shapes" in shapes and "random weights" not in shapes
    hub = client.predict("vit-base", "", api_name="/classify_intro")
    assert "pretrained on ImageNet-21k" in hub and "1,000 ImageNet classes" in hub


def test_the_first_call_is_labelled_cold_and_the_next_is_not(client, example_image):
    from tlweb.engine.loading import reset_cache

    reset_cache()  # the model loads again: the next call is its first
    _, first = client.predict(handle_file(str(example_image)), "demo-swin", "", 3, api_name="/classify")
    _, second = client.predict(handle_file(str(example_image)), "demo-swin", "", 3, api_name="/classify")
    assert "first call" in first and "cold" in first and "warm" in first
    assert "first call" not in second


def test_learn_steps(client):
    note, image, model, custom = client.predict(api_name="/learn_pretrained")
    # a model pretrained on the demo's shapes is shown a shape it can name, and the note says why (not the cat)
    assert str(image).endswith("shape-ring.png") and "Classify" in note and "ring" in note
    assert model == "demo-resnet-shapes"  # pretrained for real (the catalog is not cached here)
    assert custom == ""
    note, image, model, custom, queries = client.predict(api_name="/learn_zero_shot")
    assert model == "demo-owlv2" and "cat" in queries and "Detect" in note
    note, image, model, custom, method = client.predict(api_name="/learn_inside")
    assert "Explain" in note and str(image).endswith("shape-ring.png")
    assert model == "demo-vit-shapes" and method == "rollout"  # a model that learned something, by attention


def test_a_fresh_home_builds_no_demo_model_before_the_first_pick(tmp_path, capsys):
    """The server answers before any demo model exists; the terminal gets one line, no progress bars."""
    import urllib.request

    from tests.conftest import free_port
    from tlweb.config import Settings, get_settings, set_settings
    from tlweb.ui.app import launch

    before = get_settings()
    settings = Settings(home=tmp_path / "home", demo=True, port=free_port())
    demo = launch(settings, prevent_thread_lock=True)
    set_settings(before)  # the app keeps its own settings; the other tests keep theirs
    try:
        assert urllib.request.urlopen(f"http://127.0.0.1:{settings.port}/", timeout=30).status == 200
        assert not settings.demo_dir.exists() or not any(settings.demo_dir.iterdir())
        out = capsys.readouterr().out
        assert "tlweb: ready at" in out and "Writing model shards" not in out
    finally:
        demo.close()


def test_model_lists_put_what_runs_now_first_and_runs_in_a_group_of_their_own(settings, demo_models):
    """What runs now comes first (here, with no Hub: the demo models), then the runs fine-tuned here as a group (a
    ladder adds one entry: its best run), then the catalog models that need a download."""
    from tlweb.catalog import CLASSIFICATION
    from tlweb.engine.data import sample_data, subsample
    from tlweb.engine.listing import resolve
    from tlweb.engine.train import ladder
    from tlweb.ui.components import model_choices
    from tlweb.ui.model_state import RUN_GROUP

    results = ladder("demo-vit", subsample(sample_data(settings), 2, 0), strategies=("linear", "full"), epochs=1,
                     seeds=2, settings=settings)
    choices = model_choices(CLASSIFICATION, settings)
    sources = [resolve(value, settings=settings).source for _, value in choices]
    ready = ["· ✓" in label for label, _ in choices]
    assert ready == sorted(ready, reverse=True) and sources[0] == "demo"  # no download above a model that runs
    runs = [i for i, s in enumerate(sources) if s == "run"]
    assert runs == list(range(runs[0], runs[-1] + 1))  # together …
    assert set(sources[:runs[0]]) == {"demo"} and set(sources[runs[-1] + 1:]) == {"catalog"}  # … between the two
    assert not any(ready[runs[-1] + 1:])
    assert all(label.startswith(RUN_GROUP) for label, _ in choices[runs[0]:runs[-1] + 1])
    listed = {value for _, value in choices}
    ours = [r for r in results if r.run_id in listed]
    assert len(ours) == 1 and ours[0].test_accuracy == max(r.test_accuracy for r in results)  # its best run
    label = dict((v, lab) for lab, v in choices)[ours[0].run_id]
    assert "best of" in label and "ladder" in label
    hidden = next(r for r in results if r.run_id not in listed)
    assert resolve(hidden.run_id, settings=settings).source == "run"  # the others still resolve by id
