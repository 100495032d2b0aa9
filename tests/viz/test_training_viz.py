"""Fine-tune figures from hand-made events / metrics (no engine, no model)."""

from __future__ import annotations

import json
from dataclasses import dataclass

import plotly.graph_objects as go
import pytest

from tlweb.viz import training as tv


def _events(run_id="r1", strategy="full", epochs=3, steps_per_epoch=4):
    evs = [{"kind": "start", "run_id": run_id, "strategy": strategy, "epoch": 0.0, "step": 0,
            "total_steps": epochs * steps_per_epoch}]
    step = 0
    for ep in range(epochs):
        for _s in range(steps_per_epoch):
            step += 1
            evs.append({"kind": "step", "run_id": run_id, "strategy": strategy, "epoch": step / steps_per_epoch,
                        "step": step, "total_steps": epochs * steps_per_epoch, "train_loss": 2.0 / step,
                        "lr": 1e-3, "images_per_s": 50.0, "eta_s": 3.0})
        evs.append({"kind": "eval", "run_id": run_id, "strategy": strategy, "epoch": float(ep + 1), "step": step,
                    "total_steps": epochs * steps_per_epoch, "val_loss": 1.5 - 0.3 * ep,
                    "val_accuracy": 0.4 + 0.2 * ep})
    evs.append({"kind": "done", "run_id": run_id, "strategy": strategy, "epoch": float(epochs), "step": step,
                "total_steps": epochs * steps_per_epoch})
    return evs


def _traces(fig, name_part):
    return [t for t in fig.data if name_part in (t.name or "")]


def test_class_counts_bar_has_train_and_test_per_class():
    fig = tv.class_counts_bar({"train": {"cat": 8, "dog": 6}, "test": {"cat": 2, "dog": 3}})
    assert isinstance(fig, go.Figure)
    names = [t.name for t in fig.data]
    assert names == ["train (14)", "test (5)"]
    assert list(fig.data[0].x) == ["cat", "dog"] and list(fig.data[0].y) == [8, 6]
    assert list(fig.data[1].y) == [2, 3]
    assert fig.layout.xaxis.title.text == "class" and fig.layout.yaxis.title.text == "images"


def test_class_counts_handles_class_missing_from_test():
    fig = tv.class_counts_bar({"train": {"a": 3, "b": 4}, "test": {"a": 1}})
    assert list(fig.data[1].y) == [1, 0]


def test_training_curves_from_events_dicts():
    fig = tv.training_curves(_events(epochs=3, steps_per_epoch=4))
    train = _traces(fig, "train loss")
    val = _traces(fig, "validation loss")
    acc = _traces(fig, "validation accuracy")
    assert len(train) == len(val) == len(acc) == 1
    assert len(train[0].x) == 12 and train[0].x[-1] == pytest.approx(3.0)
    assert list(val[0].x) == [1.0, 2.0, 3.0]
    assert list(acc[0].y) == pytest.approx([40.0, 60.0, 80.0])  # shown in %
    # labelled axes: epochs on x, loss and accuracy (%) on y
    assert fig.layout.xaxis.title.text == "epoch" and fig.layout.xaxis2.title.text == "epoch"
    assert fig.layout.yaxis.title.text == "cross-entropy loss"
    assert fig.layout.yaxis2.title.text == "accuracy (%)"
    json.dumps(fig.to_plotly_json(), default=str)  # serialisable for gr.Plot


def test_training_curves_accepts_objects_with_as_dict():
    @dataclass
    class Ev:
        kind: str
        run_id: str
        strategy: str
        epoch: float
        step: int
        total_steps: int
        train_loss: float | None = None
        val_loss: float | None = None
        val_accuracy: float | None = None

        def as_dict(self):
            return dict(self.__dict__)

    fig = tv.training_curves([Ev("step", "r", "linear", 0.5, 1, 4, train_loss=1.0),
                              Ev("eval", "r", "linear", 1.0, 2, 4, val_loss=0.9, val_accuracy=0.5)])
    assert list(_traces(fig, "train loss")[0].y) == [1.0]
    assert list(_traces(fig, "validation accuracy")[0].y) == [50.0]


