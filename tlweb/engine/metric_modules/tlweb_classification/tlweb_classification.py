"""Classification metrics from one confusion matrix: accuracy, macro-F1, per-class precision,
recall, F1 and support, and the confusion matrix itself (rows = true class, columns = predicted).

A metric module of tlweb's own, loaded by path with ``evaluate.load(path)`` so it works offline
(``evaluate.load("accuracy")`` and friends need the Hugging Face Hub). Inputs: integer class ids.

Conventions (the same as scikit-learn's with ``zero_division=0``): a class never predicted has
precision 0, a class absent from the references has recall 0, and macro-F1 averages F1 over the
classes that occur in the references or the predictions (each counts the same, whatever its size).
"""

import datasets
import evaluate
import numpy as np

_CITATION = ""
_KWARGS = """
predictions: list of int, predicted class ids.
references: list of int, true class ids.
num_labels: int, optional: number of classes (default: 1 + the largest id seen).
Returns: accuracy (float), macro_f1 (float), precision / recall / f1 (list of float, one per class),
support (list of int: references per class), confusion_matrix (list of list of int, rows = true class).
"""


def _confusion(p, r, num_labels=None):
    n = int(num_labels) if num_labels else int(max(p.max(initial=-1), r.max(initial=-1)) + 1)
    n = max(n, 1)
    if len(p) and (min(p.min(), r.min()) < 0 or max(p.max(), r.max()) >= n):
        raise ValueError(f"class ids must be in [0, {n}) for num_labels={n}")
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (r, p), 1)
    return cm


class TlwebClassification(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, num_labels=None):
        p = np.asarray(predictions, dtype=np.int64).ravel()
        r = np.asarray(references, dtype=np.int64).ravel()
        cm = _confusion(p, r, num_labels)
        tp = np.diag(cm).astype(np.float64)
        predicted = cm.sum(axis=0).astype(np.float64)
        support = cm.sum(axis=1)
        true = support.astype(np.float64)
        precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
        recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
        denom = precision + recall
        f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
        present = (true > 0) | (predicted > 0)
        return {
            "accuracy": float(tp.sum() / len(r)) if len(r) else 0.0,
            "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
            "precision": precision.tolist(),
            "recall": recall.tolist(),
            "f1": f1.tolist(),
            "support": support.tolist(),
            "confusion_matrix": cm.tolist(),
        }
