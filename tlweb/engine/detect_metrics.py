"""Detection metrics through COCO's own evaluation: pycocotools' ``COCOeval`` used directly.

:func:`coco_metrics` gives mAP@[.5:.95] (COCO's headline "AP"), mAP50, mAP75, AP for small / medium /
large boxes, AR@100, and AP and AR per class, all fractions 0–1; classes with no box in the ground
truth get ``None`` (COCO's −1) and do not count in the means, as in COCO. torchmetrics'
``MeanAveragePrecision`` would need torchvision, whose wheel breaks this torch build; the tests check
these numbers against faster-coco-eval and against a case worked out by hand.

:func:`image_errors` scores each picture for "worst images": missed boxes and false alarms at one IoU
and score threshold (greedy matching, best score first, same class).
"""

from __future__ import annotations

import contextlib
import io

STAT_NAMES = ("map", "map50", "map75", "map_small", "map_medium", "map_large",
              "mar_1", "mar_10", "mar_100", "mar_small", "mar_medium", "mar_large")


def _coco_dicts(truth, predictions, num_classes: int):
    """(ground-truth dataset dict, detection list) in COCO's format; ids 1…N, category ids 1…K."""
    images, anns, dets = [], [], []
    for i, (w, h, boxes, labels) in enumerate(truth):
        images.append({"id": i + 1, "width": int(w), "height": int(h)})
        for b, c in zip(boxes, labels):
            b = [float(v) for v in b]
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": int(c) + 1, "bbox": b,
                         "area": b[2] * b[3], "iscrowd": 0})
    for i, (boxes, scores, labels) in enumerate(predictions):
        for b, s, c in zip(boxes, scores, labels):
            b = [float(v) for v in b]
            dets.append({"image_id": i + 1, "category_id": int(c) + 1, "bbox": b, "score": float(s),
                         "area": b[2] * b[3]})
    cats = [{"id": k + 1, "name": str(k)} for k in range(num_classes)]
    return {"images": images, "annotations": anns, "categories": cats}, dets


def coco_metrics(truth, predictions, class_names: list[str], max_dets: int = 100) -> dict:
    """COCO box metrics.

    ``truth``: per picture ``(width, height, boxes, labels)``; ``predictions``: per picture (same
    order) ``(boxes, scores, labels)``. Boxes are COCO ``[x, y, w, h]`` in the picture's pixels,
    labels class indices 0…K−1. Returns ``{"map", "map50", "map75", "map_small", …, "mar_100",
    "per_class_ap": {name: ap | None}, "per_class_ar": {name: ar | None}, "images", "boxes",
    "predictions"}``.
    """
    import numpy as np
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    if len(truth) != len(predictions):
        raise ValueError("one prediction entry per picture")
    gt_dict, dets = _coco_dicts(truth, predictions, len(class_names))
    out = {"images": len(truth), "boxes": len(gt_dict["annotations"]), "predictions": len(dets)}
    # nothing predicted: AP and AR 0 where there are boxes; the area breakdowns are left unknown
    empty = {k: (0.0 if k in ("map", "map50", "map75", "mar_1", "mar_10", "mar_100") else None) for k in STAT_NAMES}
    if not gt_dict["annotations"]:
        return {**{k: None for k in STAT_NAMES}, **out, "per_class_ap": {n: None for n in class_names},
                "per_class_ar": {n: None for n in class_names}}
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt = COCO()
        gt.dataset = gt_dict
        gt.createIndex()
        if not dets:  # loadRes refuses an empty list: nothing found means AP 0 for every class with boxes
            present = {a["category_id"] - 1 for a in gt_dict["annotations"]}
            return {**empty, **out,
                    "per_class_ap": {n: (0.0 if k in present else None) for k, n in enumerate(class_names)},
                    "per_class_ar": {n: (0.0 if k in present else None) for k, n in enumerate(class_names)}}
        dt = gt.loadRes(dets)
        ev = COCOeval(gt, dt, iouType="bbox")
        ev.params.maxDets = [1, 10, max_dets]
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    stats = [float(v) for v in ev.stats]
    out.update({k: (None if v < 0 else v) for k, v in zip(STAT_NAMES, stats)})
    precision = ev.eval["precision"]  # [T IoUs, R recalls, K classes, A areas, M maxDets]
    recall = ev.eval["recall"]  # [T, K, A, M]
    per_ap, per_ar = {}, {}
    for k, name in enumerate(class_names):
        p = precision[:, :, k, 0, -1]
        r = recall[:, k, 0, -1]
        per_ap[name] = float(np.mean(p[p > -1])) if (p > -1).any() else None
        per_ar[name] = float(np.mean(r[r > -1])) if (r > -1).any() else None
    out["per_class_ap"] = per_ap
    out["per_class_ar"] = per_ar
    return out


def iou_xywh(a, b) -> float:
    ax1, ay1, bx1, by1 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax1, bx1) - max(a[0], b[0]))
    ih = max(0.0, min(ay1, by1) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def image_errors(truth_boxes, truth_labels, boxes, scores, labels, iou: float = 0.5,
                 threshold: float = 0.5) -> dict:
    """One picture: ``{"missed", "false", "matched"}`` counting ground-truth boxes no prediction found,
    predictions (score ≥ ``threshold``) that match no box, and matches (same class, IoU ≥ ``iou``)."""
    order = sorted((i for i, s in enumerate(scores) if s >= threshold), key=lambda i: -float(scores[i]))
    used = set()
    matched = 0
    for i in order:
        best, best_j = iou, None
        for j, (tb, tl) in enumerate(zip(truth_boxes, truth_labels)):
            if j in used or int(tl) != int(labels[i]):
                continue
            v = iou_xywh(boxes[i], tb)
            if v >= best:
                best, best_j = v, j
        if best_j is not None:
            used.add(best_j)
            matched += 1
    return {"missed": len(truth_boxes) - matched, "false": len(order) - matched, "matched": matched}
