"""Datasets for fine-tuning: folders, zips, uploads, the sample, Hub-style column detection,
bad data, and the decode-once tensors matching the model's own processor."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from tests.engine.ft_helpers import make_zip, one_thread, png_bytes, shapes_folder  # noqa: F401
from tlweb.engine import data as D
from tlweb.errors import DataError

pytestmark = pytest.mark.usefixtures("one_thread")


def test_sample_data_is_generated_offline_and_deterministic(settings):
    d = D.sample_data(settings)
    assert d.class_names == sorted(D.SAMPLE_CLASSES)
    assert d.source == "sample" and d.test_from == "test/ folder"
    counts = d.counts()
    assert set(counts["train"].values()) == {32} and set(counts["test"].values()) == {8}
    img = d.train[0]["image"]
    assert img.mode == "RGB" and img.size == (96, 96)
    assert D.sample_data(settings).fingerprint() == d.fingerprint()
    assert D.load_data("sample", settings=settings).fingerprint() == d.fingerprint()


def test_folder_with_train_and_test_and_odd_class_names(tmp_path, settings):
    names = ["café ü 🐱", "with space", "plain"]
    for split, n in (("train", 4), ("test", 2)):
        for i, name in enumerate(names):
            folder = tmp_path / "ds" / split / name
            folder.mkdir(parents=True)
            for k in range(n):
                (folder / f"{k}.png").write_bytes(png_bytes((40 * i, 10 * k, 90)))
    d = D.load_data(str(tmp_path / "ds"), settings=settings)
    assert d.class_names == sorted(names)
    assert d.test_from == "test/ folder"
    assert d.counts() == {"train": {n: 4 for n in sorted(names)}, "test": {n: 2 for n in sorted(names)}}
    assert d.skipped == []


def test_held_out_split_is_stratified_disjoint_and_seeded(tmp_path, settings):
    root = shapes_folder(tmp_path / "ds", per_class=10)
    d = D.load_data(str(root), settings=settings, test_fraction=0.2, seed=3)
    assert d.test_from == "held-out 20% (stratified)"
    c = d.counts()
    assert all(v == 2 for v in c["test"].values()) and all(v == 8 for v in c["train"].values())
    train_paths = set(D.image_sources(d.train))
    test_paths = set(D.image_sources(d.test))
    assert not train_paths & test_paths and len(train_paths | test_paths) == 40
    again = D.load_data(str(root), settings=settings, test_fraction=0.2, seed=3)
    other = D.load_data(str(root), settings=settings, test_fraction=0.2, seed=4)
    assert set(D.image_sources(again.test)) == test_paths
    assert set(D.image_sources(other.test)) != test_paths


def test_tiny_classes_still_split(tmp_path, settings):
    # datasets' train_test_split(stratify_by_column=…) refuses a test set smaller than the class count
    root = shapes_folder(tmp_path / "ds", per_class=2)
    d = D.load_data(str(root), settings=settings)
    assert set(d.counts()["test"].values()) == {1} and set(d.counts()["train"].values()) == {1}


def test_corrupt_and_non_image_files_are_skipped_and_reported(tmp_path, settings):
    root = shapes_folder(tmp_path / "ds", classes=("a", "b"), per_class=4)
    (root / "a" / "garbage.jpg").write_bytes(b"this is not a jpeg")
    (root / "a" / "notes.txt").write_text("hello")
    (root / "b" / "empty.png").write_bytes(b"")
    good = (root / "b" / "b_0000.png").read_bytes()
    (root / "b" / "truncated.png").write_bytes(good[: len(good) // 2])  # header fine, pixels cut short
    d = D.load_data(str(root), settings=settings, test_fraction=0.25)
    text = "\n".join(d.skipped)
    assert "a/garbage.jpg: not an image" in text
    assert "a/notes.txt: not an image file" in text
    assert "b/empty.png: empty file" in text
    # the truncated file passes the header check and is caught when decoded (once)
    from transformers import ViTImageProcessorPil

    proc = ViTImageProcessorPil(size={"height": 16, "width": 16})
    n_rows = len(d.train) + len(d.test)
    encoded = len(D.encode_split(d, "train", proc, settings)) + len(D.encode_split(d, "test", proc, settings))
    assert n_rows == 9 and encoded == 8
    assert any("truncated.png" in s and "truncated or corrupt" in s for s in d.skipped)


@pytest.mark.parametrize("layout, message", [
    ("empty_class", "has no readable images"),
    ("one_class", "Only one class"),
    ("no_images", "no class folders"),
    ("loose_images", "no class folders"),
    ("only_corrupt_class", "'b' has no readable images"),
])
def test_bad_folders_give_one_sentence(tmp_path, settings, layout, message):
    root = tmp_path / "ds"
    root.mkdir()
    if layout == "empty_class":
        shapes_folder(root, classes=("a", "b"), per_class=3)
        (root / "empty").mkdir()
    elif layout == "one_class":
        shapes_folder(root, classes=("only",), per_class=3)
    elif layout == "loose_images":
        (root / "x.png").write_bytes(png_bytes())
    elif layout == "only_corrupt_class":
        shapes_folder(root, classes=("a",), per_class=3)
        (root / "b").mkdir()
        (root / "b" / "bad.jpg").write_bytes(b"nope")
    with pytest.raises(DataError, match=message) as info:
        D.load_data(str(root), settings=settings)
    assert "\n" not in str(info.value)


def test_missing_path_and_bad_ids(settings, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        D.load_data(str(tmp_path / "nope"), settings=settings)
    with pytest.raises(DataError, match="does not exist"):
        D.load_data("missing.zip", settings=settings)
    (tmp_path / "f.txt").write_text("x")
    with pytest.raises(DataError, match="not a .zip"):
        D.load_data(str(tmp_path / "f.txt"), settings=settings)
    with pytest.raises(DataError, match="neither"):
        D.load_data("not a valid id!", settings=settings)


def test_hub_id_offline_says_so(settings):
    with pytest.raises(DataError, match="cannot be reached"):
        D.load_data("someone/surely-not-cached-dataset", settings=settings)


# --------------------------------------------------------------------------- zips


def test_zip_of_class_folders_in_a_wrapping_folder(tmp_path, settings):
    entries = {f"my data/{c}/{i}.png": png_bytes((i * 20, 50 if c == "cat" else 200, 0))
               for c in ("cat", "dog") for i in range(5)}
    entries["my data/readme.md"] = b"# notes"
    entries["__MACOSX/my data/._x.png"] = b"junk"
    entries["my data/dog/.DS_Store"] = b"junk"
    z = make_zip(tmp_path / "pets.zip", entries)
    d = D.load_data(str(z), settings=settings)
    assert d.source == "pets.zip"
    assert d.class_names == ["cat", "dog"]
    assert sum(d.counts()["train"].values()) + sum(d.counts()["test"].values()) == 10
    assert d.skipped == ["my data/readme.md: not an image file"]
    # the same zip is extracted once (content hash)
    again = D.load_data(str(z), settings=settings)
    assert again.fingerprint() == d.fingerprint()


def test_zip_with_train_and_test_folders(tmp_path, settings):
    entries = {f"{s}/{c}/{i}.png": png_bytes((i * 30, 60 * k, 9)) for s, n in (("train", 4), ("test", 2))
               for k, c in enumerate(("x", "y")) for i in range(n)}
    d = D.load_data(str(make_zip(tmp_path / "split.zip", entries)), settings=settings)
    assert d.test_from == "test/ folder" and d.counts()["test"] == {"x": 2, "y": 2}


@pytest.mark.parametrize("bad_name", ["../evil.png", "a/../../evil.png", "/abs/evil.png", "C:/win/evil.png"])
def test_zip_path_escape_is_refused(tmp_path, settings, bad_name):
    entries = {f"a/{i}.png": png_bytes() for i in range(3)} | {f"b/{i}.png": png_bytes() for i in range(3)}
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
        info = zipfile.ZipInfo("placeholder")
        info.filename = bad_name  # ZipInfo normalises some names; set it raw
        zf.writestr(info, png_bytes())
    with pytest.raises(DataError, match="outside"):
        D.load_data(str(path), settings=settings)
    assert not (tmp_path / "evil.png").exists()


def test_zip_with_a_symlink_is_refused(tmp_path, settings):
    path = tmp_path / "link.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for i in range(3):
            zf.writestr(f"a/{i}.png", png_bytes())
            zf.writestr(f"b/{i}.png", png_bytes())
        info = zipfile.ZipInfo("a/link.png")
        info.external_attr = (0o120777 << 16)
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(DataError, match="link"):
        D.load_data(str(path), settings=settings)


def test_not_a_zip_and_zip_bomb(tmp_path, settings):
    fake = tmp_path / "fake.zip"
    fake.write_bytes(b"PK not really")
    with pytest.raises(DataError, match="not a readable zip"):
        D.load_data(str(fake), settings=settings)
    bomb = make_zip(tmp_path / "bomb.zip", {"a/1.png": png_bytes(), "b/big.png": b"\0" * (5 * 1024 * 1024)})
    with pytest.raises(DataError, match="zip bomb"):
        D.load_data(str(bomb), settings=settings)


def test_zip_file_count_limit(tmp_path, settings, monkeypatch):
    monkeypatch.setattr("tlweb.engine.data.folders.MAX_FILES", 50)  # where the limit is read
    z = make_zip(tmp_path / "many.zip", {f"c{i % 2}/{i}.png": png_bytes() for i in range(51)})
    with pytest.raises(DataError, match="limit is 50"):
        D.load_data(str(z), settings=settings)


def test_ten_thousand_tiny_files(tmp_path, settings):
    tiny = png_bytes(size=(4, 4))
    z = make_zip(tmp_path / "tiny.zip", {f"c{i % 4}/{i}.png": tiny for i in range(10_000)})
    d = D.load_data(str(z), settings=settings)
    c = d.counts()
    assert sum(c["train"].values()) + sum(c["test"].values()) == 10_000
    assert c["test"] == {f"c{k}": 500 for k in range(4)}


# --------------------------------------------------------------------------- uploads, subsample


def test_class_uploads_keep_names_and_report_bad_files(tmp_path, settings):
    files = {}
    for k, name in enumerate(["café/ü 🐱", "  spaced name  ", "dog"]):
        files[name] = []
        for i in range(4):
            p = tmp_path / f"{k}_{i}.png"
            p.write_bytes(png_bytes((k * 80, i * 30, 0)))
            files[name].append(str(p))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"garbage")
    files["dog"].append(str(bad))
    d = D.from_class_uploads(files, settings=settings)
    assert d.class_names == ["café/ü 🐱", "spaced name", "dog"]
    assert d.source == "uploads" and d.test_from.startswith("held-out")
    assert d.skipped == ["dog/bad.jpg: not an image"]
    assert all(v == 1 for v in d.counts()["test"].values())


@pytest.mark.parametrize("classes, message", [
    ({}, "at least two classes"),
    ({"a": ["A"], "b": []}, "'b' has no readable images"),
    ({"a": ["A", "A2"]}, "Only one class"),
    ({"": ["A"], "b": ["B"]}, "empty name"),
    ({"a": ["A"], " a ": ["B"]}, "both called 'a'"),
    ({"a": ["A", "A2"], "b": ["B"]}, "'b' has only 1 image"),
])
def test_bad_uploads(tmp_path, settings, classes, message):
    for key in ("A", "A2", "B"):
        (tmp_path / f"{key}.png").write_bytes(png_bytes())
    real = {name: [str(tmp_path / f"{f}.png") for f in files] for name, files in classes.items()}
    with pytest.raises(DataError, match=message):
        D.from_class_uploads(real, settings=settings)


def test_subsample_train_side_only(tmp_path, settings):
    d = D.load_data(str(shapes_folder(tmp_path / "ds", per_class=10)), settings=settings)
    s1 = D.subsample(d, 3, seed=0)
    s2 = D.subsample(d, 3, seed=1)
    assert set(s1.counts()["train"].values()) == {3}
    assert s1.counts()["test"] == d.counts()["test"]
    assert s1.fingerprint() != d.fingerprint() and s1.fingerprint() != s2.fingerprint()
    assert set(D.image_sources(s1.train)) <= set(D.image_sources(d.train))
    assert D.subsample(d, 100).counts()["train"] == d.counts()["train"]
    with pytest.raises(DataError):
        D.subsample(d, 0)


# --------------------------------------------------------------------------- Hub-style datasets


def _save_hub_like(root, label_values, test=True, image_name="img", label_name="fine_label"):
    import datasets

    from tests.engine.ft_helpers import png_bytes as pb

    def make(n, off):
        return {image_name: [{"bytes": pb((i * 40 % 255, off, 9)), "path": None} for i in range(n)],
                label_name: [label_values[i % len(label_values)] for i in range(n)],
                "extra": list(range(n))}

    feats = {image_name: datasets.Image(), "extra": datasets.Value("int64")}
    if isinstance(label_values[0], str):
        feats[label_name] = datasets.Value("string")
    else:
        feats[label_name] = datasets.Sequence(datasets.Value("int64"))
    splits = {"train": datasets.Dataset.from_dict(make(12, 0), features=datasets.Features(feats))}
    if test:
        splits["test"] = datasets.Dataset.from_dict(make(6, 100), features=datasets.Features(feats))
    datasets.DatasetDict(splits).save_to_disk(str(root))
    return root


def test_hub_style_columns_are_detected(tmp_path, settings):
    root = _save_hub_like(tmp_path / "hub", ["zebra", "apple", "kiwi"])
    d = D.load_data(str(root), settings=settings)
    assert d.class_names == ["apple", "kiwi", "zebra"]
    assert d.test_from == "test split"
    assert list(d.train.features) == ["image", "label"]
    assert d.counts()["test"] == {"apple": 2, "kiwi": 2, "zebra": 2}
    assert d.train[0]["image"].mode == "RGB"
    with pytest.raises(DataError, match="no column 'nope'"):
        D.load_data(str(root), settings=settings, label_column="nope")
    held = D.load_data(str(root), settings=settings, split="train")
    assert held.test_from.startswith("held-out") and len(held.train) + len(held.test) == 12


def test_multi_label_dataset_is_refused(tmp_path, settings):
    root = _save_hub_like(tmp_path / "ml", [[0, 1], [1]], test=False, label_name="tags")
    with pytest.raises(DataError, match="multi-label"):
        D.load_data(str(root), settings=settings)


def _cache_like_the_hub(repo_id: str, tmp_path) -> str:
    """Write ``repo_id`` into the datasets cache the way ``load_dataset`` leaves a Hub parquet dataset
    (``<owner>___<name>/default/0.0.0/<hash>/``), so it can be read back with the Hub unreachable."""
    import shutil

    import datasets
    from datasets.packaged_modules.parquet.parquet import Parquet

    from tests.engine.ft_helpers import png_bytes as pb

    feats = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=["ant", "bee"])})
    files = {}
    for split, n, g in (("train", 8, 0), ("test", 4, 200)):
        rows = {"image": [{"bytes": pb((i * 25, g, 9)), "path": None} for i in range(n)], "label": [i % 2 for i in range(n)]}
        files[split] = [str(tmp_path / f"{split}.parquet")]
        datasets.Dataset.from_dict(rows, features=feats).to_parquet(files[split][0])
    owner, name = repo_id.split("/")
    builder = Parquet(cache_dir=str(tmp_path / "build"), dataset_name=name, config_name="default", hash="0123abcd",
                      data_files=files, features=feats)
    builder.download_and_prepare()
    dest = Path(datasets.config.HF_DATASETS_CACHE) / f"{owner}___{name}" / "default" / "0.0.0"
    dest.mkdir(parents=True)
    shutil.move(builder.cache_dir, dest / "0123abcd")
    return repo_id


def test_hub_dataset_is_read_from_the_local_cache_when_the_hub_is_unreachable(tmp_path, settings):
    repo = _cache_like_the_hub("someone/tiny-cached", tmp_path)
    d = D.load_data(repo, settings=settings)
    assert d.class_names == ["ant", "bee"] and d.test_from == "test split"
    assert d.counts()["train"] == {"ant": 4, "bee": 4} and d.counts()["test"] == {"ant": 2, "bee": 2}
    assert d.train[0]["image"].mode == "RGB"
    part = D.load_data(repo, settings=settings, split="train[:6]")
    assert len(part.train) + len(part.test) == 6 and part.test_from.startswith("held-out")
    both = D.load_data(repo, settings=settings, split="train,test[:2]")
    assert (len(both.train), len(both.test)) == (8, 2)
    with pytest.raises(DataError, match="no split"):
        D.load_data(repo, settings=settings, split="nope")


def test_a_data_load_does_not_switch_the_hub_offline_for_other_threads(tmp_path, settings, monkeypatch):
    """With the Hub unreachable (but offline mode not set), one thread loads a cached Hub dataset
    again and again while another keeps reading the process-wide offline switches: they never move."""
    import threading

    import datasets
    import huggingface_hub.constants as hc

    from tlweb.engine import availability

    repo = _cache_like_the_hub("someone/tiny-threads", tmp_path)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(availability, "hub_reachable", lambda *a, **k: False)  # the Hub does not answer
    rounds, seen, loaded = 8, set(), []
    barrier = threading.Barrier(2)
    done = threading.Event()

    def load():
        barrier.wait()
        try:
            for _ in range(rounds):
                loaded.append(len(D.load_data(repo, settings=settings).train))
        finally:
            done.set()

    def watch():
        barrier.wait()
        while not done.is_set():
            seen.add((datasets.config.HF_HUB_OFFLINE, hc.HF_HUB_OFFLINE, os.environ.get("HF_HUB_OFFLINE")))

    threads = [threading.Thread(target=load), threading.Thread(target=watch)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert loaded == [8] * rounds
    assert seen == {(False, False, None)}, seen


# --------------------------------------------------------------------------- decode once


@pytest.mark.parametrize("key", ["demo-vit", "demo-deit", "demo-convnext", "demo-efficientnet", "demo-dinov2",
                                 "demo-mobilenet-v2"])
def test_uint8_cache_plus_device_normalisation_equals_the_processor(demo_models, settings, tmp_path, key):
    import torch
    from transformers import AutoImageProcessor

    from tlweb.engine.accel import Normalizer

    proc = AutoImageProcessor.from_pretrained(demo_models[key])
    d = D.load_data(str(shapes_folder(tmp_path / "ds", classes=("a", "b"), per_class=3, size=50)), settings=settings)
    enc = D.encode_split(d, "train", proc, settings)
    ours = Normalizer(proc, torch.device("cpu"))(enc.pixels)
    images = [d.train[r]["image"] for r in enc.rows]
    ref = torch.as_tensor(np.asarray(proc(images=images, return_tensors="np")["pixel_values"]))
    assert ours.shape == ref.shape
    # uint8 rounding of the resized pixels: at most half a grey level, scaled by the normalisation
    scale = float(Normalizer(proc, torch.device("cpu")).scale.abs().max())
    assert float((ours - ref).abs().max()) <= 0.51 * scale + 1e-4
    # cached: the same object comes back, and a disk copy exists
    assert D.encode_split(d, "train", proc, settings) is enc
    assert any((settings.cache_dir / "tensors").glob("*.pt"))


def test_augment_keeps_shape_and_flips():
    import torch

    from tlweb.engine.accel import augment

    x = torch.arange(2 * 3 * 8 * 8, dtype=torch.float32).reshape(2, 3, 8, 8)
    g = torch.Generator().manual_seed(0)
    y = augment(x, generator=g, scale=(1.0, 1.0), ratio=(1.0, 1.0))
    assert y.shape == x.shape
    for i in range(2):  # with a full-size crop each image is itself or its mirror image
        same = torch.allclose(y[i], x[i], atol=1e-3)
        mirrored = torch.allclose(y[i], x[i].flip(-1), atol=1e-3)
        assert same or mirrored
