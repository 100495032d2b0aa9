"""Semantic-segmentation metrics as ``evaluate``'s ``mean_iou`` defines them: mean IoU, mean accuracy,
overall (pixel) accuracy, and per-class IoU and accuracy, summed over every image before dividing.

A metric module of tlweb's own, loaded by path with ``evaluate.load(path)`` so it works offline (the
Hub-hosted ``mean_iou`` needs the network). Same inputs and outputs as ``mean_iou``: predictions and
references are label maps (one integer class id per pixel), ``num_labels`` classes, ``ignore_index``
(255) pixels left out, optional ``label_map`` / ``reduce_labels`` / ``nan_to_num``.

Definitions, per class c, with areas in pixels summed over all images (ignored pixels left out):
intersection = pixels where prediction = truth = c; union = predicted-c + true-c - intersection;
IoU = intersection / union (NaN when c is in neither); accuracy = intersection / true-c (NaN when c
is never true); mean IoU and mean accuracy = the NaN-ignoring mean over classes; overall accuracy =
all intersections / all true pixels. Predictions and references outside ``[0, num_labels)`` are not
counted in any class (as ``np.histogram`` over that range leaves them out).

:func:`areas_from_confusion` gives the same four areas from a confusion matrix (rows = truth,
columns = prediction), which is how the training engine accumulates them on the device.
"""

import datasets
import evaluate
import numpy as np

_CITATION = ""
_KWARGS = """
predictions: list of 2-D integer arrays (label maps), any sizes.
references: list of 2-D integer arrays, each the size of its prediction.
num_labels: int: number of classes.
ignore_index: int: truth value left out of every count (255 by convention).
nan_to_num: float, optional: replace NaN (a class absent from truth and prediction) by this.
label_map: dict, optional: old truth id -> new truth id, applied before anything else.
reduce_labels: bool, optional: truth 0 becomes ignore_index and every other id drops by one.
Returns: mean_iou, mean_accuracy, overall_accuracy (float); per_category_iou, per_category_accuracy
(arrays of num_labels floats).
"""


def _histogram(values, num_labels):
    values = values[(values >= 0) & (values < num_labels)]
    return np.bincount(values.astype(np.int64), minlength=num_labels)[:num_labels].astype(np.float64)


def intersect_and_union(pred_label, label, num_labels, ignore_index, label_map=None, reduce_labels=False):
    """(intersection, union, predicted area, true area) per class for one image."""
    pred_label = np.asarray(pred_label).astype(np.int64)
    label = np.asarray(label).astype(np.int64)
    if pred_label.shape != label.shape:
        raise ValueError(f"a prediction of shape {pred_label.shape} has a reference of shape {label.shape}")
    if label_map is not None:
        original = label.copy()
        for old_id, new_id in label_map.items():
            label[original == int(old_id)] = int(new_id)
    if reduce_labels:
        label[label == 0] = 255
        label = label - 1
        label[label == 254] = 255
    keep = label != ignore_index
    pred_label, label = pred_label[keep], label[keep]
    area_intersect = _histogram(pred_label[pred_label == label], num_labels)
    area_pred = _histogram(pred_label, num_labels)
    area_label = _histogram(label, num_labels)
    return area_intersect, area_pred + area_label - area_intersect, area_pred, area_label


def areas_from_confusion(confusion):
    """The same four areas from a confusion matrix (rows = true class, columns = predicted class)."""
    cm = np.asarray(confusion, dtype=np.float64)
    intersect = np.diag(cm).copy()
    area_pred = cm.sum(axis=0)
    area_label = cm.sum(axis=1)
    return intersect, area_pred + area_label - intersect, area_pred, area_label


def metrics_from_areas(intersect, union, area_pred, area_label, nan_to_num=None):
    """mean_iou's numbers from areas summed over every image."""
    with np.errstate(divide="ignore", invalid="ignore"):
        total = area_label.sum()
        overall = intersect.sum() / total if total else float("nan")
        iou = intersect / union
        acc = intersect / area_label
    out = {
        "mean_iou": float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan"),
        "mean_accuracy": float(np.nanmean(acc)) if np.isfinite(acc).any() else float("nan"),
        "overall_accuracy": float(overall),
        "per_category_iou": iou,
        "per_category_accuracy": acc,
    }
    if nan_to_num is not None:
        out = {k: (np.nan_to_num(v, nan=nan_to_num) if isinstance(v, np.ndarray)
                   else float(np.nan_to_num(v, nan=nan_to_num))) for k, v in out.items()}
    return out


class TlwebSegmentation(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=__doc__,
            citation=_CITATION,
            inputs_description=_KWARGS,
            features=datasets.Features({"predictions": datasets.Image(), "references": datasets.Image()}),
        )

    def _compute(self, predictions, references, num_labels, ignore_index, nan_to_num=None, label_map=None,
                 reduce_labels=False):
        n = int(num_labels)
        totals = [np.zeros(n, dtype=np.float64) for _ in range(4)]
        for pred, ref in zip(predictions, references):
            for total, area in zip(totals, intersect_and_union(pred, ref, n, ignore_index, label_map, reduce_labels)):
                total += area
        return metrics_from_areas(*totals, nan_to_num=nan_to_num)