def test_training_curves_several_runs_get_one_colour_each():
    evs = _events("a", "linear", 2, 2) + _events("b", "scratch", 2, 2)
    fig = tv.training_curves(evs)
    lin = _traces(fig, "linear probe")
    scr = _traces(fig, "from scratch")
    assert len(lin) == 3 and len(scr) == 3
    assert lin[0].line.color == tv.STRATEGY_COLORS["linear"]
    assert scr[-1].line.color == tv.STRATEGY_COLORS["scratch"]


def test_training_curves_empty_says_so():
    fig = tv.training_curves([])
    assert not fig.data
    assert "while training" in fig.layout.annotations[-1].text


def test_training_curves_ignores_nan_and_none():
    evs = [{"kind": "step", "run_id": "r", "strategy": "full", "epoch": 0.5, "step": 1, "total_steps": 2,
            "train_loss": float("nan")},
           {"kind": "step", "run_id": "r", "strategy": "full", "epoch": 1.0, "step": 2, "total_steps": 2,
            "train_loss": 0.7}]
    fig = tv.training_curves(evs)
    assert list(_traces(fig, "train loss")[0].y) == [0.7]


def test_confusion_heatmap_rows_true_counts_and_row_percent():
    cm = [[3, 1], [0, 4]]
    fig = tv.confusion_heatmap(cm, ["cat", "dog"])
    hm = fig.data[0]
    assert list(hm.x) == ["cat", "dog"] and list(hm.y) == ["cat", "dog"]
    assert hm.z[0] == pytest.approx((75.0, 25.0)) and hm.z[1] == pytest.approx((0.0, 100.0))
    assert hm.text[0][0] == "3<br>75%"
    assert fig.layout.yaxis.title.text == "true class" and fig.layout.xaxis.title.text == "predicted class"
    assert fig.layout.yaxis.autorange == "reversed"  # first class on top, like a table


def test_confusion_heatmap_follows_the_theme():
    """No white tiles on a dark page: empty cells are a faint translucent tint; the numbers are annotations in
    the chart's text colour (which the dark theme repaints) on light cells, white on dark ones."""
    from tlweb.viz.common import TEXT

    fig = tv.confusion_heatmap([[3, 1], [0, 4]], ["cat", "dog"])
    hm = fig.data[0]
    assert hm.texttemplate is None  # plotly's own cell text picks its colour against a white page
    low = hm.colorscale[0][1]
    assert low.startswith("rgba(") and float(low.rstrip(")").split(",")[-1]) < 0.2, low
    labels = {(a.x, a.y): (a.text, a.font.color) for a in fig.layout.annotations if a.xref == "x"}
    assert labels[("cat", "cat")] == ("3<br>75%", "#FFFFFF")  # dark cell: white
    assert labels[("cat", "dog")] == ("0<br>0%", TEXT)  # empty cell: the theme's text colour


def test_confusion_heatmap_empty_row_is_zero_not_nan():
    fig = tv.confusion_heatmap([[0, 0], [1, 1]], ["a", "b"])
    assert fig.data[0].z[0] == pytest.approx((0.0, 0.0))


def test_per_class_bars_in_percent():
    per = {"cat": {"precision": 0.5, "recall": 1.0, "f1": 0.66, "support": 2},
           "dog": {"precision": 1.0, "recall": 0.25, "f1": 0.4, "support": 4}}
    fig = tv.per_class_bars(per)
    prec, rec = fig.data
    assert prec.name == "precision" and list(prec.y) == [50.0, 100.0]
    assert rec.name == "recall" and list(rec.y) == [100.0, 25.0]
    assert list(prec.customdata) == [2, 4]


