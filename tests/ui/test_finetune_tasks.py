"""The Fine-tune tab's segmentation and detection path, through its handlers (no server): the task switch,
the built-in samples with their previews, bad data as a sentence, one short run each with its results
(per-class IoU / AP, worst images, before / after) and the run listed for the Segment / Detect tabs."""

from __future__ import annotations

import zipfile

import gradio as gr
import pytest
from PIL import Image

from tlweb.ui.tabs.finetune.handlers import Handlers
from tlweb.ui.tabs.finetune.helpers import FtSession
from tlweb.ui.tabs.finetune.task_handlers import TaskHandlers
from tlweb.ui.tabs.finetune.tasks import DETECTION, SEGMENTATION

KEYS = ["cls", "tasked", "model", "strategy", "epochs", "open"]
VIEWS = [(k, k) for k in KEYS]  # (view name, component): here the names stand in for the components


@pytest.fixture(scope="module")
def tab(settings):
    """The tab's components, which the handlers' dicts are keyed by."""
    from tlweb.ui.tabs import finetune

    with gr.Blocks():
        return finetune.build(settings).parts


@pytest.fixture
def th(settings, tab):
    return TaskHandlers(Handlers(settings, tab))


def _drain(gen) -> list:
    return list(gen)


def test_task_switch_shows_the_tasks_models_and_strategies(th):
    sess = FtSession()
    view = th.switch(SEGMENTATION, sess, VIEWS)
    assert sess.task == SEGMENTATION
    assert view["cls"]["visible"] is False and view["tasked"]["visible"] is True
    assert view["model"]["value"] == "demo-upernet-shapes"
    assert [v for _, v in view["strategy"]["choices"]] == ["decoder", "full", "lora", "scratch"]
    assert view["strategy"]["value"] == "decoder" and "Segment" in view["open"]["value"]
    view = th.switch(DETECTION, sess, VIEWS)
    assert view["model"]["value"] == "demo-rtdetr-shapes"
    assert [v for _, v in view["strategy"]["choices"]] == ["head", "full", "scratch"]
    view = th.switch("image-classification", sess, VIEWS)
    assert sess.task == "image-classification" and view["cls"]["visible"] is True


def test_classification_endpoints_skip_while_the_page_trains_another_task(settings):
    h = Handlers(settings)
    sess = FtSession()
    sess.task = SEGMENTATION
    out = h.load("sample", None, None, None, None, *([""] * 6), *([[]] * 6), sess)
    assert out == gr.skip()  # one skip: every output stays as it is
    assert sess.data is None  # nothing was loaded for classification
    assert _drain(h.train("demo-vit", "", "linear", "1", "auto", "auto", 0, sess)) == [gr.skip()]


@pytest.mark.parametrize("task,classes,noun", [(SEGMENTATION, ["background", "circle", "square", "triangle"], "masks"),
                                               (DETECTION, ["circle", "square", "triangle"], "boxes")])
def test_sample_loads_with_counts_and_a_preview(th, task, classes, noun):
    plot, notes, preview = th.load(task, "sample", None, None, None, None, FtSession())
    bars = plot.to_dict()["data"]
    assert [b["name"].split(" ")[0] for b in bars] == ["train", "test"]
    assert list(bars[0]["x"]) == classes
    assert f"{len(classes)} classes" in notes
    assert 4 <= len(preview) <= 8 and all(isinstance(img, Image.Image) for img, _ in preview)
    img, caption = preview[0]
    assert min(img.size) >= 96  # small scenes are enlarged for the preview
    if task == DETECTION:
        assert "box" in caption
    else:
        assert any(c in caption for c in classes[1:])


def test_bad_masks_are_a_sentence(th, tmp_path):
    root = tmp_path / "bad"
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "labels.txt").write_text("background\nthing\n")
    for i in range(3):
        Image.new("RGB", (32, 32), (i * 40, 0, 0)).save(root / "images" / f"a{i}.png")
        Image.new("L", (20, 20), 1).save(root / "masks" / f"a{i}.png")  # the wrong size
    zpath = tmp_path / "bad.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        for p in root.rglob("*"):
            if p.is_file():
                z.write(p, p.relative_to(root))
    with pytest.raises(gr.Error) as err:
        th.load(SEGMENTATION, "zip", str(zpath), None, None, None, FtSession())
    assert "size" in str(err.value) and "a0.png" in str(err.value)
    with pytest.raises(gr.Error, match="Upload a .zip"):
        th.load(DETECTION, "zip", None, None, None, None, FtSession())


