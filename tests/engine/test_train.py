"""Fine-tuning: every strategy on tiny models, what each strategy freezes, stop, the ladder, data
efficiency, errors, no model selection on the test split (best epoch on held-out training images,
last epoch on tiny data), and transfer — a backbone pretrained on one generated task makes a
linear probe beat training from scratch on a related task it never saw."""

from __future__ import annotations

import json

import pytest
import torch

from tests.engine.ft_helpers import one_thread, shapes_data, tiny_resnet  # noqa: F401
from tlweb.engine import runs as R
from tlweb.engine import train as T
from tlweb.engine.data import encode_split, image_sources, load_data, subsample, write_shapes_dataset
from tlweb.engine.train import (
    MIN_TRAIN_PER_CLASS_FOR_VALIDATION,
    TrainConfig,
    TrainEvent,
    data_efficiency,
    finetune,
    ladder,
)
from tlweb.errors import ModelError, TlwebError

pytestmark = pytest.mark.usefixtures("one_thread")

CLASSES = ("circle", "square", "triangle", "cross")
# the shapes fixture: 5 train images per class (1 of each held out for validation) and 3 test
TRAIN, VAL, TEST = 16, 4, 12
# the linear probe holds nothing out below head.MIN_PER_CLASS_FOR_HOLDOUT per class: C by 5-fold
# cross-validation, the head fitted on all 20
LINEAR = (TRAIN + VAL, 0, TEST)


@pytest.fixture(scope="module")
def shapes(tmp_path_factory, settings):
    return shapes_data(tmp_path_factory.mktemp("shapes"), settings, classes=CLASSES, per_class=8, test_per_class=3,
                       size=32, seed=5)


def _safetensors(folder):
    from safetensors.torch import load_file

    return load_file(str(folder / "model.safetensors"))


def _reproduce(result, data, settings):
    """Predictions of the saved model, loaded the way the Classify tab loads it, on the test split:
    (accuracy through the decode-once path, agreement of the processor path with it)."""
    from tlweb.engine.accel import Normalizer
    from tlweb.engine.classify import run_logits
    from tlweb.engine.loading import load

    loaded = load(str(result.model_dir), task="image-classification", settings=settings)
    enc = encode_split(data, "test", loaded.processor, settings)
    with torch.inference_mode():
        x = Normalizer(loaded.processor, loaded.device)(enc.pixels.to(loaded.device))
        fast = loaded.model(pixel_values=x.to(next(loaded.model.parameters()).dtype)).logits.float().cpu().argmax(-1)
    acc = float((fast == enc.labels).float().mean())
    images = [data.test[r]["image"] for r in enc.rows]
    slow = run_logits(loaded, images).argmax(-1)
    agree = float((slow == fast).float().mean())
    return acc, agree


