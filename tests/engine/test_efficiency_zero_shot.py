"""The zero-shot baseline of the data-efficiency curve: a CLIP/SigLIP model classifies the curve's
test split from the class names alone; its row comes first in the stream, is kept in the experiment
folder (a reopened experiment and ``runs ls --json`` show it), and a classifier is refused with a sentence."""

from __future__ import annotations

import json

import pytest

from tests.engine.ft_helpers import one_thread, shapes_data  # noqa: F401
from tlweb.engine import runs as R
from tlweb.engine.runs import files, present, store
from tlweb.engine.train import TrainEvent, data_efficiency, iter_efficiency
from tlweb.errors import TlwebError

pytestmark = pytest.mark.usefixtures("one_thread")

TEMPLATES = ["a photo of a {}.", "a drawing of a {}."]


@pytest.fixture(scope="module")
def shapes(tmp_path_factory, settings):
    return shapes_data(tmp_path_factory.mktemp("zs-shapes"), settings, per_class=6, test_per_class=3, size=32, seed=5)


@pytest.fixture(scope="module")
def curve(shapes, settings, demo_models):
    return data_efficiency("demo-vit", shapes, shots=(1, 2), strategies=("linear",), epochs=1, seeds=1,
                           zero_shot="demo-clip", templates="\n".join(TEMPLATES), settings=settings)


def test_the_zero_shot_row_comes_first_and_matches_a_direct_evaluation(curve, shapes, settings):
    from tlweb.engine.zeroshot import zero_shot_eval

    zs, *runs = curve
    assert zs["kind"] == "zero-shot" and [r["per_class"] for r in runs] == [1, 2]
    assert "kind" not in runs[0] and zs["train_images"] == 0
    direct = zero_shot_eval(shapes, "demo-clip", TEMPLATES, settings=settings)
    assert zs["model"] == "demo-clip" and zs["templates"] == TEMPLATES and zs["scoring"] == "softmax"
    assert zs["test_images"] == direct.images == runs[0]["test_images"] == 12  # the curve's own test split
    assert zs["test_accuracy"] == pytest.approx(direct.accuracy)
    assert zs["test_macro_f1"] == pytest.approx(direct.macro_f1)
    assert zs["correct"] == round(direct.accuracy * 12)
    assert zs["random_weights"] is True  # demo-clip has random weights: charts must say so


def test_the_row_is_kept_in_the_experiment_folder(curve, settings):
    exp_dir = R.run_path(curve[1]["run_id"], settings).parent
    meta = json.loads((exp_dir / files.EXPERIMENT_FILE).read_text())
    assert meta["status"] == "done"  # finishing the experiment kept the baseline beside its status
    assert meta["zero_shot"]["model"] == "demo-clip"
    assert meta["zero_shot"]["test_accuracy"] == pytest.approx(curve[0]["test_accuracy"])
    info = R.entry_info(exp_dir.name, settings)
    assert info.zero_shot["test_images"] == 12 and info.as_dict()["zero_shot"]["templates"] == TEMPLATES
    assert len(info.runs) == 2  # the baseline is no run


def test_a_classifier_is_refused_before_anything_runs(shapes, settings, demo_models):
    before = {p.name for p in settings.runs_dir.iterdir()} if settings.runs_dir.is_dir() else set()
    with pytest.raises(TlwebError) as info:
        list(iter_efficiency("demo-vit", shapes, shots=(1,), strategies=("linear",), epochs=1,
                             zero_shot="demo-vit", settings=settings))
    text = str(info.value)
    assert text.startswith("'demo-vit' is an image classifier, not a CLIP or SigLIP model") and "\n" not in text
    after = {p.name for p in settings.runs_dir.iterdir()} if settings.runs_dir.is_dir() else set()
    assert after == before  # no experiment folder left behind
    with pytest.raises(TlwebError, match="exactly once"):
        list(iter_efficiency("demo-vit", shapes, shots=(1,), strategies=("linear",), zero_shot="demo-clip",
                             templates="a photo without a slot", settings=settings))


def test_stop_before_the_baseline_skips_it_and_every_run(shapes, settings, demo_models):
    from tlweb.engine.train import start_experiment

    exp_dir = start_experiment("data-efficiency", "demo-vit", shapes, ("linear",), settings, shots=(1,))
    store.request_stop(exp_dir, settings)
    items = list(iter_efficiency("demo-vit", shapes, shots=(1,), strategies=("linear",), epochs=1,
                                 zero_shot="demo-siglip", experiment=exp_dir, settings=settings))
    assert not [i for i in items if not isinstance(i, TrainEvent)]
    assert "zero_shot" not in json.loads((exp_dir / files.EXPERIMENT_FILE).read_text())


def test_the_experiment_report_and_the_reopened_chart_draw_the_line(curve, settings):
    from tlweb.viz.report_training import experiment_report_html
    from tlweb.viz.training import efficiency_curves

    exp_id = R.run_path(curve[1]["run_id"], settings).parent.name
    markup = experiment_report_html(exp_id, settings)
    label = f"zero-shot demo-clip (random weights): 0 images · {curve[0]['test_accuracy'] * 100:.0f}%"
    assert label in markup and "class names only" in markup
    info = R.entry_info(exp_id, settings)
    fig = efficiency_curves(present.experiment_rows(info), zero_shot=info.zero_shot)
    (line,) = [t for t in fig.data if (t.meta or {}).get("kind") == "zero-shot"]
    assert line.name == label and line.line.dash == "dash"
