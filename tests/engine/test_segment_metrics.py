"""Segmentation metrics: the shipped ``tlweb_segmentation`` evaluate module (offline ``mean_iou``) and
the engine's confusion-matrix route give the hand-worked numbers, and ``mean_iou``'s own example."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tlweb.engine.metrics import mean_iou, segmentation_metrics

# Two images, classes 0..2 (+ a class 3 that never occurs), 255 = ignore.
REF = [np.array([[0, 0, 1], [1, 2, 255]], dtype=np.uint8), np.array([[2, 2], [0, 255]], dtype=np.uint8)]
PRED = [np.array([[0, 1, 1], [1, 1, 0]], dtype=np.uint8), np.array([[2, 0], [0, 2]], dtype=np.uint8)]
# Worked by hand, pixels (truth, prediction) without the two ignored ones:
#   (0,0) (0,1) (1,1) (1,1) (2,1) | (2,2) (2,0) (0,0)
# confusion (rows truth): [[2,1,0],[0,2,0],[1,1,1]] → intersect 2,2,1; predicted 3,4,1; true 3,2,3
# union 4,4,3 → IoU 1/2, 1/2, 1/3; accuracy 2/3, 1, 1/3; overall 5/8
HAND = {"iou": [0.5, 0.5, 1 / 3], "acc": [2 / 3, 1.0, 1 / 3], "overall": 5 / 8}


def confusion(preds, refs, k, ignore=255):
    cm = np.zeros((k, k), dtype=np.int64)
    for p, r in zip(preds, refs):
        keep = r != ignore
        np.add.at(cm, (r[keep].astype(int), p[keep].astype(int)), 1)
    return cm


def test_module_matches_the_hand_worked_case():
    m = mean_iou(PRED, REF, num_labels=4, ignore_index=255)
    assert m["per_category_iou"][:3] == pytest.approx(HAND["iou"])
    assert math.isnan(m["per_category_iou"][3])  # in neither truth nor prediction: NaN, left out of the mean
    assert m["per_category_accuracy"][:3] == pytest.approx(HAND["acc"])
    assert m["mean_iou"] == pytest.approx(sum(HAND["iou"]) / 3)
    assert m["mean_accuracy"] == pytest.approx(sum(HAND["acc"]) / 3)
    assert m["overall_accuracy"] == pytest.approx(HAND["overall"])


def test_confusion_route_matches_the_module():
    cm = confusion(PRED, REF, 4)
    assert cm[:3, :3].tolist() == [[2, 1, 0], [0, 2, 0], [1, 1, 1]]
    names = ["bg", "a", "b", "never"]
    s = segmentation_metrics(cm, names)
    m = mean_iou(PRED, REF, num_labels=4)
    assert s["miou"] == pytest.approx(m["mean_iou"])
    assert s["pixel_accuracy"] == pytest.approx(m["overall_accuracy"])
    assert [s["per_class_iou"][n] for n in names[:3]] == pytest.approx(list(m["per_category_iou"][:3]))
    assert s["per_class_iou"]["never"] is None
    assert s["per_class_pixels"] == {"bg": 3, "a": 2, "b": 3, "never": 0}


def test_mean_iou_documented_example():
    """``evaluate``'s mean_iou card: its example and the numbers it prints."""
    pred = [np.array([[1, 2], [3, 4], [5, 255]]), np.array([[2, 7], [9, 2], [3, 6]]),
            np.array([[2, 2, 3], [8, 2, 4], [3, 255, 2]])]
    ref = [np.array([[0, 3], [5, 4], [6, 255]]), np.array([[1, 7], [9, 2], [3, 6]]),
           np.array([[1, 2, 2], [8, 2, 1], [3, 255, 1]])]
    m = mean_iou([p.astype(np.uint8) for p in pred], [r.astype(np.uint8) for r in ref], num_labels=10)
    assert m["mean_iou"] == pytest.approx(0.4775)
    assert m["mean_accuracy"] == pytest.approx(0.5916666666666666)
    assert m["overall_accuracy"] == pytest.approx(0.5263157894736842)
    assert m["per_category_iou"] == pytest.approx([0, 0, 0.375, 0.4, 0.5, 0, 0.5, 1, 1, 1])
    cm = confusion([p.astype(np.uint8) for p in pred], [r.astype(np.uint8) for r in ref], 10)
    assert segmentation_metrics(cm, [str(i) for i in range(10)])["miou"] == pytest.approx(0.4775)