@pytest.mark.parametrize("key, strategy", [(("demo-vit"), s) for s in T.strategy_names("image-classification")] + [
    ("demo-resnet", "lora"), ("demo-convnext", "lora"), ("demo-mobilenet-v2", "lora"), ("demo-swin", "partial"),
    ("demo-dinov2", "partial"), ("demo-efficientnet", "linear"), ("demo-beit", "full"),
])
def test_strategy_trains_saves_and_the_model_classifies(demo_models, shapes, settings, key, strategy):
    events: list[TrainEvent] = []
    linear = strategy == "linear"
    epochs = 2
    res = finetune(TrainConfig(key, shapes, strategy, epochs=epochs, name=f"test {key} {strategy}"),
                   on_event=events.append, settings=settings)
    assert res.strategy == strategy and res.base_model == key and not res.stopped
    assert (res.train_images, res.val_images, res.test_images) == (LINEAR if linear else (TRAIN, VAL, TEST))
    assert ("by 5-fold cross-validation on the training images" in res.selection if linear
            else res.selection == "best validation epoch")
    assert 0.0 <= res.test_accuracy <= 1.0 and 0.0 <= res.test_macro_f1 <= 1.0
    m = res.metrics
    assert m["class_names"] == sorted(CLASSES)
    assert sum(map(sum, m["confusion_matrix"])) == 12
    assert set(m["per_class"]) == set(CLASSES)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "done" and events == res.history
    evals = [e for e in events if e.kind == "eval"]
    split = "cross-validation" if linear else "validation"
    assert evals and all(0.0 <= e.val_accuracy <= 1.0 and e.eval_split == split for e in evals)
    steps = [e.step for e in events if e.kind == "step"]
    if linear:  # one step and one eval event per C of the sweep, the sweep's C values in order
        assert f"{TRAIN + VAL} train / {TEST} test images, none held out" in events[0].message
        assert [e.C for e in evals] == res.hyperparameters["C_grid"][:len(evals)] and 3 <= len(evals)
        assert steps == [e.step for e in evals] == list(range(1, len(evals) + 1))
        assert res.metrics["head"]["C"] in [e.C for e in evals]
    else:
        assert f"{TRAIN} train / {VAL} validation / {TEST} test images" in events[0].message
        assert len(evals) == epochs
        assert steps == sorted(steps) and steps[-1] == res.hyperparameters["total_steps"]
    # events.jsonl holds every event, in order
    lines = (res.run_dir / "events.jsonl").read_text().splitlines()
    assert [json.loads(x)["kind"] for x in lines] == kinds
    # the saved model: new head with the class names, tlweb metadata, loads like any local model
    cfg = json.loads((res.model_dir / "config.json").read_text())
    assert [cfg["id2label"][str(i)] for i in range(4)] == sorted(CLASSES)
    assert cfg["tlweb"]["pretrained_on"] == f"{key} fine-tuned ({strategy})"
    assert cfg["tlweb"]["task"] == "image-classification" and cfg["tlweb"]["input_size"] == 64
    assert (res.model_dir / "preprocessor_config.json").exists()
    acc, agree = _reproduce(res, shapes, settings)
    assert acc == pytest.approx(res.test_accuracy)
    assert agree >= 10 / 12  # the processor path differs only by uint8 rounding of the resized pixels
    weights = _safetensors(res.model_dir)
    assert not any("lora" in k for k in weights)
    base = _safetensors(demo_models[key])
    shared = [k for k in base if k in weights and base[k].shape == weights[k].shape]
    changed = {k for k in shared if not torch.equal(base[k], weights[k])}
    if strategy == "linear":  # frozen backbone: only the head differs
        assert changed == set()
    elif strategy == "partial":
        assert any("embed" in k for k in shared) and not any("embed" in k for k in changed)
        assert changed
    elif strategy == "lora" and key != "demo-mobilenet-v2":
        # adapters merged into the targeted weights; everything else as it was. (The random demo
        # MobileNet's activations vanish, so its adapters get ~1e-24 gradients and stay at zero:
        # that case only checks that LoRA runs on TF-padded convolutions and saves merged weights.)
        assert changed and all(any(t in k for t in ("q_proj", "v_proj", "query", "value", "pwconv", "convolution"))
                               for k in changed)
    elif strategy in ("full", "scratch"):
        assert len(changed) > len(shared) // 2
    if strategy == "linear":
        assert res.metrics["test_accuracy"] == res.test_accuracy


def test_linear_features_are_cached_on_disk(demo_models, shapes, settings):
    finetune(TrainConfig("demo-deit", shapes, "linear", epochs=5), settings=settings)
    files = set((settings.cache_dir / "features").glob("*.pt"))
    events = []
    res = finetune(TrainConfig("demo-deit", shapes, "linear", epochs=5, lr=1e-2), on_event=events.append,
                   settings=settings)
    assert set((settings.cache_dir / "features").glob("*.pt")) == files
    assert res.metrics["features_cached"] and "features from the cache" in next(e for e in events
                                                                                 if e.kind == "eval").message
    # the head has no epochs or learning rate: what was asked is recorded as not applying
    assert res.hyperparameters["ignored"] == {"epochs": 5, "lr": 1e-2} and res.hyperparameters["lr"] is None
    assert "do not apply to the linear probe" in events[0].message