def test_ladder_chart_accuracy_f1_and_wall_time():
    results = [
        {"strategy": "linear", "test_accuracy": 0.9, "test_macro_f1": 0.88, "wall_s": 1.23, "train_images": 40},
        {"strategy": "full", "test_accuracy": 0.8, "test_macro_f1": 0.75, "wall_s": 12.0, "train_images": 40},
        {"strategy": "scratch", "test_accuracy": 0.3, "test_macro_f1": 0.2, "wall_s": 10.5, "train_images": 40},
    ]
    fig = tv.ladder_chart(results, chance=0.25)
    acc, f1 = fig.data
    assert acc.name == "test accuracy" and list(acc.y) == pytest.approx([90.0, 80.0, 30.0])
    assert f1.name == "macro-F1" and list(f1.y) == pytest.approx([88.0, 75.0, 20.0])
    assert list(acc.x) == ["linear probe", "full fine-tune", "from scratch"]
    assert acc.customdata[0][0] == "1.2 s"  # wall time on hover
    assert "wall time" in acc.hovertemplate
    assert list(acc.marker.color) == [tv.STRATEGY_COLORS[s] for s in ("linear", "full", "scratch")]
    assert any("chance" in (a.text or "") for a in fig.layout.annotations)


def test_ladder_chart_takes_result_objects():
    class R:
        def __init__(self, s, a):
            self.strategy, self.test_accuracy, self.test_macro_f1, self.wall_s = s, a, a, 2.0

        def as_dict(self):
            return {"strategy": self.strategy, "test_accuracy": self.test_accuracy,
                    "test_macro_f1": self.test_macro_f1}

    fig = tv.ladder_chart([R("linear", 0.5), R("lora", 0.6)])
    assert list(fig.data[0].y) == [50.0, 60.0]
    assert fig.data[0].customdata[1][0] == "2.0 s"  # taken from the attribute when as_dict() lacks it


def test_efficiency_curves_log_x_one_line_per_strategy():
    rows = []
    for shots in (1, 2, 5, 10):
        rows.append({"strategy": "linear", "per_class": shots, "train_images": shots * 4,
                     "test_accuracy": 0.5 + shots / 25, "test_macro_f1": 0.5, "run_id": f"l{shots}"})
        rows.append({"strategy": "scratch", "per_class": shots, "train_images": shots * 4,
                     "test_accuracy": 0.25 + shots / 100, "test_macro_f1": 0.2, "run_id": f"s{shots}"})
    fig = tv.efficiency_curves(list(reversed(rows)), chance=0.25)
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.yaxis.title.text == "test accuracy (%)"
    lin = _traces(fig, "linear")[0]
    scr = _traces(fig, "scratch")[0]
    assert list(lin.x) == [1, 2, 5, 10]  # sorted by shots
    assert list(lin.y) == pytest.approx([54.0, 58.0, 70.0, 90.0])
    assert list(scr.y) == pytest.approx([26.0, 27.0, 30.0, 35.0])
    assert list(fig.layout.xaxis.tickvals) == [1, 2, 5, 10]


def test_efficiency_curves_empty_says_so():
    fig = tv.efficiency_curves([])
    assert not fig.data and fig.layout.annotations


def test_runs_table_rows():
    @dataclass
    class Info:
        run_id: str
        run_dir: str
        model_dir: str
        base_model: str
        strategy: str
        created: str
        status: str
        test_accuracy: float | None
        test_macro_f1: float | None
        class_names: list
        name: str

    rows = tv.runs_table([
        Info("20260101-120000-linear", "/x", "/x/model", "demo-vit", "linear", "2026-01-01T12:00:00+00:00",
             "done", 0.875, 0.8123, ["a", "b", "c"], "my run"),
        {"run_id": "r2", "base_model": "/home/u/.cache/tlweb/demo-models/demo-resnet", "strategy": "full",
         "created": "2026-01-01T11:00:00", "status": "running", "test_accuracy": None, "test_macro_f1": None,
         "class_names": []},
    ])
    from tlweb.engine.runs.present import when

    assert len(rows[0]) == len(tv.RUNS_HEADERS)
    # a short readable name (base model · strategy · time), the id last (what a pick selects)
    assert rows[0] == [f"demo-vit · linear · {when('2026-01-01T12:00:00+00:00')}", "done", 87.5, 81.2, 3,
                       "20260101-120000-linear"]
    assert rows[1][0].startswith("demo-resnet · full · ") and rows[1][2] is None and rows[1][-1] == "r2"


