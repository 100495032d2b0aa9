"""Fine-tuning as a GPU generator: the fine-tune, ladder and data-efficiency paths under the ZeroGPU
stand-in (a forked worker per run, arguments and every event pickled), live events, Stop through the
run folder's STOP file written by the parent, and the duration rule with its refusal."""

from __future__ import annotations

import json
import os
from dataclasses import replace

import pytest

from tests.engine.ft_helpers import shapes_folder
from tlweb.engine import runs as R
from tlweb.engine import stop
from tlweb.engine import zerogpu as zg
from tlweb.engine.data import load_data
from tlweb.engine.runs import files, store
from tlweb.engine.train import (
    RunResult,
    TooLongForZeroGpu,
    TrainConfig,
    TrainEvent,
    check_fits,
    data_efficiency,
    iter_finetune,
    ladder,
    start_run,
    stream,
    train_seconds,
)
from tlweb.errors import ModelError

NAME = "tlweb.engine.train.stream.finetune_stream"


@pytest.fixture(scope="module")
def shapes(tmp_path_factory, settings):
    root = shapes_folder(tmp_path_factory.mktemp("shapes"), per_class=8, test_per_class=3, size=32, seed=7)
    return load_data(str(root), settings=settings)


@pytest.fixture
def emulated(monkeypatch):
    """The module's GPU function behind the fork-and-pickle stand-in (what TLWEB_ZEROGPU=emulate does at
    import), and the stand-in's log of calls from here on."""
    monkeypatch.setattr(stream, "finetune_stream", zg.wrap(zg.GPU_TASKS[NAME], zg.emulated_gpu))
    monkeypatch.setenv(zg.ENV, "emulate")  # check_fits applies ZeroGPU's per-call limit
    start = len(zg.EMULATOR_LOG)
    return lambda: [s for n, s in zg.EMULATOR_LOG[start:] if n == "finetune_stream"]


class FakeData:
    """Only what the duration rule reads: the image counts (no images)."""

    def __init__(self, per_class: int, classes: int = 10, test: int = 50):
        self.per_class, self.classes, self.test = per_class, classes, test

    def counts(self):
        names = [f"c{i}" for i in range(self.classes)]
        return {"train": dict.fromkeys(names, self.per_class), "test": dict.fromkeys(names, self.test)}


def test_the_gpu_function_is_a_registered_generator_with_a_rule(settings, demo_models):
    task = zg.GPU_TASKS[NAME]
    assert task.cap == zg.TRAIN_CAP_S and "epochs × steps × batch" in task.rule and "clamped to [20, 300] s" in task.rule
    assert stream.finetune_stream is task.fn  # off ZeroGPU: the plain generator, unchanged
    small = TrainConfig("demo-vit", FakeData(20), "full", epochs=2)
    seconds = {k: train_seconds({"cfg": c, "settings": settings}) for k, c in {
        "small": small, "epochs": replace(small, epochs=20), "images": replace(small, data=FakeData(200)),
        "model": replace(small, model="vit-base"), "linear": replace(small, strategy="linear"),
        "per_class": replace(small, data=FakeData(200), per_class=20)}.items()}
    assert seconds["small"] < seconds["epochs"] and seconds["small"] < seconds["images"] < seconds["model"] * 10
    assert seconds["small"] < seconds["model"] and seconds["linear"] < seconds["small"]
    assert seconds["per_class"] < seconds["images"]
    assert task.duration(replace(small, model="vit-base", data=FakeData(500), epochs=50), settings) == 300
    assert task.duration(small, settings) == zg.MIN_S  # a tiny run still asks for the floor


def test_the_model_is_downloaded_before_the_gpu_is_asked_for(settings, monkeypatch):
    from tlweb.engine import availability, loading

    fetched = []
    monkeypatch.setattr(availability, "hub_offline_forced", lambda: False)
    monkeypatch.setattr(loading, "download", lambda name, settings=None: fetched.append(name))
    monkeypatch.setattr(zg, "_FETCHED", set())
    zg.prefetch(zg.GPU_TASKS[NAME], (TrainConfig("someone/a-backbone", FakeData(5), "full"), settings), {})
    assert fetched == ["someone/a-backbone"]


def test_a_fine_tune_too_long_for_one_call_is_refused_on_zerogpu_only(shapes, settings, demo_models, monkeypatch):
    big = TrainConfig("vit-base", FakeData(500), "full", epochs=40)
    monkeypatch.setenv(zg.ENV, "off")
    assert check_fits(big, settings) > zg.TRAIN_CAP_S  # a GPU server has no such limit
    monkeypatch.setenv(zg.ENV, "emulate")
    with pytest.raises(TooLongForZeroGpu) as info:
        check_fits(big, settings)
    text = str(info.value)
    assert text.startswith("This fine-tune needs about ") and "more than the 5 min one ZeroGPU call" in text
    fit = int(text.split("ask for ")[1].split(" epoch")[0])  # the largest number of epochs that fits
    assert 1 <= fit < 40
    assert train_seconds({"cfg": replace(big, epochs=fit), "settings": settings}) <= zg.TRAIN_CAP_S
    assert train_seconds({"cfg": replace(big, epochs=fit + 1), "settings": settings}) > zg.TRAIN_CAP_S
    assert check_fits(replace(big, epochs=fit), settings) <= zg.TRAIN_CAP_S
    # a ladder with one run too long is refused before its first run, and makes no experiment folder
    before = set(settings.runs_dir.iterdir()) if settings.runs_dir.is_dir() else set()
    with pytest.raises(TooLongForZeroGpu):
        ladder("vit-base", shapes, strategies=("linear", "full"), epochs=5000, settings=settings)
    assert (set(settings.runs_dir.iterdir()) if settings.runs_dir.is_dir() else set()) == before