def test_stop_mid_run_keeps_the_best_model(demo_models, shapes, settings):
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 7  # 16 images trained on, batch 4: 4 steps per epoch, stop in the second

    events = []
    res = finetune(TrainConfig("demo-vit", shapes, "full", epochs=6, batch_size=4), on_event=events.append,
                   should_stop=should_stop, settings=settings)
    assert res.stopped and events[-1].kind == "stopped"
    assert res.history[-1].step == 7 < res.hyperparameters["total_steps"]
    assert (res.model_dir / "model.safetensors").exists()
    metrics = json.loads((res.run_dir / "metrics.json").read_text())
    assert metrics["status"] == "stopped" and metrics["best_epoch"] is not None
    assert metrics["kept_epoch"] == metrics["best_epoch"] and "best epoch by validation" in events[-1].message
    info = next(i for i in R.list_runs(settings) if i.run_id == res.run_id)
    assert info.status == "stopped" and info.test_accuracy == pytest.approx(res.test_accuracy)
    acc, _ = _reproduce(res, shapes, settings)
    assert acc == pytest.approx(res.test_accuracy)


def test_stop_before_anything_still_returns(demo_models, shapes, settings):
    for strategy in ("linear", "lora"):
        res = finetune(TrainConfig("demo-vit", shapes, strategy, epochs=3), should_stop=lambda: True,
                       settings=settings)
        assert res.stopped and res.history[-1].kind == "stopped"
        assert (res.model_dir / "config.json").exists()


def test_ladder_and_data_efficiency(demo_models, shapes, settings):
    results = ladder("demo-resnet", shapes, strategies=("linear", "full"), epochs=1, seeds=1, settings=settings)
    assert [r.strategy for r in results] == ["linear", "full"]
    assert [(r.train_images, r.val_images, r.test_images) for r in results] == [LINEAR, (TRAIN, VAL, TEST)]
    rows = data_efficiency("demo-resnet", shapes, shots=(1, 2, 5, 50), strategies=("linear", "scratch"),
                           settings=settings, epochs=1, seeds=1)
    # at 5 per class the linear probe fits on all 5 (C by cross-validation); scratch holds 1 out
    assert [(r["strategy"], r["per_class"], r["train_images"], r["val_images"]) for r in rows] == [
        ("linear", 1, 4, 0), ("scratch", 1, 4, 0), ("linear", 2, 8, 0), ("scratch", 2, 8, 0),
        ("linear", 5, TRAIN + VAL, 0), ("scratch", 5, TRAIN, VAL)]
    assert all(0 <= r["test_accuracy"] <= 1 and r["run_id"] for r in rows)


def _saved_model_on(result, data, rows, settings):
    """(loss, accuracy) of the saved model on the training-split images ``rows``."""
    import torch.nn.functional as F

    from tlweb.engine.accel import Normalizer
    from tlweb.engine.loading import load

    loaded = load(str(result.model_dir), task="image-classification", settings=settings)
    enc = encode_split(data, "train", loaded.processor, settings)
    pos = {r: i for i, r in enumerate(enc.rows)}
    idx = torch.tensor([pos[r] for r in rows])
    with torch.inference_mode():
        x = Normalizer(loaded.processor, loaded.device)(enc.pixels[idx].to(loaded.device))
        logits = loaded.model(pixel_values=x).logits.float().cpu()
    y = enc.labels[idx]
    return float(F.cross_entropy(logits, y)), float((logits.argmax(-1) == y).float().mean())


