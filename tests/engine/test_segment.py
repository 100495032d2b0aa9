"""Segmentation engine on tiny random-weight SegFormer, Mask2Former and UperNet models.

Random weights make the masks noise, so the tests check what must hold for any weights:
the label map has the ORIGINAL image's shape, shares are pixel fractions that add up to 1,
and the label map equals what the processor's own post-processing gives at that size.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from tests.registries import demo_keys
from tlweb.catalog import SEGMENTATION
from tlweb.engine import segment as seg
from tlweb.engine.demo import registry as demo_registry
from tlweb.engine.loading import load
from tlweb.errors import ImageError, ModelError

FAMILIES = demo_keys(SEGMENTATION)


def _img(w, h, seed=0):
    rng = np.random.default_rng(seed)
    # smooth-ish content so the random models see structure, not pure noise
    small = rng.integers(0, 255, (max(1, h // 16), max(1, w // 16), 3), dtype=np.uint8)
    return Image.fromarray(small).resize((w, h), Image.Resampling.BILINEAR)


@pytest.mark.parametrize("key", FAMILIES)
@pytest.mark.parametrize("size", [(97, 61), (64, 200), (1, 4000), (4000, 1)])
def test_label_map_has_original_shape_and_shares_add_up(demo_models, settings, key, size):
    w, h = size
    r = seg.segment(_img(w, h), key, settings)
    assert r.label_map.shape == (h, w)
    assert (r.width, r.height) == (w, h)
    assert np.issubdtype(r.label_map.dtype, np.integer)
    assert r.classes, "at least one class covers the image"
    assert sum(c.share for c in r.classes) == pytest.approx(1.0, abs=1e-9)
    assert sum(c.pixels for c in r.classes) == w * h
    assert [c.pixels for c in r.classes] == sorted((c.pixels for c in r.classes), reverse=True)
    present = set(np.unique(r.label_map).tolist())
    assert {c.id for c in r.classes} == present
    for c in r.classes:
        assert c.name == r.class_names[c.id]
        assert c.pixels == int((r.label_map == c.id).sum())


@pytest.mark.parametrize("key", FAMILIES)
def test_class_names_come_from_the_model(demo_models, settings, key):
    loaded = load(key, task="image-segmentation", settings=settings)
    r = seg.segment_loaded(_img(80, 60), loaded)
    assert r.class_names == {int(k): v for k, v in loaded.model.config.id2label.items()}
    if not demo_registry()[key].pretrained_on:  # the random-weight ones carry an ADE20k-like label set
        assert "sky" in r.class_names.values()
    d = r.as_dict()
    assert set(d["classes"][0]) >= {"name", "share"}
    assert all(0.0 <= c["share"] <= 1.0 for c in d["classes"])
    assert (d["width"], d["height"]) == (80, 60)


@pytest.mark.parametrize("key,size", [("demo-segformer", (150, 90)), ("demo-upernet", (70, 130)),
                                      ("demo-mask2former", (256, 128)), ("demo-mask2former", (200, 128))])
@pytest.mark.parametrize("route", ["direct", "banded"])
def test_label_map_equals_the_processors_post_processing(demo_models, settings, monkeypatch, key, size, route):
    """Both routes (the processor's post-processing at full size, and our banded resampling used
    for huge photos) must agree with post_process_semantic_segmentation(target_sizes=…)."""
    if route == "banded":
        monkeypatch.setattr(seg, "BAND_ELEMENTS", 5000)  # forces the score-map route, in many bands
    loaded = load(key, task="image-segmentation", settings=settings)
    img = _img(*size, seed=3)
    ours = seg.segment_loaded(img, loaded).label_map
    prep = seg.prepare_image(img)
    outputs, inputs = seg.run_model(loaded, prep)
    if "pixel_mask" in inputs:
        assert bool(inputs["pixel_mask"].all()), "this size must not be padded"
    ref = loaded.processor.post_process_semantic_segmentation(outputs, target_sizes=[(size[1], size[0])])[0]
    assert (ours == ref.numpy()).mean() > 0.999


def test_padding_fraction_reads_the_pixel_mask():
    """Processors that pad (bottom/right) say so in pixel_mask; that part of the scores is cut."""
    mask = torch.zeros(1, 128, 224, dtype=torch.long)
    mask[:, :100, :200] = 1
    assert seg._padding_fraction({"pixel_mask": mask}) == (200 / 224, 100 / 128)
    assert seg._padding_fraction({"pixel_values": torch.zeros(1, 3, 8, 8)}) == (1.0, 1.0)


@pytest.mark.parametrize("shape,out,content", [
    ((12, 20, 24), (97, 61), (1.0, 1.0)),
    ((5, 7, 9), (1, 4000), (1.0, 1.0)),
    ((5, 7, 9), (4000, 1), (1.0, 1.0)),
    ((30, 16, 16), (300, 200), (1.0, 1.0)),
])
def test_resample_argmax_matches_bilinear_interpolation(shape, out, content):
    torch.manual_seed(0)
    scores = F.avg_pool2d(torch.randn(1, *shape) * 3, 3, 1, 1)[0]
    h, w = out
    ref = F.interpolate(scores[None], size=(h, w), mode="bilinear", align_corners=False)[0].argmax(0).numpy()
    for band in (10**9, 500):  # one call, and the banded path with tiny bands
        got = seg.resample_argmax(scores, h, w, content, band_elements=band)
        assert got.shape == (h, w)
        assert (got == ref).mean() > 0.999


def test_resample_argmax_crops_the_padding():
    torch.manual_seed(1)
    scores = torch.randn(6, 8, 10)
    got = seg.resample_argmax(scores, 37, 53, content=(0.8, 0.5))  # 8 of 10 columns, 4 of 8 rows show the picture
    ref = F.interpolate(scores[None, :, :4, :8], size=(37, 53), mode="bilinear", align_corners=False)[0].argmax(0)
    assert (got == ref.numpy()).mean() > 0.999


def test_prepare_image_downscales_and_pads():
    p = seg.prepare_image(Image.new("RGB", (4000, 3000)), max_side=1000)
    assert p.fed_size == (1000, 750) and (p.content_w, p.content_h) == (1000, 750)
    assert p.scale == (0.25, 0.25) and p.content_fraction == (1.0, 1.0)
    p = seg.prepare_image(Image.new("RGB", (1, 4000), (200, 10, 10)), max_side=2000)
    assert (p.content_w, p.content_h) == (1, 2000)
    assert p.fed_size == (200, 2000)  # padded to the 10:1 aspect limit, on the right
    assert p.content_fraction == (1 / 200, 1.0)
    assert p.image.getpixel((0, 0)) == (200, 10, 10) and p.image.getpixel((150, 10)) == (200, 10, 10)  # mean colour
    p = seg.prepare_image(Image.new("RGB", (300, 200)))
    assert p.image.size == (300, 200) and p.scale == (1.0, 1.0)


def test_very_large_image_within_limits(demo_models, settings, tmp_path):
    """8000×8000 is accepted by load_image and the mask keeps that size (a solid PNG: cheap)."""
    path = tmp_path / "big.png"
    Image.new("RGB", (8000, 8000), (30, 140, 60)).save(path)
    r = seg.segment(path, "demo-segformer", settings)
    assert r.label_map.shape == (8000, 8000)
    assert sum(c.pixels for c in r.classes) == 64_000_000


def test_panoptic_segments_for_universal_models(demo_models, settings, monkeypatch):
    monkeypatch.setattr(seg, "PANOPTIC_THRESHOLD", 0.0)  # random weights: unsure, and their masks overlap
    monkeypatch.setattr(seg, "PANOPTIC_OVERLAP", 0.0)
    r = seg.segment(_img(120, 90), "demo-mask2former", settings)
    assert r.has_panoptic and r.panoptic_map.shape == (90, 120)
    assert r.segments, "with no threshold every query yields a segment"
    assert sum(s.share for s in r.segments) <= 1.0 + 1e-9
    for s in r.segments:
        assert s.label == r.class_names[s.label_id]
        assert s.share == pytest.approx((r.panoptic_map == s.id).mean())
    assert "segments" in r.as_dict()
    assert seg.segment(_img(64, 64), "demo-segformer", settings).segments is None


def test_save_mask_roundtrip(demo_models, settings, tmp_path):
    r = seg.segment(_img(90, 50), "demo-upernet", settings)
    path = tmp_path / "mask.png"
    seg.save_mask(r, path, colors=[(i, 2 * i, 3 * i) for i in range(12)])
    back = Image.open(path)
    assert back.mode == "P" and back.size == (90, 50)
    assert np.array_equal(np.asarray(back), r.label_map)


def test_bad_images_are_refused_with_a_sentence(demo_models, settings, tmp_path):
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(good, format="JPEG")
    cases = {"text.png": b"not an image at all", "truncated.jpg": good.getvalue()[:200]}
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        with pytest.raises(ImageError) as info:
            seg.segment(p, "demo-segformer", settings)
        assert any(w in str(info.value) for w in ("not an image", "truncated", "corrupt"))


def test_a_detector_is_not_a_segmenter(demo_models, settings):
    with pytest.raises(ModelError, match="not a segmentation model"):
        seg.segment(_img(32, 32), str(demo_models["demo-detr"]), settings)


def test_pixel_counts_skips_negative_ids():
    ids = np.array([[-1, 0, 2], [2, 2, -1]], dtype=np.int16)
    assert seg.pixel_counts(ids).tolist() == [1, 0, 3]
    assert seg.pixel_counts(np.full((3, 3), -1, dtype=np.int16)).tolist() == []