def test_fine_tune_forked_streams_live_and_stops_through_the_stop_file(shapes, settings, demo_models, emulated):
    cfg = start_run(TrainConfig("demo-vit", shapes, "full", epochs=40, batch_size=4), settings)
    run_dir = R.run_path(os.path.basename(cfg.out_dir), settings)
    assert run_dir == stream.Path(cfg.out_dir) and not any(run_dir.iterdir())  # the caller's folder, empty
    items, live = [], None
    for item in iter_finetune(cfg, settings):
        items.append(item)
        if isinstance(item, TrainEvent) and item.kind == "step" and live is None:
            live = not (run_dir / "metrics.json").exists()  # the run is still training
            store.request_stop(run_dir)  # the Stop button: a file the forked worker's loop sees between steps
    result = items[-1]
    events = [i for i in items if isinstance(i, TrainEvent)]
    assert isinstance(result, RunResult) and live is True
    assert json.loads((run_dir / "config.json").read_text())["pid"] != os.getpid()  # trained in the fork
    assert emulated() == [zg.GPU_TASKS[NAME].duration(cfg, settings)]  # one GPU call, its duration asked for
    assert result.stopped and events[-1].kind == "stopped" and events[-1].step < events[-1].total_steps
    assert result.run_dir == run_dir and (run_dir / "model" / "config.json").is_file()
    assert json.loads((run_dir / "metrics.json").read_text())["status"] == "stopped"
    assert [e.as_dict() for e in events] == files.read_events(run_dir)  # the same events, live and on disk


def test_closing_the_stream_stops_the_forked_run_and_keeps_its_model(shapes, settings, demo_models, emulated):
    run = iter_finetune(TrainConfig("demo-vit", shapes, "full", epochs=40, batch_size=4), settings)
    first = next(e for e in run if e.kind == "step")
    run.close()  # the page went away: the STOP file is written and the worker finishes cleanly
    run_dir = R.run_path(first.run_id, settings)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["status"] == "stopped" and (run_dir / "model" / "config.json").is_file()
    assert R.entry_info(first.run_id, settings).status == "stopped"


def test_ladder_forked_one_call_per_run_live_events_and_stop(shapes, settings, demo_models, emulated):
    seen: list[TrainEvent] = []
    live = []

    def on_event(e):
        seen.append(e)
        if e.strategy == "full" and e.kind == "step" and not live:
            run_dir = R.run_path(e.run_id, settings)
            live.append(not (run_dir / "metrics.json").exists())
            store.request_stop(run_dir.parent)  # Stop on a ladder: the experiment folder's STOP file

    results = ladder("demo-vit", shapes, strategies=("linear", "full", "scratch"), on_event=on_event, settings=settings,
                     epochs=40, batch_size=4, seeds=1)
    assert live == [True]
    assert [r.strategy for r in results] == ["linear", "full"]  # scratch never started
    assert not results[0].stopped and results[1].stopped
    assert len(emulated()) == 2  # one GPU call per run
    exp = R.entry_info(results[0].run_dir.parent.name, settings)
    assert exp.kind == "ladder" and exp.status == "stopped" and len(exp.runs) == 2
    assert {e.run_id for e in seen} == {r.run_id for r in results}


def test_data_efficiency_forked_stops_through_should_stop(shapes, settings, demo_models, emulated):
    steps = []
    rows = data_efficiency("demo-vit", shapes, shots=(2, 4), strategies=("full",), settings=settings, seeds=1, epochs=40,
                           batch_size=2, on_event=lambda e: steps.append(e) if e.kind == "step" else None,
                           should_stop=lambda: len(steps) >= 2)
    assert len(rows) == 1 and rows[0]["stopped"] and rows[0]["per_class"] == 2
    run_dir = R.run_path(rows[0]["run_id"], settings)
    assert (run_dir.parent / stop.STOP_FILE).is_file()  # should_stop became the experiment's STOP file
    assert R.entry_info(run_dir.parent.name, settings).status == "stopped"
    assert len(emulated()) == 1


def test_a_refused_run_leaves_no_folder_and_its_sentence_crosses_the_fork(shapes, settings, demo_models, emulated):
    cfg = start_run(TrainConfig("demo-detr", shapes, "linear"), settings)
    with pytest.raises(ModelError, match="is an object detector, not an image classifier"):
        list(iter_finetune(cfg, settings))  # raised in the forked worker, re-raised here as itself
    assert emulated() and not stream.Path(cfg.out_dir).exists()
