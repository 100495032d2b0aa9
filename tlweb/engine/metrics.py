"""Classification and segmentation metrics through ``evaluate``, loaded so they work offline.

``evaluate.load("accuracy")`` fetches a script from the Hub; tlweb ships its own metric module
``tlweb/engine/metric_modules/tlweb_classification/tlweb_classification.py`` (an ``evaluate.Metric``
that returns accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix from
one confusion matrix) and loads it by path, which needs no network. ``evaluate`` copies it under
``$HF_HOME/modules``. Segmentation's module, ``tlweb_segmentation``, computes what ``evaluate``'s
Hub-hosted ``mean_iou`` computes (mean IoU, pixel accuracy, per-class IoU) from label maps;
:func:`segmentation_metrics` gives the same numbers from a confusion matrix accumulated on the device
(a test checks both against a hand-worked case).
"""

from __future__ import annotations

import math
import threading
from pathlib import Path

MODULES_DIR = Path(__file__).resolve().parent / "metric_modules"
CLASSIFICATION_METRIC = "tlweb_classification"
SEGMENTATION_METRIC = "tlweb_segmentation"
METRICS = (CLASSIFICATION_METRIC, SEGMENTATION_METRIC)
IGNORE_INDEX = 255  # mask pixels left out of training and of every metric

Z95 = 1.959963984540054  # the 97.5 % point of the standard normal


def percent(value, digits: int = 1, width: int = 0, missing: str = "–", sep: str = " ") -> str:
    """A fraction as people read it: ``0.969`` → ``"96.9 %"`` (right-aligned to ``width`` characters when
    given; ``sep=""`` for the compact "96.9%" of report tables); ``missing`` for None or anything that is
    not a number. The one formatter of percentages in cards, reports, figures and the CLI."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return missing.rjust(width)
    if math.isnan(v):
        return missing.rjust(width)
    return f"{v * 100:.{digits}f}{sep}%".rjust(width)


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval for a proportion ``successes / n`` (95 % by default).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 or n
    successes, which matters for the small test sets of a quick fine-tune (Newcombe 1998).
    """
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be between 0 and n ({successes} of {n})")
    p = successes / n
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


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


def segmentation_module():
    """The ``tlweb_segmentation`` module file imported as a plain Python module (its area functions),
    without ``evaluate``'s copy step: the engine sums areas itself and needs only the formulas."""
    import importlib.util
    import sys

    name = "tlweb_segmentation_formulas"
    if name not in sys.modules:
        path = MODULES_DIR / SEGMENTATION_METRIC / f"{SEGMENTATION_METRIC}.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[name] = module
    return sys.modules[name]


def mean_iou(predictions, references, num_labels: int, ignore_index: int = IGNORE_INDEX, **kwargs) -> dict:
    """``evaluate``'s ``mean_iou`` on label maps, offline (the ``tlweb_segmentation`` module)."""
    return load_metric(SEGMENTATION_METRIC).compute(predictions=list(predictions), references=list(references),
                                                    num_labels=int(num_labels), ignore_index=ignore_index, **kwargs)


def segmentation_metrics(confusion, class_names: list[str]) -> dict:
    """mIoU, pixel accuracy, mean class accuracy and per-class IoU / accuracy / pixels from a confusion
    matrix of pixels (rows = true class, columns = predicted; ignored pixels never counted), with the
    ``mean_iou`` formulas. A class absent from both truth and prediction has IoU ``None`` (NaN in
    ``mean_iou``) and is left out of the mean."""
    import math

    import numpy as np

    mod = segmentation_module()
    cm = np.asarray(confusion, dtype=np.float64)
    areas = mod.areas_from_confusion(cm)
    m = mod.metrics_from_areas(*areas)

    def num(v):
        v = float(v)
        return None if math.isnan(v) else v

    return {
        "miou": num(m["mean_iou"]) or 0.0,
        "pixel_accuracy": num(m["overall_accuracy"]) or 0.0,
        "mean_accuracy": num(m["mean_accuracy"]) or 0.0,
        "per_class_iou": {n: num(m["per_category_iou"][i]) for i, n in enumerate(class_names)},
        "per_class_accuracy": {n: num(m["per_category_accuracy"][i]) for i, n in enumerate(class_names)},
        "per_class_pixels": {n: int(areas[3][i]) for i, n in enumerate(class_names)},
        "pixels": int(areas[3].sum()),
        "class_names": list(class_names),
    }
