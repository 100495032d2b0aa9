"""The Fine-tune tab's small helpers, without a server: parsing, class slots, the stream's drain, status."""

from __future__ import annotations

import copy
import time

import pytest

from tlweb.errors import DataError, TlwebError
from tlweb.ui.tabs import finetune as ft


@pytest.mark.parametrize("value,kind,expected", [
    ("auto", int, None), ("", int, None), (None, int, None), (0, int, None), ("3", int, 3), (5.0, int, 5),
    ("1e-3", float, 1e-3), ("auto", float, None), ("3e-4", float, 3e-4),
])
def test_parse_auto(value, kind, expected):
    assert ft.parse_auto(value, kind, "epochs") == expected


@pytest.mark.parametrize("value,kind", [("many", int), ("2.5", int), ("-1", int), ("fast", float), ("-0.1", float)])
def test_parse_auto_rejects_with_a_sentence(value, kind):
    with pytest.raises(TlwebError) as info:
        ft.parse_auto(value, kind, "epochs")
    assert str(info.value).startswith("Epochs must be")


def test_class_uploads_from_slots():
    names = ["cats", " dogs ", "", "unused"]
    files = [["/a.png", "/b.png"], [{"path": "/c.png"}], [], []]
    assert ft.class_uploads(names, files) == {"cats": ["/a.png", "/b.png"], "dogs": ["/c.png"]}
    with pytest.raises(DataError, match="no name"):
        ft.class_uploads(["", "dogs"], [["/a.png"], ["/b.png"]])
    with pytest.raises(DataError, match="Two classes"):
        ft.class_uploads(["x", "x"], [["/a.png"], ["/b.png"]])


def test_session_state_is_fresh_per_copy(tmp_path):
    a = ft.FtSession()
    a.start(tmp_path)
    a.data = object()
    b = copy.deepcopy(a)  # what gr.State does for each new browser session
    assert b is not a and b.active is None and b.data is None
    assert not b.request_stop()  # nothing trains in that session: nothing to stop
    assert a.request_stop() and (tmp_path / "STOP").is_file() and a.stopping()


def _events(n: int, closed: list, result="result"):
    """A stand-in for the engine's stream: TrainEvents, then a result; records being closed."""
    from tlweb.engine.train import TrainEvent

    try:
        for i in range(1, n + 1):
            yield TrainEvent("step", "run", "full", i / n, i, n)
            time.sleep(0.005)
        yield result
    finally:
        closed.append(True)


def test_worker_drains_the_stream_into_batches_and_results():
    closed = []
    worker = ft.Worker(_events(40, closed), every=0.05)
    seen = []
    for batch in worker.batches():
        seen.extend(batch)
    assert [e["step"] for e in seen] == list(range(1, 41)) and all(isinstance(e, dict) for e in seen)
    assert worker.results == ["result"] and worker.result == "result" and closed == [True]
    worker = ft.Worker(_events(4, [], result=None), every=10.0)  # slow redraws: step events wait for the next batch
    assert [len(b) for b in worker.batches()] == [4]


def test_worker_closes_the_stream_when_the_handler_goes_away():
    closed = []
    worker = ft.Worker(_events(10_000, closed), every=0.0)
    batches = worker.batches()
    assert next(batches)[0]["step"] == 1
    batches.close()  # gradio closes the handler (a closed page): the stream is closed, which stops the run
    assert closed == [True] and worker.result is None


def test_worker_reraises_engine_errors():
    def failing():
        from tlweb.engine.train import TrainEvent

        yield TrainEvent("start", "run", "full", 0.0, 0, 10)
        raise DataError("The class 'x' has no images.")

    worker = ft.Worker(failing(), every=0.05)
    with pytest.raises(DataError, match="no images"):
        for _ in worker.batches():
            pass


def test_progress_status_line():
    p = ft.Progress()
    assert "Preparing" in p.html()
    p.add([{"kind": "start", "strategy": "full", "epoch": 0.0, "step": 0, "total_steps": 20, "message": "go"},
           {"kind": "step", "strategy": "full", "epoch": 0.5, "step": 5, "total_steps": 20, "train_loss": 1.2345,
            "images_per_s": 321.0, "eta_s": 75},
           {"kind": "eval", "strategy": "full", "epoch": 1.0, "step": 10, "total_steps": 20, "val_accuracy": 0.625}])
    line = p.html()
    for part in ("Full fine-tune", "epoch 1.00", "step 10/20", "loss 1.234", "val accuracy 62.5%", "321 images/s",
                 "ETA 1 min 15 s", "width:50.0%"):
        assert part in line, part


