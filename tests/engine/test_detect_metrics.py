"""Detection mAP through pycocotools' COCOeval, cross-checked against faster-coco-eval and by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tlweb.engine.detect_metrics import coco_metrics, image_errors, iou_xywh

NAMES = ["circle", "square"]


def test_hand_worked_case():
    """Two circles; one prediction exact (score .9), one at IoU 0.62 (score .8).

    IoU thresholds .50, .55, .60: both are hits → AP 1. At .65 … .95 (7 thresholds) the second is a
    false alarm: recall stops at 0.5 with precision 1, so COCO's 101-point interpolation gives 51/101.
    mAP = (3 · 1 + 7 · 51/101) / 10. Squares have no boxes: AP None, not counted.
    """
    truth = [(100, 100, [[10, 10, 20, 20], [50, 50, 20, 20]], [0, 0])]
    # a 20×20 box shifted 4.7 px sideways: IoU = 15.3·20 / (800 − 15.3·20) = 0.6194
    pred = [([[10, 10, 20, 20], [54.7, 50, 20, 20]], [0.9, 0.8], [0, 0])]
    assert iou_xywh([50, 50, 20, 20], [54.7, 50, 20, 20]) == pytest.approx(306 / 494)
    m = coco_metrics(truth, pred, NAMES)
    expected = (3 + 7 * 51 / 101) / 10
    assert m["map"] == pytest.approx(expected, abs=1e-6)
    assert m["map50"] == pytest.approx(1.0)
    assert m["map75"] == pytest.approx(51 / 101, abs=1e-6)
    assert m["per_class_ap"] == {"circle": pytest.approx(expected, abs=1e-6), "square": None}
    assert m["per_class_ar"]["circle"] == pytest.approx((3 * 1.0 + 7 * 0.5) / 10)
    assert m["boxes"] == 2 and m["predictions"] == 2


def test_perfect_and_empty_predictions():
    truth = [(64, 64, [[1, 2, 30, 20]], [1]), (64, 64, [], [])]
    perfect = [([[1, 2, 30, 20]], [0.99], [1]), ([], [], [])]
    m = coco_metrics(truth, perfect, NAMES)
    assert m["map"] == pytest.approx(1.0) and m["per_class_ap"]["square"] == pytest.approx(1.0)
    assert m["per_class_ap"]["circle"] is None
    nothing = coco_metrics(truth, [([], [], []), ([], [], [])], NAMES)
    assert nothing["map"] == 0.0 and nothing["per_class_ap"] == {"circle": None, "square": 0.0}
    wrong_class = coco_metrics(truth, [([[1, 2, 30, 20]], [0.99], [0]), ([], [], [])], NAMES)
    assert wrong_class["map"] == 0.0


def _random_case(seed: int, n_images: int = 12, k: int = 3):
    rng = np.random.default_rng(seed)
    truth, preds = [], []
    for _ in range(n_images):
        n = int(rng.integers(0, 5))
        boxes = [[float(x), float(y), float(w), float(h)] for x, y, w, h in
                 zip(rng.uniform(0, 80, n), rng.uniform(0, 80, n), rng.uniform(4, 40, n), rng.uniform(4, 40, n))]
        labels = [int(c) for c in rng.integers(0, k, n)]
        truth.append((128, 128, boxes, labels))
        pb, ps, pl = [], [], []
        for b, c in zip(boxes, labels):  # jittered copies, sometimes of the wrong class
            if rng.random() < 0.8:
                pb.append([v + float(rng.normal(0, 1.5)) for v in b[:2]] + [max(1.0, v + float(rng.normal(0, 1.5))) for v in b[2:]])
                ps.append(float(rng.uniform(0.2, 1)))
                pl.append(c if rng.random() < 0.85 else int(rng.integers(0, k)))
        for _ in range(int(rng.integers(0, 4))):  # false alarms
            pb.append([float(rng.uniform(0, 90)), float(rng.uniform(0, 90)), float(rng.uniform(4, 30)), float(rng.uniform(4, 30))])
            ps.append(float(rng.uniform(0, 0.7)))
            pl.append(int(rng.integers(0, k)))
        preds.append((pb, ps, pl))
    return truth, preds


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_faster_coco_eval(seed):
    """The same detections scored by faster-coco-eval's COCOeval_faster give the same twelve numbers."""
    fce = pytest.importorskip("faster_coco_eval")
    from faster_coco_eval import COCO, COCOeval_faster

    from tlweb.engine.detect_metrics import STAT_NAMES, _coco_dicts

    names = ["a", "b", "c"]
    truth, preds = _random_case(seed)
    ours = coco_metrics(truth, preds, names)
    gt_dict, dets = _coco_dicts(truth, preds, len(names))
    gt = COCO(gt_dict)
    dt = gt.loadRes(dets)
    ev = COCOeval_faster(gt, dt, iouType="bbox", print_function=lambda *a, **k: None)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    theirs = [float(v) for v in ev.stats[:12]]
    for name, v in zip(STAT_NAMES, theirs):
        mine = ours[name]
        assert (mine is None and v < 0) or mine == pytest.approx(v, abs=1e-6), (name, mine, v, fce.__version__)
    assert 0.1 < ours["map"] < 0.95  # a case with something to get right and something to get wrong


def test_image_errors():
    truth_b, truth_l = [[0, 0, 10, 10], [20, 20, 10, 10]], [0, 1]
    e = image_errors(truth_b, truth_l, [[0, 0, 10, 10], [20, 20, 10, 10], [50, 50, 5, 5]], [0.9, 0.9, 0.9], [0, 0, 1])
    assert e == {"missed": 1, "false": 2, "matched": 1}
    low = image_errors(truth_b, truth_l, [[0, 0, 10, 10]], [0.2], [0])
    assert low == {"missed": 2, "false": 0, "matched": 0}
