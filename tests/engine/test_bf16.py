"""The bf16 inference path (what CUDA GPUs get by default) exercised on the CPU, every family.

No GPU here, but most dtype bugs (a bf16 tensor handed to numpy, a float32 input into a bf16
model) show up on the CPU as well.
"""

from __future__ import annotations

import numpy as np
import pytest

from tlweb.engine import loading


@pytest.fixture
def bf16(settings):
    loading.reset_cache()
    yield settings.replace(dtype="bfloat16")
    loading.reset_cache()


def test_every_demo_family_runs_in_bf16(bf16, demo_models, example_image):
    from tlweb.engine.classify import classify
    from tlweb.engine.demo import registry
    from tlweb.engine.detect import detect
    from tlweb.engine.segment import segment

    for key, dm in registry().items():
        if dm.task == "image-classification":
            r = classify(example_image, key, 3, bf16)
            assert len(r.predictions) == 3
        elif dm.task == "image-segmentation":
            r = segment(example_image, key, bf16)
            assert r.label_map.shape == (r.height, r.width) and r.classes
        elif dm.task == "object-detection":
            r = detect(example_image, key, settings=bf16, threshold=0.0)
        elif dm.task == "depth-estimation":
            from tlweb.engine.inference import task

            r = task(dm.task).run(example_image, key, settings=bf16)
            assert r.depth.shape == (r.height, r.width) and r.depth.dtype == np.float32
            assert np.isfinite(r.depth).all() and r.depth_max > r.depth_min
        elif dm.task == "zero-shot-image-classification":
            from tlweb.engine.zeroshot import classify_labels

            r = classify_labels(example_image, key, "cat, dog", settings=bf16)
            assert [p.label for p in r.predictions] != [] and all(0 <= p.score <= 1 for p in r.predictions)
        else:
            r = detect(example_image, key, queries="cat,dog", settings=bf16, threshold=0.0)
        assert r.dtype == "bfloat16", key
        if dm.task.endswith("detection"):
            for b in r.boxes:
                x0, y0, x1, y1 = b.xyxy
                assert 0 <= x0 <= x1 <= r.width and 0 <= y0 <= y1 <= r.height


def test_compare_in_bf16(bf16, demo_models, example_image):
    from tlweb.engine.compare import compare

    result = compare([example_image, example_image], "demo-vit,demo-resnet", 3, bf16).as_dict()
    assert all(m["error"] in (None, "") and m["gflops"] > 0 for m in result["models"])