# a learning rate high enough that validation accuracy peaks before the last epoch (measured: epoch 2
# of 6), so keeping the best epoch restores earlier weights. (The linear probe has no epochs: its C
# is chosen on held-out images or by cross-validation, tested below.)
def test_best_epoch_is_chosen_on_validation_images_held_out_of_training(demo_models, shapes, settings, monkeypatch):
    strategy, lr, epochs, seed = "full", 3e-3, 6, 0
    seen, eval_labels = {}, []
    module, fit_name = T.network, "fit_network"
    real_fit, real_eval = getattr(module, fit_name), T.network.evaluate_split

    def spy_fit(model, ctx):
        seen["holdout"] = ctx.holdout
        return real_fit(model, ctx)

    def spy_eval(task, model, enc, *a, **kw):
        eval_labels.append(enc.targets.tolist())
        return real_eval(task, model, enc, *a, **kw)

    monkeypatch.setattr(module, fit_name, spy_fit)
    monkeypatch.setattr(T.network, "evaluate_split", spy_eval)
    events = []
    res = finetune(TrainConfig("demo-vit", shapes, strategy, epochs=epochs, lr=lr, seed=seed),
                   on_event=events.append, settings=settings)
    h = seen["holdout"]
    fit_rows, val_rows = list(h.fit.rows), list(h.val.rows)
    # disjoint, together the whole training split, one validation image per class (15% of 5, at least 1)
    assert not set(fit_rows) & set(val_rows) and sorted(fit_rows + val_rows) == list(range(len(shapes.train)))
    assert sorted(h.val.labels.tolist()) == [0, 1, 2, 3] and len(fit_rows) == TRAIN
    train_src, test_src = image_sources(shapes.train), image_sources(shapes.test)
    assert not {train_src[r] for r in val_rows} & set(test_src)  # validation images are not test images
    assert not {train_src[r] for r in val_rows} & {train_src[r] for r in fit_rows}
    # recorded where people can see it, deterministic for the seed
    config = json.loads((res.run_dir / "config.json").read_text())
    assert config["data"]["validation_rows"] == val_rows
    assert (config["data"]["train_images"], config["data"]["val_images"], config["data"]["test_images"]) == (
        TRAIN, VAL, TEST)
    assert (res.train_images, res.val_images, res.test_images) == (TRAIN, VAL, TEST)
    d = res.as_dict()
    assert (d["train_images"], d["val_images"], d["test_images"], d["selection"]) == (
        TRAIN, VAL, TEST, "best validation epoch")
    again = T.validation_holdout(encode_split(shapes, "train", _processor(res), settings), shapes.class_names, seed)
    assert again.val.rows == val_rows
    # every per-epoch evaluation ran on the validation images; the test split only once, at the end
    evals = [e for e in events if e.kind == "eval"]
    assert evals and all(e.eval_split == "validation" and "monitoring" not in e.message for e in evals)
    assert eval_labels[:-1] == [h.val.labels.tolist()] * epochs
    assert eval_labels[-1] == encode_split(shapes, "test", _processor(res), settings).labels.tolist()
    # the kept epoch is the best by (validation accuracy, -validation loss), and the saved weights are its
    best = max(evals, key=lambda e: (e.val_accuracy, -e.val_loss))
    assert res.kept_epoch == pytest.approx(best.epoch) and res.metrics["best_epoch"] == pytest.approx(best.epoch)
    assert res.kept_epoch < evals[-1].epoch == epochs  # an earlier epoch won: selection restored its weights
    vloss, vacc = _saved_model_on(res, shapes, val_rows, settings)
    assert vacc == pytest.approx(best.val_accuracy) and vloss == pytest.approx(best.val_loss, rel=1e-3, abs=1e-4)
    assert vloss != pytest.approx(evals[-1].val_loss, rel=1e-3)  # … and not the last epoch's


def _processor(result):
    from transformers import AutoImageProcessor

    return AutoImageProcessor.from_pretrained(str(result.model_dir))


