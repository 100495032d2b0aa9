"""The training loop core on a toy task (no model, milliseconds): hook order, stop between steps,
the best-epoch checkpoint, evaluation spacing, and the learning rate following transformers'
``get_cosine_schedule_with_warmup`` — in the toy loop and in real fine-tunes (network and head)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.engine.ft_helpers import one_thread, shapes_folder  # noqa: F401
from tlweb.engine.accel import Runtime
from tlweb.engine.train import Callback, Loop, LoopTask, TrainConfig, finetune, make_scheduler
from tlweb.engine.train.callbacks import BestEpoch, Callbacks


class Toy(LoopTask):
    """Two-feature logistic regression; ``accuracies`` scripts what each evaluation reports."""

    def __init__(self, accuracies=None):
        torch.manual_seed(0)
        self.model = torch.nn.Linear(2, 2)
        self.x = torch.randn(8, 2)
        self.y = (self.x[:, 0] > 0).long()
        self.accuracies = list(accuracies or [])

    def loss(self, b):
        return F.cross_entropy(self.model(self.x[b:b + 1]), self.y[b:b + 1]), 1

    def evaluate(self):
        acc = self.accuracies.pop(0) if self.accuracies else 0.5
        return 1.0 - acc, acc

    def state(self):
        return self.model.weight.detach().clone()

    def load_state(self, state):
        with torch.no_grad():
            self.model.weight.copy_(state)


class Recorder(Callback):
    def __init__(self, stop_at=None):
        self.log, self.lrs, self.stop_at = [], [], stop_at

    def on_train_start(self, loop):
        self.log.append("start")
        self.initial_lrs = [g["initial_lr"] for g in loop.optimizer.param_groups]

    def on_epoch_start(self, loop):
        self.log.append(f"epoch{loop.epoch_index}")

    def on_step_end(self, loop):
        self.log.append(f"step{loop.step}")
        self.lrs.extend(loop.scheduler.get_last_lr())  # one number per parameter group, step after step

    def on_eval_end(self, loop, result):
        self.log.append(f"eval@{result.epoch:g}")

    def on_train_end(self, loop):
        self.log.append("end")

    def should_stop(self, loop):
        return self.stop_at is not None and loop.step >= self.stop_at


@pytest.fixture(scope="module")
def runtime(settings):
    return Runtime(settings.replace(device="cpu"))


def _loop(task, runtime, epochs, spe, callbacks, warmup=0, **kw):
    opt = torch.optim.AdamW(task.model.parameters(), lr=0.1)
    hp = {"epochs": epochs, "steps_per_epoch": spe, "total_steps": epochs * spe}
    return Loop(task, opt, make_scheduler(opt, warmup, epochs * spe), runtime, hp, Callbacks(callbacks), **kw)


def test_hooks_run_in_order(runtime):
    rec = Recorder()
    loop = _loop(Toy(), runtime, 2, 2, [rec]).run()
    assert rec.log == ["start", "epoch0", "step1", "step2", "eval@1", "epoch1", "step3", "step4", "eval@2", "end"]
    assert loop.step == 4 and not loop.stopped


def test_stop_between_steps_evaluates_the_partial_epoch(runtime):
    rec = Recorder(stop_at=3)
    loop = _loop(Toy(), runtime, 5, 2, [rec]).run()
    assert loop.stopped and loop.step == 3
    assert rec.log[-3:] == ["step3", "eval@1.5", "end"]  # the half epoch is evaluated, then it ends


def test_stop_right_after_an_evaluation_does_not_evaluate_again(runtime):
    rec = Recorder(stop_at=2)
    _loop(Toy(), runtime, 5, 2, [rec]).run()
    assert rec.log == ["start", "epoch0", "step1", "step2", "eval@1", "epoch1", "end"]


def test_best_epoch_restores_the_best_weights(runtime):
    snapshots = []

    class Snap(Callback):
        def on_eval_end(self, loop, result):
            snapshots.append(loop.task.state())

    task = Toy(accuracies=[0.5, 0.9, 0.7])
    best = BestEpoch(select=True)
    _loop(task, runtime, 3, 2, [best, Snap()]).run()
    assert best.best_epoch == 2 and best.kept_epoch == 2
    assert torch.equal(task.model.weight, snapshots[1]) and not torch.equal(task.model.weight, snapshots[2])
    last = BestEpoch(select=False)  # no validation subset: the last weights stay, nothing is selected
    task = Toy(accuracies=[0.5, 0.9, 0.7])
    _loop(task, runtime, 3, 2, [last]).run()
    assert last.best_epoch is None and last.kept_epoch == 3


def test_evaluation_points_are_spread(runtime):
    rec = Recorder()
    _loop(Toy(), runtime, 5, 1, [rec], eval_points=2).run()
    assert [x for x in rec.log if x.startswith("eval")] == ["eval@3", "eval@5"]  # every 3rd epoch and the last


def _hf_lrs(base_lrs, warmup, total):
    from transformers import get_cosine_schedule_with_warmup

    params = [torch.nn.Parameter(torch.zeros(1)) for _ in base_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs)], lr=base_lrs[0])
    sched = get_cosine_schedule_with_warmup(opt, num_warmup_steps=warmup, num_training_steps=total)
    out = []
    for _ in range(total):
        opt.step()
        sched.step()
        out.extend(sched.get_last_lr())
    return out


def test_toy_schedule_is_transformers_cosine_with_warmup(runtime):
    rec = Recorder()
    _loop(Toy(), runtime, 4, 5, [rec], warmup=3).run()
    assert rec.lrs == pytest.approx(_hf_lrs([0.1], 3, 20))
    assert rec.lrs[-1] == pytest.approx(0.0, abs=1e-12) and max(rec.lrs) == pytest.approx(0.1)


@pytest.mark.parametrize("strategy", ["full", "linear"])
def test_finetune_schedule_is_transformers_cosine_with_warmup(demo_models, settings, tmp_path, one_thread,  # noqa: F811
                                                              strategy):
    from tlweb.engine.data import load_data

    data = load_data(str(shapes_folder(tmp_path / "d", per_class=6, test_per_class=2, size=32)), settings=settings)
    rec = Recorder()
    epochs = 6 if strategy == "full" else 40
    res = finetune(TrainConfig("demo-vit", data, strategy, epochs=epochs, batch_size=4 if strategy == "full" else None),
                   settings=settings, callbacks=[rec])
    hp = res.hyperparameters
    assert hp["warmup_steps"] >= 1 and len(rec.lrs) == hp["total_steps"] * len(rec.initial_lrs) and \
        hp["total_steps"] > 10
    base = rec.initial_lrs  # each parameter group's peak: the learning rate, × head_lr_mult for the head
    peaks = (hp["lr"], hp["lr"] * hp["head_lr_mult"])
    assert all(any(b == pytest.approx(p) for p in peaks) for b in base)
    assert rec.lrs == pytest.approx(_hf_lrs(base, hp["warmup_steps"], hp["total_steps"]))
