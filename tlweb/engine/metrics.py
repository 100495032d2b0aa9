"""Classification metrics through ``evaluate``, loaded so they work offline.

``evaluate.load("accuracy")`` fetches a script from the Hub; tlweb ships its own metric modules
under ``tlweb/engine/metric_modules/<name>/<name>.py`` (subclasses of ``evaluate.Metric``) and
loads them by path, which needs no network. ``evaluate`` copies them under ``$HF_HOME/modules``.
"""

from __future__ import annotations

import threading
from pathlib import Path

MODULES_DIR = Path(__file__).resolve().parent / "metric_modules"
METRICS = ("tlweb_accuracy", "tlweb_f1", "tlweb_per_class", "tlweb_confusion_matrix")

_LOADED: dict[str, object] = {}
_LOCK = threading.Lock()


def load_metric(name: str):
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
    kw = {"predictions": preds, "references": refs}
    acc = load_metric("tlweb_accuracy").compute(**kw)["accuracy"]
    f1 = load_metric("tlweb_f1").compute(**kw, num_labels=n)["macro_f1"]
    pc = load_metric("tlweb_per_class").compute(**kw, num_labels=n)
    cm = load_metric("tlweb_confusion_matrix").compute(**kw, num_labels=n)["confusion_matrix"]
    per_class = {
        name: {"precision": float(pc["precision"][i]), "recall": float(pc["recall"][i]), "f1": float(pc["f1"][i]),
               "support": int(pc["support"][i])}
        for i, name in enumerate(class_names)
    }
    return {"accuracy": float(acc), "macro_f1": float(f1), "per_class": per_class,
            "confusion_matrix": [[int(x) for x in row] for row in cm], "class_names": list(class_names),
            "num_examples": len(refs)}