def test_runs_table_shows_an_experiment_with_its_runs():
    from tlweb.engine.runs import ExperimentInfo, RunInfo

    runs = [RunInfo(f"r-{s}", None, None, "demo-vit", s, f"2026-01-01T12:0{i}:00", "done", acc, acc, ["a", "b"],
                    per_class=k)
            for i, (s, acc, k) in enumerate((("linear", 0.9, 5), ("scratch", 0.5, 5)))]
    exp = ExperimentInfo("e1", None, "data-efficiency", "demo-vit", ["linear", "scratch"], "2026-01-01T12:00:00",
                         "done", runs, shots=[5])
    assert tv.runs_table([exp]) == [[f"▸ {exp.title} (2 runs)", "done", 90.0, 90.0, 2, "e1"]]  # collapsed
    rows = tv.runs_table([exp], expanded={"e1"})
    assert rows[0][0] == f"▾ {exp.title} (2 runs)" and "data efficiency" in rows[0][0]
    assert rows[0][1:] == ["done", 90.0, 90.0, 2, "e1"]  # the best run's scores
    assert [r[0] for r in rows[1:]] == ["  └ linear · 5/class", "  └ scratch · 5/class"]
    assert [r[-1] for r in rows[1:]] == ["r-linear", "r-scratch"]


def test_metrics_html_and_mistake_captions():
    out = tv.metrics_html({"strategy": "linear", "test_accuracy": 0.9, "test_macro_f1": 0.85,
                           "train_images": 40, "test_images": 10, "wall_s": 3.2, "run_id": "r1<x>",
                           "base_model": "demo-vit"})
    # 10 test images: the accuracy comes with its count and a 95 % Wilson interval, and a note
    assert "90%" in out and "9 of 10 test images" in out and "interval 60–98%" in out and "Only 10 test images" in out
    assert "85.0%" in out and "3.2 s" in out and "linear probe" in out
    big = tv.metrics_html({"strategy": "linear", "test_accuracy": 0.9, "test_macro_f1": 0.85, "test_images": 40})
    assert "90.0%" in big and "interval" not in big
    assert "r1&lt;x&gt;" in out and "r1<x>" not in out  # escaped
    caps = tv.mistake_captions([{"image": "/tmp/a.png", "true": "cat", "pred": "dog", "confidence": 0.93}])
    assert caps == [("/tmp/a.png", "cat → dog (93%)")]


def test_curves_say_when_evals_ran_on_the_test_split_for_monitoring():
    from tlweb.viz.training import training_curves

    events = [
        {"kind": "step", "epoch": 0.5, "train_loss": 1.2, "strategy": "full"},
        {"kind": "eval", "epoch": 1.0, "val_loss": 1.0, "val_accuracy": 0.5, "eval_split": "test", "strategy": "full"},
    ]
    names = [t.name for t in training_curves(events).data]
    assert "test accuracy (monitoring only)" in names
    events[1]["eval_split"] = "validation"
    names = [t.name for t in training_curves(events).data]
    assert "validation accuracy" in names


def test_ladder_with_seeds_is_the_mean_with_min_max_error_bars():
    rows = [{"strategy": "linear", "test_accuracy": a, "test_macro_f1": a - 0.1, "wall_s": 1.0, "test_images": 32}
            for a in (0.7, 0.8, 0.9)] + [{"strategy": "scratch", "test_accuracy": a, "test_macro_f1": a,
                                          "test_images": 32} for a in (0.4, 0.5, 0.6)]
    fig = tv.ladder_chart(rows)
    acc = fig.data[0]
    assert list(acc.x) == ["linear probe", "from scratch"] and [round(v, 6) for v in acc.y] == [80.0, 50.0]
    assert [round(v, 6) for v in acc.error_y.array] == [10.0, 10.0]
    assert [round(v, 6) for v in acc.error_y.arrayminus] == [10.0, 10.0]
    assert "3 seeds" in fig.layout.title.subtitle.text and "min" in acc.customdata[0][4]
    one = tv.ladder_chart(rows[:1] + rows[3:4])  # one seed each: plain bars, no subtitle
    assert one.data[0].error_y.array is None and not one.layout.title.subtitle.text


