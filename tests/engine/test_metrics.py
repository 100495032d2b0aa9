"""Metrics through evaluate with tlweb's own modules: offline, and the right numbers."""

from __future__ import annotations

import pytest

from tlweb.engine.metrics import METRICS, MODULES_DIR, classification_metrics, load_metric


def test_modules_load_by_path_offline():
    import evaluate

    for name in METRICS:
        assert (MODULES_DIR / name / f"{name}.py").exists()  # evaluate needs file name == folder name
        assert isinstance(load_metric(name), evaluate.Metric)
    with pytest.raises(KeyError):
        load_metric("accuracy")


def test_hand_computed_example():
    # true:  a a b b b c ;  predicted: a b b b c c
    refs = [0, 0, 1, 1, 1, 2]
    preds = [0, 1, 1, 1, 2, 2]
    m = classification_metrics(preds, refs, ["a", "b", "c"])
    assert m["accuracy"] == pytest.approx(4 / 6)
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 1], [0, 0, 1]]  # rows = true, columns = predicted
    pc = m["per_class"]
    assert pc["a"] == {"precision": 1.0, "recall": 0.5, "f1": pytest.approx(2 / 3), "support": 2}
    assert pc["b"]["precision"] == pytest.approx(2 / 3) and pc["b"]["recall"] == pytest.approx(2 / 3)
    assert pc["c"]["precision"] == pytest.approx(0.5) and pc["c"]["recall"] == 1.0
    f1s = [2 / 3, 2 / 3, 2 / 3]
    assert m["macro_f1"] == pytest.approx(sum(f1s) / 3)
    assert m["class_names"] == ["a", "b", "c"] and m["num_examples"] == 6


def test_never_predicted_class_and_batches():
    m = classification_metrics([0, 0, 0, 0], [0, 0, 1, 1], ["x", "y", "z"])
    assert m["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert m["per_class"]["z"]["support"] == 0
    assert len(m["confusion_matrix"]) == 3 and m["confusion_matrix"][1] == [2, 0, 0]
    # macro-F1 over the classes that occur (x and y): (2/3 + 0) / 2
    assert m["macro_f1"] == pytest.approx(1 / 3)
    acc = load_metric("tlweb_accuracy")
    acc.add_batch(predictions=[1, 1], references=[1, 0])
    acc.add_batch(predictions=[2], references=[2])
    assert acc.compute()["accuracy"] == pytest.approx(2 / 3)


def test_empty_input():
    m = classification_metrics([], [], ["a", "b"])
    assert m["accuracy"] == 0.0 and m["confusion_matrix"] == [[0, 0], [0, 0]]