def test_build_returns_a_handle_of_its_sections(settings):
    import gradio as gr

    from tlweb.engine.train import strategy_names
    from tlweb.ui.components import TabHandle

    with gr.Blocks():
        handle = ft.build(settings)
    tab = handle.parts
    assert isinstance(handle, TabHandle) and isinstance(tab, ft.FinetuneTab)
    assert handle.button.elem_id == "ft-start-btn" and handle.model.elem_id == "ft-model"
    assert handle.state is tab.session and handle.inputs["steps"] is tab.steps
    assert handle.custom_model.elem_id == "ft-custom-model" and handle.image is None
    assert handle.outputs["runs"].elem_id == "ft-runs-table" and handle.outputs["ladder"].elem_id == "ft-ladder-plot"
    # the strategy radio and both checkbox groups list every registered classification strategy
    for group in (tab.backbone.strategy, tab.compare.ladder_strategies, tab.compare.eff_strategies):
        assert [value for _, value in group.choices] == list(strategy_names("image-classification"))
    assert tab.runs.confirm_box.visible is False  # delete asks first


def test_job_story_says_what_trains_and_how_long_is_left():
    from tlweb.engine.train.strategies import get_strategy

    story = ft.job_story("partial", 4, 18, 40.0)
    assert story.startswith(get_strategy("partial").explanation[:30])
    assert "4 of 18 runs done; about 2 min 20 s left (from the runs so far)." in story  # 10 s a run × 14
    assert ft.job_story("linear", 0, 18, 3.0).endswith("0 of 18 runs done.")  # no guess before a run has finished
    assert ft.job_story("full", 0, 0, 0.0) == get_strategy("full").explanation  # a single run: what it does
    assert ft.job_story(None, 2, 4, 1.0) == "2 of 4 runs done; about 1 s left (from the runs so far)."
    line = ft.Progress().html(detail=story)
    assert "Preparing" in line and "about 2 min 20 s left" in line


@pytest.mark.parametrize("kind", ["ladder", "efficiency"])
def test_a_closed_page_leaves_its_experiment_stopped_not_failed(kind, settings, monkeypatch):
    """Closing the tab closes the handler: the runs stop cleanly and keep their models, so the experiment is
    listed "stopped" (it was "failed", beside a run that said "stopped")."""
    import json

    from tlweb.engine import train
    from tlweb.engine.train import TrainEvent
    from tlweb.ui.tabs.finetune.handlers import Handlers

    def endless(*args, **kwargs):
        i = 0
        while True:
            i += 1
            yield TrainEvent("step", "run", "full", i / 100, i, 100)
            time.sleep(0.01)

    monkeypatch.setattr(train, "iter_ladder" if kind == "ladder" else "iter_efficiency", endless)
    import gradio as gr

    with gr.Blocks():
        tab = ft.build(settings).parts
    h, sess = Handlers(settings, tab), ft.FtSession()
    if kind == "ladder":
        gen = h.ladder("demo-vit", "", ["linear", "full"], "1", "auto", "auto", 0, 1, sess)
    else:
        gen = h.efficiency("demo-vit", "", ["linear"], ["1", "2"], "1", "auto", "auto", 1, "", None, sess)
    for _ in range(3):
        next(gen)  # started: its experiment folder exists, events flow
    folder = sess.experiments["ladder" if kind == "ladder" else "data-efficiency"]
    gen.close()  # the page went away
    assert json.loads((folder / "experiment.json").read_text())["status"] == "stopped"
    assert sess.active is None


def test_learn_shows_a_shapes_model_a_shape_and_says_why(settings, demo_models):
    """Learn's "Pretrained models" step: a demo model pretrained on generated shapes is shown a generated shape
    (it called a cat "checker 81 %"), and the step's note says why; a photo model gets the cat photo."""
    from PIL import Image

    from tlweb.ui.tabs import learn

    image, note = learn.picture_for(lambda: "demo-resnet-shapes", settings)
    with Image.open(image()) as im:
        assert im.size == (320, 320) and "shape-ring" in image()
    assert "six generated shapes" in note() and "ring" in note()
    image, note = learn.picture_for(lambda: "demo-vit", settings)  # random weights: not a shapes model
    assert image().endswith("cat.jpg") and note() == ""
