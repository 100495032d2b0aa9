"""Experiments: a ladder or a data-efficiency curve is one folder holding its runs; lists show
experiments and single runs by short titles; runs inside experiments resolve as models; Stop and
deletion go through the folders; the old flat layout keeps working."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.engine.ft_helpers import one_thread, shapes_data  # noqa: F401
from tlweb.catalog import CLASSIFICATION
from tlweb.engine import runs as R
from tlweb.engine import stop
from tlweb.engine.listing import list_models, resolve, run_specs
from tlweb.engine.runs import files, present, store
from tlweb.engine.train import TrainConfig, data_efficiency, finetune, ladder, start_experiment
from tlweb.errors import DataError

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory, settings):
    return shapes_data(tmp_path_factory.mktemp("shapes"), settings, per_class=6, test_per_class=2, size=32, seed=3)


@pytest.fixture(scope="module")
def lad(shapes, settings, demo_models):
    return ladder("demo-vit", shapes, strategies=("linear", "two-step"), epochs=1, seeds=1, settings=settings)


@pytest.fixture(scope="module")
def eff(shapes, settings, demo_models):
    return data_efficiency("demo-vit", shapes, shots=(1, 2), strategies=("linear",), epochs=1, seeds=1, settings=settings)


def test_a_ladder_is_one_folder_holding_its_runs(lad, settings):
    exp_dir = lad[0].run_dir.parent
    assert exp_dir.parent == settings.runs_dir and all(r.run_dir.parent == exp_dir for r in lad)
    meta = json.loads((exp_dir / files.EXPERIMENT_FILE).read_text())
    assert meta["kind"] == "ladder" and meta["base_model"] == "demo-vit" and meta["status"] == "done"
    assert meta["strategies"] == ["linear", "two-step"] and meta["data"]["classes"] == 4
    assert meta["data"]["counts"]["train"] == {"circle": 4, "cross": 4, "square": 4, "triangle": 4}
    assert meta["created"] and meta["experiment_id"] == exp_dir.name and meta["train_config"] == {"epochs": 1, "seed": 0, "seeds": 1}
    for r in lad:  # each run records its experiment
        assert json.loads((r.run_dir / "config.json").read_text())["experiment_id"] == exp_dir.name


def test_lists_show_experiments_and_single_runs_by_title(lad, eff, shapes, settings):
    single = finetune(TrainConfig("demo-vit", shapes, "linear", epochs=2), settings=settings)
    entries = R.list_entries(settings)
    assert entries == sorted(entries, key=lambda e: e.created, reverse=True)
    exps = {e.exp_dir: e for e in entries if isinstance(e, R.ExperimentInfo)}
    ladder_exp = exps[lad[0].run_dir.parent]
    eff_exp = exps[R.run_path(eff[0]["run_id"], settings).parent]
    assert (ladder_exp.kind, eff_exp.kind) == ("ladder", "data-efficiency")
    assert [r.run_id for r in ladder_exp.runs] == [r.run_id for r in lad]  # in the order they ran
    assert ladder_exp.title == f"demo-vit · ladder · {present.when(ladder_exp.created)}"
    assert [r.part for r in eff_exp.runs] == ["linear · 1/class", "linear · 2/class"] and eff_exp.shots == [1, 2]
    assert eff_exp.best.test_accuracy == max(r["test_accuracy"] for r in eff)
    rows = present.experiment_rows(eff_exp)
    assert [(r["per_class"], r["train_images"]) for r in rows] == [(1, 4), (2, 8)]
    # single runs are entries of their own; experiments' runs are not listed twice
    ids = [getattr(e, "run_id", None) for e in entries]
    assert single.run_id in ids and not {r.run_id for r in lad} & set(ids)
    info = next(e for e in entries if getattr(e, "run_id", None) == single.run_id)
    assert info.title == f"demo-vit · linear · {present.when(info.created)}" and info.experiment_id == ""
    # every run, flat (what list_runs always gave)
    flat = {r.run_id for r in R.list_runs(settings)}
    assert {single.run_id, *(r.run_id for r in lad), *(r["run_id"] for r in eff)} <= flat


def test_runs_inside_experiments_load_and_resolve_as_models(lad, settings):
    run = lad[1]
    info, events, metrics = R.load_run(run.run_id, settings)
    assert info.experiment_id == run.run_dir.parent.name and info.strategy == "two-step"
    assert events[-1]["kind"] == "done" and metrics["test_accuracy"] == pytest.approx(run.test_accuracy)
    spec = resolve(run.run_id, settings=settings)
    assert spec.source == "run" and spec.key == run.run_id and spec.hub_id == str(run.model_dir.resolve())
    assert spec.label == f"{info.title} (fine-tuned here)"
    assert resolve(spec.label, settings=settings) == spec == resolve(str(run.model_dir), settings=settings)
    listed = [s for s in list_models(CLASSIFICATION, settings) if s.key == run.run_id]
    assert listed == [spec] and {s.key for s in run_specs(settings)} >= {r.run_id for r in lad}


def test_old_flat_runs_keep_listing_and_loading(lad, settings):
    """A run folder written before experiments existed (no experiment_id in its config)."""
    old = settings.runs_dir / "20250101-120000-linear-demo-vit-old1"
    shutil.copytree(lad[0].run_dir, old)
    cfg = json.loads((old / "config.json").read_text())
    del cfg["experiment_id"]
    cfg["run_id"], cfg["created"] = old.name, "2025-01-01T12:00:00+00:00"
    (old / "config.json").write_text(json.dumps(cfg))
    try:
        info = next(e for e in R.list_entries(settings) if getattr(e, "run_id", None) == old.name)
        assert info.status == "done" and info.title == "demo-vit · linear · 2025-01-01 12:00"
        assert R.load_run(old.name, settings)[0].run_dir == old
        assert resolve(old.name, settings=settings).source == "run"
    finally:
        shutil.rmtree(old)


def test_stop_file_stops_an_experiment_before_its_next_run(shapes, settings, demo_models):
    exp_dir = start_experiment("ladder", "demo-vit", shapes, ["linear", "full"], settings)
    assert store.request_stop(exp_dir.name, settings) == exp_dir and store.stop_requested(exp_dir)
    assert ladder("demo-vit", shapes, strategies=("linear", "full"), seeds=1, settings=settings, experiment=exp_dir) == []
    # a run inside the experiment sees the experiment's STOP file between its steps
    res = finetune(TrainConfig("demo-vit", shapes, "full", epochs=3, experiment=str(exp_dir)), settings=settings)
    assert res.stopped and res.run_dir.parent == exp_dir and res.history[-1].kind == "stopped"
    assert R.entry_info(exp_dir.name, settings).status == "running"  # the caller owns it: still open
    store.finish_experiment(exp_dir, "stopped")
    assert R.entry_info(exp_dir.name, settings).status == "stopped"


def test_stop_file_stops_a_single_run_between_steps(shapes, settings, demo_models):
    from tlweb.engine.train import Callback

    class AskToStop(Callback):  # what another process does: write the run folder's STOP file
        def on_step_end(self, loop):
            if loop.step == 3:
                store.request_stop(self.run_dir)

        def on_run_start(self, run_id, run_dir):
            self.run_dir = run_dir

    res = finetune(TrainConfig("demo-vit", shapes, "full", epochs=5, batch_size=4), settings=settings,
                   callbacks=[AskToStop()])
    assert res.stopped and res.history[-1].step == 3
    assert json.loads((res.run_dir / "metrics.json").read_text())["status"] == "stopped"


def test_delete_runs_and_experiments(shapes, settings, demo_models):
    lad2 = ladder("demo-vit", shapes, strategies=("linear",), epochs=1, seeds=1, settings=settings)
    exp_dir = lad2[0].run_dir.parent
    with pytest.raises(DataError, match="no run or experiment"):
        store.delete_entry("no-such-thing", settings)
    assert present.describe(R.entry_info(exp_dir.name, settings)).endswith("(1 run)")
    assert store.delete_entry(exp_dir.name, settings).startswith("experiment demo-vit · ladder")
    assert not exp_dir.exists() and lad2[0].run_id not in {r.run_id for r in R.list_runs(settings)}
    assert lad2[0].run_id not in {s.key for s in run_specs(settings)}
    # a run that is still training (its process holds the run's lock, no metrics yet) is refused unless forced
    run_id, path = store.new_run_dir(settings, "busy")
    writer = files.RunWriter(run_id, path)
    writer.write_config({"strategy": "full", "base_model": "demo-vit", "created": stop.now_iso(), "pid": os.getpid()})
    with pytest.raises(DataError, match="still running"):
        store.delete_entry(run_id, settings)
    assert store.delete_entry(run_id, settings, force=True).startswith("run demo-vit · full · ")
    writer.close()
    assert not path.exists()


def test_events_since_follows_a_growing_file(tmp_path):
    (tmp_path / "events.jsonl").write_text('{"kind": "start"}\n{"kind": "st')
    events, offset = files.read_events_since(tmp_path)
    assert events == [{"kind": "start"}] and offset == len('{"kind": "start"}\n')
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write('ep", "step": 1}\n')
    events, offset2 = files.read_events_since(tmp_path, offset)
    assert events == [{"kind": "step", "step": 1}] and offset2 > offset
    assert files.read_events_since(tmp_path, offset2) == ([], offset2)


def test_ladder_and_curve_repeat_each_run_with_three_seeds_by_default(shapes, settings, demo_models):
    from tlweb.engine.train import DEFAULT_SEEDS

    assert DEFAULT_SEEDS == 3
    results = ladder("demo-vit", shapes, strategies=("linear",), epochs=1, settings=settings)
    assert len(results) == 3 and len({r.run_id for r in results}) == 3
    exp = R.entry_info(results[0].run_dir.parent.name, settings)
    assert sorted(r.seed for r in exp.runs) == [0, 1, 2]
    assert {row["seed"] for row in present.experiment_rows(exp)} == {0, 1, 2}
    assert all(row["test_images"] == 8 for row in present.experiment_rows(exp))
    rows = data_efficiency("demo-vit", shapes, shots=(1,), strategies=("linear",), epochs=1, seeds=2, seed=5,
                           settings=settings)
    assert [(r["per_class"], r["seed"]) for r in rows] == [(1, 5), (1, 6)]
    assert all(r["test_images"] == 8 for r in rows)


def test_a_fast_run_still_draws_its_loss_as_a_curve(shapes, settings, demo_models):
    """Step events are thinned by time (~4 a second) but never below about STEP_POINTS per run: a run
    that takes a fraction of a second used to leave two points, drawn as a straight diagonal."""
    from tlweb.engine.train.config import STEP_POINTS

    events = []
    res = finetune(TrainConfig("demo-vit", shapes, "full", epochs=2, batch_size=4, seed=0),
                   on_event=events.append, settings=settings)
    steps = [e for e in events if e.kind == "step"]
    total = steps[-1].total_steps
    assert len(steps) >= min(total, STEP_POINTS) * 0.9, (len(steps), total)
    assert len({round(e.train_loss, 6) for e in steps}) > 3  # a curve, not a line between two points
    assert res.wall_s < 60