@pytest.mark.parametrize("task,model,strategy,word", [(SEGMENTATION, "demo-upernet-shapes", "decoder", "mIoU"),
                                                      (DETECTION, "demo-rtdetr-shapes", "head", "mAP")])
def test_one_short_run_gives_results_and_a_pickable_model(th, tab, settings, task, model, strategy, word):
    from tlweb.engine.listing import list_for_pickers
    from tlweb.engine.runs import load_run

    sess = FtSession()
    sess.task = task
    outs = _drain(th.train(task, "sample", None, None, None, None, model, strategy, "1", "auto", "auto", 0, sess))
    t, r, runs = tab.train, tab.tasks.results, tab.runs
    shown = [t.status, t.curves, r.metrics, r.hint, r.per_class_plot, r.worst, r.before, r.after, r.ba_note,
             runs.table, runs.run_pick]
    assert len(outs) >= 2 and all(set(o) <= set(shown) and t.status in o for o in outs)
    assert set(outs[-1]) == set(shown)
    status, curves, metrics, hint, bars, worst, before, after, note, table, pick = (outs[-1][c] for c in shown)
    assert "Done" in status and f"test {word}" in status
    assert f"test {word}" in metrics and "test images" in metrics
    run_id = sess.last_run
    assert run_id and run_id in hint
    info, events, m = load_run(run_id, settings)
    assert m["task"] == task
    names = [t.get("name") for t in curves.to_dict()["data"]]
    assert "train loss (per step)" in names
    fig = bars.to_dict()
    assert list(fig["data"][0]["x"]) == list(info.class_names)
    key = "per_class_iou" if task == SEGMENTATION else "per_class_ap"
    shown = [t for t in fig["data"][0]["text"]]
    expected = [f"{v * 100:.1f}%" if v is not None else "n/a" for v in m[key].values()]
    assert shown == expected  # the bars are the run's numbers, as %
    assert fig["layout"]["yaxis"]["title"]["text"] and fig["layout"]["xaxis"]["title"]["text"]
    assert isinstance(worst, list)
    assert before is not None and after is not None, note
    assert "before" in note and "after" in note
    # the run is listed for the Segment / Detect tab by its short title
    specs = {s.key: s for s in list_for_pickers(task, settings) if s.source == "run"}
    assert run_id in specs
    # "Use this model in Segment / Detect" picks it there
    from tlweb.ui.links import run_in_task_tab

    opened = run_in_task_tab(sess.task_run, settings, "tabs", {"segment": "seg", "detect": "det"})
    mine, other = ("seg", "det") if task == SEGMENTATION else ("det", "seg")
    picked = opened[mine]
    assert picked["value"] == run_id and run_id in [v for _, v in picked["choices"]]
    assert other not in opened  # the other tab's dropdown stays as it is
    # the Runs step's open button: its tab, not Classify (Classify's list and box left as they are)
    from tlweb.ui.links import open_run_in_task_tab, run_in_classify

    strip, classify_model, classify_box = run_in_classify(run_id, settings)
    assert strip.selected == ("segment" if task == SEGMENTATION else "detect")
    assert all(isinstance(u, dict) and u.get("__type__") == "update" and len(u) == 1
               for u in (classify_model, classify_box))
    then = open_run_in_task_tab(run_id, settings, {"segment": "seg", "detect": "det"})
    assert list(then) == [mine] and then[mine]["value"] == run_id
    # the run's report shows the task's numbers, not classification's
    from tlweb.viz.report_training import run_report_html

    page = run_report_html(run_id, settings)
    assert ("IoU" if task == SEGMENTATION else "AP@[.5:.95]") in page and "Per class on the test set" in page
    assert "confusion" not in page.lower()
    nxt = th.next_before_after(sess)
    assert nxt[0] is not None and sess.task_run["index"] == 1


def test_segmentation_sample_through_the_engine_reader(settings):
    from tlweb.engine.train.tasks import train_task

    data = train_task(SEGMENTATION).load_data("sample", settings=settings)
    assert data.class_names == ["background", "circle", "square", "triangle"]
    assert len(data.train) == 40 and len(data.test) == 20 and data.source == "sample"
    assert data.test_from == "test/ folder"
