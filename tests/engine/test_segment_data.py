"""Segmentation data: folders, zips, Hugging Face datasets and uploaded pairs → MaskData; every bad input
is one sentence naming the file; "masks per class" counts images whose mask holds the class."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tlweb.engine.data.masks import (
    read_mask,
    rgb_to_indices,
    subsample_masks,
)
from tlweb.engine.data.scenes import write_scenes
from tlweb.engine.data.segmentation import load_masks
from tlweb.errors import DataError

KINDS = ["circle", "square", "triangle"]


def _palette_png(arr) -> bytes:
    """A palette PNG whose indices are ``arr`` and whose colours are anything but those values."""
    im = Image.fromarray(np.asarray(arr, dtype=np.uint8)).convert("P")  # greyscale → palette keeps the values
    im.putpalette([v for i in range(256) for v in ((i * 37) % 256, (i * 91) % 256, (i * 53) % 256)])
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def _flat_folder(root: Path, n=6, size=(12, 10), labels=("bg", "thing")) -> Path:
    """images/ + masks/ + labels.txt; mask i has class 1 in its left half."""
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    (root / "labels.txt").write_text("\n".join(labels) + "\n")
    w, h = size
    for i in range(n):
        Image.fromarray(np.full((h, w, 3), 40 * i % 256, np.uint8)).save(root / "images" / f"p{i}.jpg")
        m = np.zeros((h, w), np.uint8)
        m[:, : w // 2] = 1
        Image.fromarray(m).save(root / "masks" / f"p{i}.png")
    return root


def test_split_folder_counts_images_holding_each_class(tmp_path, settings):
    root = write_scenes(tmp_path / "scenes", KINDS, n_train=12, n_test=4, size=32, seed=3)
    data = load_masks(str(root), settings=settings)
    assert data.class_names == ["background", *KINDS]
    assert (len(data.train), len(data.test)) == (12, 4) and data.test_from == "test/ folder"
    counts = data.counts()
    # a class's count is the number of training masks that hold it, computed from the files themselves
    masks = sorted((root / "train" / "masks").glob("*.png"))
    for k, name in enumerate(data.class_names):
        assert counts["train"][name] == sum(int((np.asarray(Image.open(p)) == k).any()) for p in masks)
    assert data.fingerprint() == load_masks(str(root), settings=settings).fingerprint()
    assert "4 classes" in data.summary()


def test_held_out_split_and_images_without_masks(tmp_path, settings):
    root = _flat_folder(tmp_path / "d", n=6)
    Image.fromarray(np.zeros((10, 12, 3), np.uint8)).save(root / "images" / "lonely.png")
    data = load_masks(str(root), test_fraction=0.34, seed=1, settings=settings)
    assert len(data.train) + len(data.test) == 6 and len(data.test) == 2
    assert data.test_from == "held-out 34%"
    assert any("1 image" in w and "no mask" in w and "lonely" in w for w in data.warnings)


def test_zip_reads_labels_from_the_zip(tmp_path, settings):
    root = _flat_folder(tmp_path / "d", n=4, labels=("sea", "boat"))
    zpath = tmp_path / "seg.zip"
    with zipfile.ZipFile(zpath, "w") as zf:
        for p in root.rglob("*"):
            if p.is_file():
                zf.write(p, f"wrapped/{p.relative_to(root).as_posix()}")
    data = load_masks(str(zpath), settings=settings)
    assert data.class_names == ["sea", "boat"]
    assert len(data.train) + len(data.test) == 4
    assert not any("labels.txt" in s for s in data.skipped)


@pytest.mark.parametrize("case", ["size", "value", "rgb", "jpeg"])
def test_bad_masks_are_refused_naming_the_file(tmp_path, settings, case):
    root = _flat_folder(tmp_path / "d", n=3)
    bad = root / "masks" / "p1.png"
    if case == "size":
        Image.fromarray(np.zeros((9, 12), np.uint8)).save(bad)
        words = ["masks/p1.png", "12×9", "12×10"]
    elif case == "value":
        Image.fromarray(np.full((10, 12), 7, np.uint8)).save(bad)
        words = ["masks/p1.png", "value 7", "2 classes"]
    elif case == "rgb":
        rgb = np.zeros((10, 12, 3), np.uint8)
        rgb[..., 0] = 200
        Image.fromarray(rgb).save(bad)
        words = ["masks/p1.png", "colour (RGB)", "convert_rgb_masks"]
    else:
        bad.unlink()
        Image.fromarray(np.zeros((10, 12), np.uint8)).save(root / "masks" / "p1.jpg")
        words = ["p1.jpg", "JPEG", "PNG"]
    with pytest.raises(DataError) as err:
        load_masks(str(root), settings=settings)
    text = str(err.value)
    assert all(w in text for w in words), text
    assert "\n" not in text and str(tmp_path) not in text


def test_ignore_value_and_palette_masks(tmp_path, settings):
    root = _flat_folder(tmp_path / "d", n=3, labels=("a", "b", "c"))
    m = np.zeros((10, 12), np.uint8)
    m[0] = 255  # ignored row
    m[5:] = 2
    (root / "masks" / "p0.png").write_bytes(_palette_png(m))
    assert Image.open(root / "masks" / "p0.png").mode == "P"
    assert np.array_equal(read_mask(str(root / "masks" / "p0.png"), settings), m)  # indices, not colours
    data = load_masks(str(root), settings=settings)
    assert data.counts()["train"]["c"] + data.counts()["test"]["c"] == 1


def test_rgb_to_indices():
    rgb = np.zeros((2, 3, 3), np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[1, 2] = (0, 0, 255)
    rgb[1, 1] = (9, 9, 9)  # in no class
    ids = rgb_to_indices(rgb, [(0, 0, 0), (255, 0, 0), (0, 0, 255)])
    assert ids.tolist() == [[1, 0, 0], [0, 255, 2]]


def test_subsample_masks_per_class(tmp_path, settings):
    root = write_scenes(tmp_path / "s", KINDS, n_train=30, n_test=3, size=24, seed=0)
    data = load_masks(str(root), settings=settings)
    for per in (1, 2, 5):
        sub = subsample_masks(data, per, seed=4)
        c = sub.counts()["train"]
        assert all(v >= min(per, data.counts()["train"][k]) for k, v in c.items())
        assert len(sub.train) <= per * len(KINDS)  # each kept image was needed by some shape class
        assert sub.test is data.test
    assert subsample_masks(data, 2, 4).train.names == subsample_masks(data, 2, 4).train.names


def test_hub_style_dataset_with_annotation_column(tmp_path, settings):
    import datasets

    from tlweb.engine.data.masks_hub import from_hf_masks

    rng = np.random.default_rng(0)
    imgs = [Image.fromarray(rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)) for _ in range(5)]
    anns = [Image.fromarray(np.array(rng.integers(0, 3, (8, 8)), dtype=np.uint8)) for _ in range(5)]
    ds = datasets.Dataset.from_dict({"image": imgs, "annotation": anns},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "annotation": datasets.Image()}))
    dd = datasets.DatasetDict({"train": ds.select(range(4)), "validation": ds.select([4])})
    data = from_hf_masks(dd, "owner/scenes", labels="sky,road,car", settings=settings)
    assert data.class_names == ["sky", "road", "car"]
    assert (len(data.train), len(data.test), data.test_from) == (4, 1, "validation split")
    with pytest.raises(DataError, match="does not name its classes"):
        from_hf_masks(dd, "owner/scenes", settings=settings)
    saved = tmp_path / "saved"
    dd.save_to_disk(str(saved))
    again = load_masks(str(saved), labels=["sky", "road", "car"], mask_column="annotation", settings=settings)
    assert again.counts() == data.counts()


def test_shared_mode_reads_no_server_file_as_labels(tmp_path, settings):
    from tlweb.engine.data.masks import class_list

    labels = tmp_path / "labels.txt"
    labels.write_text("a\nb\n")
    assert class_list(str(labels), settings=settings.replace(mode="local")) == ["a", "b"]
    with pytest.raises(DataError):  # one name made of the path: a single class, refused; never the file's lines
        class_list(str(labels), settings=settings.replace(mode="shared"))