def test_efficiency_with_seeds_draws_a_band_and_small_test_sets_are_flagged():
    rows = [{"strategy": "linear", "per_class": k, "seed": s, "test_accuracy": 0.5 + 0.1 * s + 0.05 * k,
             "test_images": 8} for k in (1, 2) for s in range(3)]
    fig = tv.efficiency_curves(rows)
    upper, lower, line = fig.data
    assert [round(v, 6) for v in upper.y] == [75.0, 80.0] and [round(v, 6) for v in lower.y] == [55.0, 60.0]
    assert lower.fill == "tonexty" and line.mode == "lines+markers+text"
    assert [round(v, 6) for v in line.y] == [65.0, 70.0]
    sub = fig.layout.title.subtitle.text
    assert "3 seeds" in sub and "only 8 test images" in sub and "22–78 %" in sub  # Wilson for 4 of 8


def test_filter_entries_matches_every_word():
    from tlweb.engine.runs import ExperimentInfo, RunInfo

    run = RunInfo("r-1", None, None, "demo-vit", "linear", "2026-01-01T12:00:00", "done", 0.9, 0.9, ["a"])
    exp = ExperimentInfo("e-1", None, "ladder", "demo-resnet", ["full"], "2026-01-01T12:00:00", "failed",
                         [RunInfo("r-2", None, None, "demo-resnet", "full", "2026-01-01T12:00:00", "failed", None,
                                  None, [])])
    assert tv.filter_entries([run, exp], "") == [run, exp]
    assert tv.filter_entries([run, exp], "LADDER") == [exp]
    assert tv.filter_entries([run, exp], "demo linear") == [run]
    assert tv.filter_entries([run, exp], "failed full") == [exp]
    assert tv.filter_entries([run, exp], "nothing") == []


def test_expanded_experiment_rows_name_their_seeds():
    from tlweb.engine.runs import ExperimentInfo, RunInfo

    runs = [RunInfo(f"r{s}", None, None, "demo-vit", "linear", "2026-01-01T12:00:00", "done", 0.5, 0.5, ["a", "b"],
                    seed=s) for s in range(3)]
    exp = ExperimentInfo("e1", None, "ladder", "demo-vit", ["linear"], "2026-01-01T12:00:00", "done", runs)
    rows = tv.runs_table([exp], expanded={"e1"})
    assert [r[0] for r in rows[1:]] == ["  └ linear · seed 0", "  └ linear · seed 1", "  └ linear · seed 2"]


def test_runs_table_names_a_segmenter_or_detector_score():
    """Segmentation and detection runs have no accuracy: their row says their own test metric."""
    from tlweb.viz.training import runs_table

    seg = {"run_id": "r1", "title": "demo-upernet-shapes · decoder · 17:30", "status": "done", "test_accuracy": None,
           "test_macro_f1": None, "task": "image-segmentation", "metric": "miou", "test_metric": 0.315,
           "class_names": ["background", "circle"]}
    det = {**seg, "run_id": "r2", "task": "object-detection", "metric": "map", "test_metric": 0.5}
    cls = {**seg, "run_id": "r3", "task": "image-classification", "metric": "accuracy", "test_accuracy": 0.9,
           "test_macro_f1": 0.8, "test_metric": 0.9}
    rows = runs_table([seg, det, cls])
    assert rows[0][0].endswith("· test mIoU 31.5 %") and rows[0][2:4] == [None, None]
    assert rows[1][0].endswith("· test mAP@[.5:.95] 50.0 %")
    assert rows[2][0] == cls["title"] and rows[2][2:4] == [90.0, 80.0]
