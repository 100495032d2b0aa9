"""Classification metrics through ``evaluate``, loaded so they work offline.

``evaluate.load("accuracy")`` fetches a script from the Hub; tlweb ships its own metric module
``tlweb/engine/metric_modules/tlweb_classification/tlweb_classification.py`` (an ``evaluate.Metric``
that returns accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix from
one confusion matrix) and loads it by path, which needs no network. ``evaluate`` copies it under
``$HF_HOME/modules``.
"""

from __future__ import annotations

import threading
from pathlib import Path

MODULES_DIR = Path(__file__).resolve().parent / "metric_modules"
CLASSIFICATION_METRIC = "tlweb_classification"
METRICS = (CLASSIFICATION_METRIC,)

_LOADED: dict[str, object] = {}
_LOCK = threading.Lock()


def load_metric(name: str = CLASSIFICATION_METRIC):
    """One of :data:`METRICS` as an ``evaluate`` module (loaded once per process)."""
    if name not in METRICS:
        raise KeyError(name)
    with _LOCK:
        if name not in _LOADED:
            import evaluate

            try:
                evaluate.logging.set_verbosity_error()
                evaluate.disable_progress_bar()
            except Exception:  # noqa: BLE001 - cosmetic
                pass
            _LOADED[name] = evaluate.load(str(MODULES_DIR / name))
        return _LOADED[name]


def classification_metrics(predictions, references, class_names: list[str]) -> dict:
    """accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix
    (rows = true class, columns = predicted class)."""
    preds = [int(p) for p in predictions]
    refs = [int(r) for r in references]
    n = len(class_names)
    if not refs:
        return {"accuracy": 0.0, "macro_f1": 0.0, "per_class": {}, "confusion_matrix": [[0] * n for _ in range(n)],
                "class_names": list(class_names), "num_examples": 0}
    m = load_metric().compute(predictions=preds, references=refs, num_labels=n)
    per_class = {
        name: {"precision": float(m["precision"][i]), "recall": float(m["recall"][i]), "f1": float(m["f1"][i]),
               "support": int(m["support"][i])}
        for i, name in enumerate(class_names)
    }
    return {"accuracy": float(m["accuracy"]), "macro_f1": float(m["macro_f1"]), "per_class": per_class,
            "confusion_matrix": [[int(x) for x in row] for row in m["confusion_matrix"]],
            "class_names": list(class_names), "num_examples": len(refs)}
