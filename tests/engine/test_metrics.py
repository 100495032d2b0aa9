"""Metrics through evaluate with tlweb's own module: offline, and the right numbers (hand-computed
examples, a plain-Python reference on random labels; scikit-learn is not installed here)."""

from __future__ import annotations

import random

import pytest

from tlweb.engine.metrics import METRICS, MODULES_DIR, classification_metrics, load_metric


def test_one_module_loads_by_path_offline():
    import evaluate

    assert METRICS[0] == "tlweb_classification" and "tlweb_segmentation" in METRICS
    assert sorted(p.name for p in MODULES_DIR.iterdir() if p.is_dir() and not p.name.startswith("_")) == sorted(METRICS)
    for name in METRICS:
        assert (MODULES_DIR / name / f"{name}.py").exists()  # evaluate needs file name == folder name
        assert isinstance(load_metric(name), evaluate.Metric)
    assert load_metric() is load_metric(METRICS[0])
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
    assert pc["c"]["f1"] == pytest.approx(2 / 3) and pc["c"]["support"] == 1
    f1s = [2 / 3, 2 / 3, 2 / 3]
    assert m["macro_f1"] == pytest.approx(sum(f1s) / 3)
    assert m["class_names"] == ["a", "b", "c"] and m["num_examples"] == 6
    assert set(m) == {"accuracy", "macro_f1", "per_class", "confusion_matrix", "class_names", "num_examples"}


def test_raw_module_output_and_batches():
    metric = load_metric()
    out = metric.compute(predictions=[0, 1, 1, 1, 2, 2], references=[0, 0, 1, 1, 1, 2], num_labels=4)
    assert set(out) == {"accuracy", "macro_f1", "precision", "recall", "f1", "support", "confusion_matrix"}
    assert out["support"] == [2, 3, 1, 0] and out["precision"][3] == 0.0 and out["recall"][3] == 0.0
    assert out["confusion_matrix"][3] == [0, 0, 0, 0] and len(out["confusion_matrix"]) == 4
    assert out["macro_f1"] == pytest.approx(2 / 3)  # class 3 occurs nowhere: not averaged in
    # without num_labels the size comes from the largest id seen
    assert len(metric.compute(predictions=[0, 2], references=[0, 1])["confusion_matrix"]) == 3
    # streaming batches gives the same numbers as one call
    metric.add_batch(predictions=[1, 1], references=[1, 0])
    metric.add_batch(predictions=[2], references=[2])
    out = metric.compute(num_labels=3)
    assert out["accuracy"] == pytest.approx(2 / 3)
    assert out["confusion_matrix"] == [[0, 1, 0], [0, 1, 0], [0, 0, 1]]


def test_never_predicted_class():
    m = classification_metrics([0, 0, 0, 0], [0, 0, 1, 1], ["x", "y", "z"])
    assert m["per_class"]["y"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 2}
    assert m["per_class"]["x"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 2}
    assert m["per_class"]["z"]["support"] == 0
    assert len(m["confusion_matrix"]) == 3 and m["confusion_matrix"][1] == [2, 0, 0]
    # macro-F1 over the classes that occur (x and y): (2/3 + 0) / 2
    assert m["macro_f1"] == pytest.approx(1 / 3)


def _reference(preds, refs, n):
    """Textbook definitions with plain loops (an independent implementation)."""
    cm = [[sum(1 for p, r in zip(preds, refs) if r == i and p == j) for j in range(n)] for i in range(n)]
    rows = []
    for c in range(n):
        tp = cm[c][c]
        predicted = sum(cm[i][c] for i in range(n))
        support = sum(cm[c])
        prec = tp / predicted if predicted else 0.0
        rec = tp / support if support else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        rows.append((prec, rec, f1, support, predicted))
    occurring = [r[2] for r in rows if r[3] or r[4]]
    acc = sum(p == r for p, r in zip(preds, refs)) / len(refs)
    return acc, sum(occurring) / len(occurring), rows, cm


@pytest.mark.parametrize("seed", range(5))
def test_matches_a_plain_python_reference_on_random_labels(seed):
    rng = random.Random(seed)
    n = rng.randint(2, 7)
    k = rng.randint(1, 60)
    refs = [rng.randrange(n - 1) for _ in range(k)]  # the last class never occurs in the references
    preds = [r if rng.random() < 0.5 else rng.randrange(n) for r in refs]
    names = [f"c{i}" for i in range(n)]
    m = classification_metrics(preds, refs, names)
    acc, macro, rows, cm = _reference(preds, refs, n)
    assert m["accuracy"] == pytest.approx(acc) and m["macro_f1"] == pytest.approx(macro)
    assert m["confusion_matrix"] == cm
    for name, (prec, rec, f1, support, _) in zip(names, rows):
        assert m["per_class"][name] == {"precision": pytest.approx(prec), "recall": pytest.approx(rec),
                                        "f1": pytest.approx(f1), "support": support}


def test_empty_input():
    m = classification_metrics([], [], ["a", "b"])
    assert m["accuracy"] == 0.0 and m["confusion_matrix"] == [[0, 0], [0, 0]]


def test_percent_is_the_one_way_a_fraction_is_written():
    from tlweb.engine.metrics import percent

    assert percent(0.969) == "96.9 %" and percent(1) == "100.0 %" and percent(0.5, digits=0) == "50 %"
    assert percent(None) == "–" and percent("n/a") == "–" and percent(float("nan")) == "–"
    assert percent(0.07, width=7) == "  7.0 %" and len(percent(None, width=7)) == 7