def test_tiny_data_keeps_the_last_epoch_and_monitors_on_test(demo_models, shapes, settings, monkeypatch):
    small = subsample(shapes, 2, seed=0)  # 2 per class < MIN_TRAIN_PER_CLASS_FOR_VALIDATION
    assert 2 < MIN_TRAIN_PER_CLASS_FOR_VALIDATION
    seen = {}
    strategy, module, fit_name = "full", T.network, "fit_network"
    real_fit = getattr(module, fit_name)

    def spy_fit(model, ctx):
        seen["holdout"] = ctx.holdout
        return real_fit(model, ctx)

    monkeypatch.setattr(module, fit_name, spy_fit)
    events = []
    epochs = 3
    res = finetune(TrainConfig("demo-vit", small, strategy, epochs=epochs), on_event=events.append,
                   settings=settings)
    assert seen["holdout"].val is None and len(seen["holdout"].fit) == 8
    assert (res.train_images, res.val_images, res.test_images) == (8, 0, TEST) and res.selection == "last epoch"
    assert "no validation split" in events[0].message and "monitoring only" in events[0].message
    evals = [e for e in events if e.kind == "eval"]
    assert evals and all(e.eval_split == "test" and T.MONITOR_NOTE in e.message for e in evals)
    m = json.loads((res.run_dir / "metrics.json").read_text())
    assert m["best_epoch"] is None and m["kept_epoch"] == pytest.approx(epochs) == pytest.approx(evals[-1].epoch)
    assert m["selection"] == "last epoch" and json.loads((res.run_dir / "config.json").read_text())[
        "data"]["validation_rows"] == []
    # the model kept is the last one: its test numbers are the last monitoring point's
    assert res.test_accuracy == pytest.approx(evals[-1].val_accuracy)
    assert m["test_loss"] == pytest.approx(evals[-1].val_loss, rel=1e-4, abs=1e-5)
    assert "last" in events[-1].message and "best" not in events[-1].message


def test_tiny_data_stop_keeps_the_model_as_it_is(demo_models, shapes, settings):
    small = subsample(shapes, 2, seed=0)
    calls = {"n": 0}

    def should_stop():
        calls["n"] += 1
        return calls["n"] > 3  # 8 images, batch 4: 2 steps per epoch, stop in the second epoch

    events = []
    res = finetune(TrainConfig("demo-vit", small, "full", epochs=5, batch_size=4), on_event=events.append,
                   should_stop=should_stop, settings=settings)
    assert res.stopped and res.kept_epoch == pytest.approx(1.5) and res.val_images == 0
    assert "last" in events[-1].message and "best" not in events[-1].message
    evals = [e for e in events if e.kind == "eval"]
    assert evals[-1].epoch == pytest.approx(1.5) and evals[-1].eval_split == "test"
    assert res.test_accuracy == pytest.approx(evals[-1].val_accuracy)


def test_errors_are_sentences_and_a_refused_load_leaves_no_run(demo_models, shapes, settings):
    with pytest.raises(ModelError, match="Unknown strategy"):
        finetune(TrainConfig("demo-vit", shapes, "magic"), settings=settings)
    before = {r.run_id for r in R.list_runs(settings)}
    with pytest.raises(TlwebError) as info:
        finetune(TrainConfig("someone/not-cached-anywhere", shapes, "full"), settings=settings)
    assert "cannot be reached" in str(info.value)
    # refused before training (issue 9): no folder is left to clutter the runs list
    assert {r.run_id for r in R.list_runs(settings)} == before


def test_strategy_info_covers_every_strategy():
    assert all(s.explanation.endswith(")") or s.explanation.endswith(".") for s in T.all_strategies())


