"""Fine-tune results for segmentation: one colour per class across the previews, the worst images and
before/after."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from PIL import Image

from tlweb.viz import task_results as vr


def _colour_at(img: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int]:
    return img.convert("RGB").getpixel(xy)


def test_a_class_has_one_colour_in_the_worst_images_and_before_after():
    names = ["background", "circle", "square", "triangle"]
    photo = Image.new("RGB", (64, 64), (128, 128, 128))
    mask = np.zeros((64, 64), np.uint8)
    mask[:, 32:] = 2  # the right half is "square"
    worst = vr.mask_overlay(photo, mask, names, opacity=1.0)
    # before/after: the base model knows other classes; the run's classes keep their order first
    tuned = SimpleNamespace(label_map=mask.astype(np.int64), class_names=dict(enumerate(names)), classes=[])
    base_names = {0: "background", 1: "wall", 2: "square"}
    order = [tuned.class_names[i] for i in sorted(tuned.class_names)]
    order += sorted(set(base_names.values()) - set(order))
    after = vr.segment_picture(photo, tuned, order, opacity=1.0)
    right = (worst.width * 3 // 4, worst.height // 2)
    assert _colour_at(worst, right) == _colour_at(after.resize(worst.size, Image.Resampling.NEAREST), right)
    left = (worst.width // 4, worst.height // 2)
    assert _colour_at(worst, left) == (128, 128, 128)  # background stays the photo


def test_detection_bars_draw_each_class_ap_with_its_recall():
    ap = {"circle": 0.5, "square": None}
    ar = {"circle": 0.75, "square": None}
    fig = vr.per_class_metric_bars(ap, "map", recall=ar)
    assert [t.name for t in fig.data] == ["AP@[.5:.95]", "AR@[.5:.95]"]
    assert list(fig.data[1].y) == [75.0, 0.0] and list(fig.data[1].text) == ["75.0%", "n/a"]
    assert fig.layout.barmode == "group" and "AR" in fig.layout.yaxis.title.text
    alone = vr.per_class_metric_bars({"circle": 0.4}, "miou")
    assert len(alone.data) == 1 and alone.layout.showlegend is False
