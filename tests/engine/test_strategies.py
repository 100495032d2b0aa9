"""The strategy registry: every strategy's record is complete and is what the CLI, the UI and the
charts show; what each strategy's setup freezes on a real (tiny) model; adding a strategy is one
``register`` call; two-step end to end, with its phase switch (backbone frozen for epoch 1 only)."""

from __future__ import annotations

import json
import re

import pytest
import torch

from tests.engine.ft_helpers import one_thread, shapes_data  # noqa: F401
from tlweb.engine.train import (
    Callback,
    TrainConfig,
    all_strategies,
    finetune,
    get_strategy,
    register,
    strategy_names,
)
from tlweb.engine.train import strategies as S
from tlweb.errors import ModelError

ALL = strategy_names()  # every task's
CLS = strategy_names("image-classification")


@pytest.fixture(scope="module")
def shapes(tmp_path_factory, settings):
    return shapes_data(tmp_path_factory.mktemp("shapes"), settings, per_class=8, test_per_class=3, size=32, seed=5)


def test_six_classification_strategies_in_ladder_order():
    assert CLS == ("linear", "partial", "full", "two-step", "lora", "scratch")
    assert ALL == (*CLS, "decoder", "head")  # segmentation's and detection's own come after
    assert strategy_names("image-segmentation") == ("full", "lora", "scratch", "decoder")
    assert strategy_names("object-detection") == ("full", "scratch", "head")


@pytest.mark.parametrize("name", ALL)
def test_record_is_complete(name):
    s = get_strategy(name)
    assert s.name == name and s.label and s.short and s.legend and s.freezes
    assert s.explanation.endswith(".") and "\n" not in s.explanation and len(s.explanation) < 220
    assert re.fullmatch(r"#[0-9A-F]{6}", s.color)
    assert s.epochs >= 1 and 0 < s.lr < 1 and s.head_mult >= 1 and s.weight_decay >= 0
    assert (s.setup is None) == s.head_only  # a head-only strategy needs no model setup
    assert s.defaults == {"epochs": s.epochs, "lr": s.lr, "head_mult": s.head_mult, "wd": s.weight_decay}


def test_names_labels_and_colours_are_distinct():
    for attr in ("label", "short", "legend", "color"):
        values = [getattr(s, attr) for s in all_strategies()]
        assert len(set(values)) == len(values), attr


def test_unknown_strategy_is_a_sentence():
    with pytest.raises(ModelError, match="Unknown strategy 'magic'; pick one of linear, partial"):
        get_strategy("magic")


def test_cli_ui_and_charts_read_the_registry():
    from tlweb.cli import build_parser
    from tlweb.ui.tabs.finetune.helpers import strategy_choices
    from tlweb.viz import training as tv

    sub = next(a for a in build_parser()._actions if a.dest == "command")
    strategy_arg = next(a for a in sub.choices["finetune"]._actions if a.dest == "strategy")
    assert tuple(strategy_arg.choices) == ALL
    assert strategy_choices() == [(get_strategy(n).label, n) for n in CLS]  # the tab fine-tunes classifiers
    for n in ALL:
        assert tv.strategy_color(n) == tv.STRATEGY_COLORS[n] == get_strategy(n).color
        assert tv.strategy_short(n) == get_strategy(n).short


def test_a_new_strategy_is_one_register_call(monkeypatch):
    """Registered once, it is a CLI choice, a UI choice, and has its colour and name in the charts."""
    from tlweb.cli import build_parser
    from tlweb.ui.tabs.finetune.helpers import strategy_choices
    from tlweb.viz import training as tv

    monkeypatch.setattr(S, "_REGISTRY", dict(S._REGISTRY))  # undone after the test
    register(S.Strategy("bias-only", "Bias terms only", "bias only", "bias terms only (BitFit)",
                        "BitFit: only the bias terms and the head train.", freezes="every weight matrix",
                        color="#EC4899", epochs=5, lr=1e-3, setup=S._all_layers))
    assert strategy_names()[-1] == "bias-only"
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert "bias-only" in next(a for a in sub.choices["finetune"]._actions if a.dest == "strategy").choices
    assert ("Bias terms only", "bias-only") in strategy_choices()
    assert tv.strategy_color("bias-only") == "#EC4899"
    fig = tv.ladder_chart([{"strategy": "bias-only", "test_accuracy": 0.5, "test_macro_f1": 0.5}])
    assert list(fig.data[0].x) == ["bias only"]


def _trainable(model, head: str) -> tuple[bool, bool]:
    """(any backbone weight trainable, every head weight trainable)."""
    backbone = [p.requires_grad for n, p in model.named_parameters() if not n.startswith(head + ".")]
    heads = [p.requires_grad for n, p in model.named_parameters() if n.startswith(head + ".")]
    return any(backbone), all(heads)