def test_pretrained_backbone_linear_beats_scratch_on_a_related_unseen_task(tmp_path, settings):
    """Pretrain a tiny ResNet on six generated shapes, then a related task it never saw (four
    other shapes: ring, diamond, diagonal cross, half disc) with five images per class."""
    base = tiny_resnet(tmp_path / "random-resnet", num_labels=6, size=32)
    task_a = write_shapes_dataset(tmp_path / "A", ("circle", "square", "triangle", "cross", "stripes", "checker"),
                                  per_class=64, test_per_class=8, size=32, seed=1)
    pre = finetune(TrainConfig(str(base), str(task_a), "scratch", epochs=20, lr=3e-3, batch_size=32, name="pretrain"),
                   settings=settings)
    assert pre.test_accuracy >= 0.8  # the backbone learned task A
    task_b = load_data(str(write_shapes_dataset(tmp_path / "B", ("ring", "diamond", "x", "half"), per_class=45,
                                                test_per_class=40, size=32, seed=7)), settings=settings)
    assert task_b.counts()["train"] == {"diamond": 5, "half": 5, "ring": 5, "x": 5}
    linear = finetune(TrainConfig(str(pre.model_dir), task_b, "linear"), settings=settings)
    scratch = finetune(TrainConfig(str(pre.model_dir), task_b, "scratch"), settings=settings)
    random_linear = finetune(TrainConfig(str(base), task_b, "linear"), settings=settings)
    accs = (linear.test_accuracy, scratch.test_accuracy, random_linear.test_accuracy)
    print("transfer: test accuracy of linear, scratch, linear on the random backbone =", accs)
    # measured on 2 CPU cores, one thread, task-B data seeds 7–11, with 1 of the 5 images per class
    # held out for validation (picks the epoch; 4 trained on): linear 0.64–0.76, scratch 0.28–0.39,
    # linear on the random backbone 0.29–0.36. (Before, with the epoch picked on the test split and
    # all 5 trained on: linear 0.68–0.73, scratch 0.37–0.43, random 0.35–0.49.)
    assert linear.test_accuracy >= 0.55, accs
    assert linear.test_accuracy >= scratch.test_accuracy + 0.15, accs
    assert linear.test_accuracy >= random_linear.test_accuracy + 0.15, accs


def test_feature_extraction_backbone_gets_a_new_head(tmp_path, shapes, settings):
    """A backbone without a classification head (like facebook/dinov2-small) fine-tunes too."""
    from transformers import BitImageProcessorPil, Dinov2Config, Dinov2Model

    torch.manual_seed(0)
    folder = tmp_path / "dinov2-backbone"
    Dinov2Model(Dinov2Config(image_size=32, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                             mlp_ratio=2)).save_pretrained(folder)
    BitImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    for strategy in ("linear", "lora"):
        res = finetune(TrainConfig(str(folder), shapes, strategy, epochs=2), settings=settings)
        cfg = json.loads((res.model_dir / "config.json").read_text())
        assert cfg["architectures"] == ["Dinov2ForImageClassification"] and len(cfg["id2label"]) == 4
    backbone = _safetensors(folder)
    tuned = _safetensors(res.model_dir)
    # the pretrained backbone weights were loaded (not re-initialised) under the classifier's prefix
    key = next(k for k in backbone if "embeddings" in k and k.endswith("weight"))
    assert torch.equal(backbone[key], tuned.get(key, tuned.get(f"dinov2.{key}")))


def test_pickle_only_folders_are_refused(demo_models, tmp_path, shapes, settings):
    import shutil

    from transformers import AutoModelForImageClassification

    folder = tmp_path / "pickled"
    folder.mkdir()
    src = demo_models["demo-vit"]
    torch.save(AutoModelForImageClassification.from_pretrained(src).state_dict(), folder / "pytorch_model.bin")
    for name in ("config.json", "preprocessor_config.json"):
        shutil.copy(src / name, folder)
    with pytest.raises(ModelError, match="pickle"):
        finetune(TrainConfig(str(folder), shapes, "linear"), settings=settings)

