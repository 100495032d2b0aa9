"""One training run for every task: a second task, made in the test (tests/engine/toy_task.py: per-pixel
squares, a two-layer conv net), goes through the same run as classification — its events carry the
task, its metric and its loss parts, Stop ends it cleanly, the best epoch is chosen by its metric on
held-out images, the run folder and metrics.json hold its own numbers, the CLI prints its own JSON,
the ladder and the data-efficiency curve are generic over it, it streams through the ZeroGPU
function, and a run resolves its model and looks its strategy up once."""

from __future__ import annotations

import json

import pytest
import torch

from tests.engine.ft_helpers import one_thread, shapes_data, tiny_resnet  # noqa: F401
from tests.engine.toy_task import TOY, ToyData, pretrained_encoder, toy_task  # noqa: F401
from tlweb.engine import runs as R
from tlweb.engine.runs import store
from tlweb.engine.train import (
    EVENT_FIELDS,
    Callback,
    RunResult,
    TrainConfig,
    TrainEvent,
    data_efficiency,
    finetune,
    iter_finetune,
    ladder,
)
from tlweb.errors import ModelError

pytestmark = pytest.mark.usefixtures("one_thread", "toy_task")


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A model folder to name (the toy task builds its own net; the run still resolves the name once)."""
    return str(tiny_resnet(tmp_path_factory.mktemp("toy-ckpt") / "tiny"))


def test_a_second_task_runs_through_the_same_run(ckpt, settings):
    events: list[TrainEvent] = []
    res = finetune(TrainConfig(ckpt, ToyData(), "full", epochs=6, batch_size=4, lr=0.02, task=TOY),
                   on_event=events.append, settings=settings)
    # RunResult: the task's metric, no classification numbers
    assert isinstance(res, RunResult) and (res.task, res.metric, res.strategy) == (TOY, "miou", "full")
    assert res.test_accuracy is None and res.test_macro_f1 is None and 0.0 <= res.test_metric <= 1.0
    assert (res.train_images, res.val_images, res.test_images) == (20, 4, 8)  # 15% of 24 held out
    assert res.selection == "best validation epoch" and not res.stopped and res.mistakes == []
    d = json.loads(json.dumps(res.as_dict()))
    assert (d["task"], d["metric"], d["test_metric"], d["test_accuracy"]) == (TOY, "miou", round(res.test_metric, 6),
                                                                            None)
    # events: every one says its task and metric; evaluations carry val_metric (not val_accuracy), steps loss parts
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and events == res.history
    assert all(e.task == TOY and e.metric == "miou" for e in events)
    evals = [e for e in events if e.kind == "eval"]
    assert len(evals) == 6 and all(e.eval_split == "validation" and e.val_accuracy is None for e in evals)
    assert all(0.0 <= e.val_metric <= 1.0 and set(e.loss_parts) == {"ce"} for e in evals)
    steps = [e for e in events if e.kind == "step"]
    assert steps and all(set(e.loss_parts) == {"ce", "l2"} and e.loss_parts["l2"] < e.loss_parts["ce"] for e in steps)
    assert "20 train / 4 validation / 8 test images" in events[0].message
    assert f"test mIoU {res.test_metric * 100:.1f}% on 8 test images" in events[-1].message
    # the best epoch by the task's selection key (mIoU, then loss) on the held-out images is the one kept
    best = max(evals, key=lambda e: (e.val_metric, -e.val_loss))
    assert res.kept_epoch == pytest.approx(best.epoch) and res.kept_epoch < evals[-1].epoch  # measured: 2 of 6
    assert "kept the best epoch by validation mIoU" in events[-1].message
    # the run folder: config, every event with the one schema, metrics.json with the task's own fields, the model
    config = json.loads((res.run_dir / "config.json").read_text())
    assert (config["task"], config["metric"], config["train_config"]["task"]) == (TOY, "miou", TOY)
    assert config["data"]["warnings"] == ToyData().warnings and config["data"]["min_train_images_for_validation"] == 8
    lines = [json.loads(x) for x in (res.run_dir / "events.jsonl").read_text().splitlines()]
    assert [x["kind"] for x in lines] == kinds and all(tuple(x) == EVENT_FIELDS for x in lines)
    m = json.loads((res.run_dir / "metrics.json").read_text())
    assert m["test_miou"] == pytest.approx(res.test_metric) == pytest.approx(m["test_metric"])
    assert set(m["per_class_iou"]) == {"background", "square"} and m["best_epoch"] == pytest.approx(best.epoch)
    assert (m["task"], m["status"], m["test_images"]) == (TOY, "done", 8) and (res.run_dir / "worst/00.png").is_file()
    assert res.metrics["per_class_iou"] == m["per_class_iou"] and (res.model_dir / "model.safetensors").is_file()
    assert res.test_metric > 0.6  # it learned (measured 0.98; "all background" scores about 0.45)


def test_decoder_keeps_the_pretrained_encoder_of_a_second_task(ckpt, settings):
    from safetensors.torch import load_file

    res = finetune(TrainConfig(ckpt, ToyData(), "decoder", epochs=2, batch_size=4, lr=0.05, task=TOY),
                   settings=settings)
    saved = load_file(str(res.model_dir / "model.safetensors"))
    assert all(torch.equal(saved[f"encoder.{k}"], v) for k, v in pretrained_encoder().items())
    assert "all but the encoder / backbone" in res.history[0].message


def test_stop_ends_a_second_task_cleanly_and_keeps_its_model(ckpt, settings):
    class StopAfter(Callback):
        def on_run_start(self, run_id, run_dir):
            self.run_dir = run_dir

        def on_step_end(self, loop):
            if loop.step == 3:
                store.request_stop(self.run_dir)  # the Stop button / `runs stop`: the run folder's STOP file

    events: list[TrainEvent] = []
    res = finetune(TrainConfig(ckpt, ToyData(), "full", epochs=20, batch_size=4, task=TOY), on_event=events.append,
                   settings=settings, callbacks=[StopAfter()])
    assert res.stopped and events[-1].kind == "stopped" and max(e.step for e in events) == 3
    m = json.loads((res.run_dir / "metrics.json").read_text())
    assert m["status"] == "stopped" and m["stopped"] is True and (res.model_dir / "model.safetensors").is_file()


def test_the_cli_trains_a_second_task_and_prints_its_own_json(ckpt, capsys, settings):
    from tlweb.cli import main

    code = main(["finetune", "--task", TOY, "--model", ckpt, "--data", "toy:16", "--epochs", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert list(result) == ["task", "strategy", "base_model", "train_images", "val_images", "test_images", "test_miou",
                            "test_pixel_accuracy", "per_class_iou", "stopped", "run_dir", "model_dir"]
    assert (result["task"], result["strategy"]) == (TOY, "decoder")  # the task's first strategy by default
    assert (result["train_images"], result["val_images"], result["test_images"]) == (14, 2, 8)
    assert set(result["per_class_iou"]) == {"background", "square"} and 0 <= result["test_miou"] <= 1
    assert "data: 2 masks had pixels outside the classes; they were ignored" in err
    code = main(["finetune", "--task", TOY, "--model", ckpt, "--data", "toy", "--strategy", "linear"])
    out, err = capsys.readouterr()
    assert code == 2 and err.strip().splitlines()[-1] == (
        "error: 'linear' is a strategy for image classification; for toy segmentation pick decoder, full or scratch.")


def test_the_ladder_and_the_data_efficiency_curve_are_generic_over_the_task(ckpt, settings):
    rows = data_efficiency(ckpt, ToyData(), shots=(2, 4, 50), task=TOY, seeds=1, epochs=1, batch_size=4,
                           settings=settings)
    assert [(r["strategy"], r["per_class"]) for r in rows] == [("decoder", 2), ("scratch", 2), ("decoder", 4),
                                                                ("scratch", 4)]  # 50 > the smallest class: skipped
    for r in rows:
        assert (r["task"], r["metric"]) == (TOY, "miou") and r["test_miou"] == r["test_metric"]
        assert "test_accuracy" not in r and r["test_images"] == 8
    for r in rows:  # "per class" counts the images holding the class (an image may hold both)
        counts = json.loads((R.find_run(r["run_id"], settings) / "config.json").read_text())["data"]["counts"]
        n = r["train_images"] + r["val_images"]
        assert counts["train"]["background"] == n and r["per_class"] <= counts["train"]["square"] <= n
        assert r["per_class"] <= n <= 2 * r["per_class"]
    results = ladder(ckpt, ToyData(), task=TOY, seeds=1, epochs=1, batch_size=4, settings=settings)
    assert [r.strategy for r in results] == ["decoder", "full", "scratch"]  # the task's ladder, in its order
    assert len({r.run_dir.parent for r in results}) == 1 and all(r.task == TOY for r in results)
    with pytest.raises(ModelError, match="'partial' is a strategy for image classification"):
        ladder(ckpt, ToyData(), strategies=["full", "partial"], task=TOY, seeds=1, settings=settings)
    with pytest.raises(ModelError, match="zero-shot line is drawn for image classification only"):
        data_efficiency(ckpt, ToyData(), task=TOY, zero_shot="demo-clip", settings=settings)


def test_a_second_task_streams_through_the_zerogpu_function(ckpt, settings, monkeypatch):
    """Under the fork-and-pickle stand-in: the resolved plan (task and strategy records by name) crosses
    into the worker, each event comes back pickled, then the RunResult."""
    from tlweb.engine import zerogpu as zg
    from tlweb.engine.train import stream

    monkeypatch.setattr(stream, "finetune_stream", zg.wrap(zg.GPU_TASKS["tlweb.engine.train.stream.finetune_stream"],
                                                           zg.emulated_gpu))
    items = list(iter_finetune(TrainConfig(ckpt, ToyData(), "scratch", epochs=2, batch_size=4, task=TOY),
                               settings))
    assert isinstance(items[-1], RunResult) and items[-1].task == TOY and not items[-1].stopped
    assert all(isinstance(e, TrainEvent) and e.task == TOY for e in items[:-1])
    assert json.loads((items[-1].run_dir / "metrics.json").read_text())["test_miou"] == pytest.approx(
        items[-1].test_metric)


@pytest.mark.parametrize("which", ["classification", TOY])
def test_a_run_resolves_its_model_and_looks_its_strategy_up_once(which, ckpt, settings, monkeypatch, tmp_path):
    import tlweb.engine.listing
    from tlweb.engine.train import strategies as S

    calls = {"resolve": 0, "get_strategy": 0}
    real_resolve, real_get = tlweb.engine.listing.resolve, S.get_strategy

    def resolve(*a, **kw):
        calls["resolve"] += 1
        return real_resolve(*a, **kw)

    def get_strategy(name):
        calls["get_strategy"] += 1
        return real_get(name)

    if which == TOY:
        cfg = TrainConfig(ckpt, ToyData(), "full", epochs=1, batch_size=4, task=TOY)
    else:
        data = shapes_data(tmp_path / "shapes", settings, classes=("circle", "square"), per_class=5,
                           test_per_class=2, size=32)
        cfg = TrainConfig(ckpt, data, "full", epochs=1, batch_size=4)
    import tlweb.engine.loading

    monkeypatch.setattr(tlweb.engine.listing, "resolve", resolve)
    monkeypatch.setattr(tlweb.engine.loading, "resolve", resolve)  # (it holds its own name for it)
    monkeypatch.setattr(S, "get_strategy", get_strategy)
    finetune(cfg, settings=settings)
    assert calls == {"resolve": 1, "get_strategy": 1}
    calls.update(resolve=0, get_strategy=0)
    items = list(iter_finetune(cfg, settings))  # the caller's side + the GPU function: still once
    assert isinstance(items[-1], RunResult) and calls == {"resolve": 1, "get_strategy": 1}


def test_the_event_and_result_schemas_keep_every_key_and_add_the_tasks():
    from tlweb.engine.train.callbacks import Callbacks, Emitter, History
    from tlweb.engine.train.config import RESULT_FIELDS

    old_events = ("kind", "run_id", "strategy", "epoch", "step", "total_steps", "train_loss", "val_loss",
                  "val_accuracy", "lr", "images_per_s", "eta_s", "message", "time", "eval_split", "C")
    assert EVENT_FIELDS == (*old_events, "task", "metric", "val_metric", "loss_parts")
    old_results = ("run_id", "run_dir", "model_dir", "strategy", "base_model", "train_images", "val_images",
                   "test_images", "selection", "kept_epoch", "test_accuracy", "test_macro_f1", "stopped", "wall_s",
                   "hyperparameters", "metrics", "mistakes")
    assert RESULT_FIELDS == (*old_results, "task", "metric", "test_metric")
    history = History()
    classification = Emitter("r", "linear", Callbacks([history])).evaluation(0.75, 0.5, C=0.1, eval_split="validation")
    toy = Emitter("r", "full", Callbacks([history]), task=TOY, metric="miou").evaluation(0.6, 0.4)
    assert (classification.val_accuracy, classification.val_metric, classification.task) == (0.75, 0.75,
                                                                                          "image-classification")
    assert (toy.val_accuracy, toy.val_metric, toy.metric) == (None, 0.6, "miou") and history.events == [classification, toy]
    assert TrainEvent("step", "r", "full", 1.0, 1, 2, loss_parts={"ce": 1 / 3}).as_dict()["loss_parts"] == {"ce": 0.333333}
