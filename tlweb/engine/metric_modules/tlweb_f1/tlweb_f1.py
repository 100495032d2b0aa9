"""Macro-averaged F1 over classes (each class counts the same, whatever its size).

A metric module of tlweb's own, loaded by path with ``evaluate.load(path)`` so it works offline
(``evaluate.load("f1")`` needs the Hugging Face Hub). Inputs: integer class ids.
"""

import datasets
import evaluate
import numpy as np

_CITATION = ""
_KWARGS = """
predictions: list of int, predicted class ids.
references: list of int, true class ids.
num_labels: int, optional: number of classes (default: 1 + the largest id seen).
"""


def _confusion(predictions, references, num_labels=None):
    p = np.asarray(predictions, dtype=np.int64).ravel()
    r = np.asarray(references, dtype=np.int64).ravel()
    n = int(num_labels) if num_labels else int(max(p.max(initial=-1), r.max(initial=-1)) + 1)
    n = max(n, 1)
    cm = np.zeros((n, n), dtype=np.int64)
    np.add.at(cm, (r, p), 1)
    return cm


def _prf(cm):
    tp = np.diag(cm).astype(np.float64)
    pred = cm.sum(axis=0).astype(np.float64)
    true = cm.sum(axis=1).astype(np.float64)
    precision = np.divide(tp, pred, out=np.zeros_like(tp), where=pred > 0)
    recall = np.divide(tp, true, out=np.zeros_like(tp), where=true > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return precision, recall, f1, true.astype(np.int64)


class TlwebF1(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references, num_labels=None, **kwargs):
        cm = _confusion(predictions, references, num_labels)
        _, _, f1, support = _prf(cm)
        present = (support > 0) | (cm.sum(axis=0) > 0)  # classes that occur in references or predictions
        macro = float(f1[present].mean()) if present.any() else 0.0
        return {"macro_f1": macro}