@pytest.mark.parametrize("name", [s.name for s in all_strategies("image-classification") if s.setup is not None])
def test_setup_freezes_what_the_record_says(demo_models, settings, name):
    from tlweb.engine.listing import resolve
    from tlweb.engine.train import load_for_training

    model, _, _ = load_for_training(resolve("demo-vit", settings=settings), ["a", "b"], name, 0, settings)
    cfg = TrainConfig("demo-vit", "sample", name)
    setup = get_strategy(name).setup(model, cfg)
    backbone, head = _trainable(setup.model, setup.head_prefix) if name != "lora" else (None, None)
    trainable = sum(p.numel() for p in setup.model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in setup.model.parameters())
    if name in ("full", "scratch"):
        assert trainable == total and setup.trains == "all layers"
    elif name == "partial":
        assert 0 < trainable < total and backbone and head and "last 2 of" in setup.trains
    elif name == "two-step":  # epoch 1: the head alone; the optimizer also gets the frozen weights
        assert not backbone and head and setup.optimize_frozen and "then all layers" in setup.trains
    elif name == "lora":
        names = [n for n, p in setup.model.named_parameters() if p.requires_grad]
        assert names and all("lora_" in n or "classifier" in n for n in names)
        assert setup.finish is not None  # adapters merged before saving


class _PhaseSpy(Callback):
    """Per epoch: were backbone weights trainable at its first step, and did they move during it."""

    def __init__(self):
        self.epochs: dict[int, dict] = {}
        self._before = None

    def _backbone(self, loop):
        return {n: p.detach().clone() for n, p in loop.task.model.named_parameters() if "classifier" not in n}

    def on_epoch_start(self, loop):
        self._before = self._backbone(loop)

    def on_step_end(self, loop):
        rec = self.epochs.setdefault(loop.epoch_index, {})
        rec.setdefault("trainable", any(p.requires_grad for n, p in loop.task.model.named_parameters()
                                        if "classifier" not in n))

    def on_eval_end(self, loop, result):
        after = self._backbone(loop)
        self.epochs[loop.epoch_index]["moved"] = any(not torch.equal(self._before[k], after[k]) for k in after)


def test_two_step_freezes_the_backbone_for_epoch_one_then_trains_it(demo_models, shapes, settings, one_thread):  # noqa: F811
    spy, events = _PhaseSpy(), []
    res = finetune(TrainConfig("demo-vit", shapes, "two-step", epochs=3, batch_size=4), on_event=events.append,
                   settings=settings, callbacks=[spy])
    assert res.strategy == "two-step" and not res.stopped and res.hyperparameters["epochs"] == 3  # both phases
    assert spy.epochs[0] == {"trainable": False, "moved": False}  # head-only warm-up
    assert spy.epochs[1] == {"trainable": True, "moved": True} and spy.epochs[2]["trainable"]
    assert "the head alone for epoch 1, then all layers" in events[0].message
    evals = [e for e in events if e.kind == "eval"]
    assert len(evals) == 3 and "backbone unfrozen" in evals[1].message and "unfrozen" not in evals[0].message
    config = json.loads((res.run_dir / "config.json").read_text())
    assert config["strategy"] == "two-step" and config["hyperparameters"]["total_steps"] == 3 * 4
    # the saved model: the backbone changed (phase 2 trained it), loads like any fine-tuned run
    from safetensors.torch import load_file

    base, tuned = load_file(str(demo_models["demo-vit"] / "model.safetensors")), \
        load_file(str(res.model_dir / "model.safetensors"))
    assert any(not torch.equal(base[k], tuned[k]) for k in base if "embeddings" in k and k in tuned)
    assert json.loads((res.model_dir / "config.json").read_text())["tlweb"]["pretrained_on"] == \
        "demo-vit fine-tuned (two-step)"


def test_two_step_with_one_epoch_is_the_head_only(demo_models, shapes, settings, one_thread):  # noqa: F811
    spy = _PhaseSpy()
    finetune(TrainConfig("demo-vit", shapes, "two-step", epochs=1, batch_size=8), settings=settings, callbacks=[spy])
    assert list(spy.epochs) == [0] and spy.epochs[0] == {"trainable": False, "moved": False}


def test_the_docs_example_adds_a_working_strategy(monkeypatch, demo_models, shapes, settings, one_thread):  # noqa: F811
    """docs/architecture.md's "Adding a strategy" example, run as written: BitFit trains only biases + head."""
    from pathlib import Path

    from safetensors.torch import load_file

    docs = (Path(__file__).resolve().parents[2] / "docs" / "architecture.md").read_text()
    code = re.search(r"### Adding a strategy.*?```python\n(.*?)```", docs, re.S).group(1)
    assert len(code.strip().splitlines()) <= 12
    monkeypatch.setattr(S, "_REGISTRY", dict(S._REGISTRY))
    exec(compile(code, "architecture.md", "exec"), {})  # noqa: S102 - our own documentation
    assert strategy_names()[-1] == "bitfit" and get_strategy("bitfit").color == "#EC4899"
    res = finetune(TrainConfig("demo-vit", shapes, "bitfit", epochs=1, batch_size=4), settings=settings)
    base, tuned = load_file(str(demo_models["demo-vit"] / "model.safetensors")), \
        load_file(str(res.model_dir / "model.safetensors"))
    changed = {k for k in base if k in tuned and base[k].shape == tuned[k].shape and not torch.equal(base[k], tuned[k])}
    assert changed and all(k.endswith("bias") for k in changed)
