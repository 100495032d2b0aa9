"""Detection datasets: COCO / Roboflow / YOLO folders and zips, HF datasets with an objects column,
box cleaning, unknown categories, negatives, subsampling."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from tlweb.engine.data.detection import DetectionData, load_detection_data, subsample
from tlweb.errors import DataError


def _png(path: Path, size=(40, 30)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (90, 120, 30)).save(path)


def _coco(folder: Path, images, annotations, categories, name="_annotations.coco.json") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(json.dumps({"images": images, "annotations": annotations, "categories": categories}))


def _roboflow(root: Path, boxes=None, cats=None, extra_images=()) -> Path:
    """train/ (4 pictures) and test/ (2) with category ids 3, 7, 11 and Roboflow's parent category 0."""
    cats = cats or [{"id": 0, "name": "shapes", "supercategory": "none"},
                    {"id": 7, "name": "square", "supercategory": "shapes"},
                    {"id": 3, "name": "circle", "supercategory": "shapes"},
                    {"id": 11, "name": "triangle", "supercategory": "shapes"}]
    for split, n in (("train", 4), ("test", 2)):
        images, anns = [], []
        for i in range(n):
            _png(root / split / f"{i}.png")
            images.append({"id": i, "file_name": f"{i}.png", "width": 40, "height": 30})
            for cid in (3, 7, 11)[: 1 + i % 3]:
                anns.append({"id": len(anns), "image_id": i, "category_id": cid, "bbox": [2, 2, 10, 8], "iscrowd": 0})
        if split == "train" and boxes:
            anns.extend(boxes)
        for extra in extra_images if split == "train" else ():
            _png(root / split / extra["file_name"], (extra["width"], extra["height"]))
            images.append(extra)
        _coco(root / split, images, anns, cats)
    return root


def test_roboflow_splits_classes_in_id_order_without_the_parent_category(tmp_path, settings):
    data = load_detection_data(str(_roboflow(tmp_path / "rf")), settings=settings)
    assert isinstance(data, DetectionData)
    assert data.class_names == ["circle", "square", "triangle"]  # ids 3, 7, 11 → 0, 1, 2; 'shapes' left out
    assert data.test_from == "test/ folder" and len(data.train) == 4 and len(data.test) == 2
    assert any("'shapes'" in w and "left out" in w for w in data.warnings)
    # images per class: train pictures i hold the first 1 + i % 3 classes
    assert data.counts()["train"] == {"circle": 4, "square": 2, "triangle": 1}
    assert data.train[1].labels == [0, 1] and data.train[1].boxes[0] == [2.0, 2.0, 10.0, 8.0]
    assert len(data.fingerprint()) == 24 and "3 classes" in data.summary()


def test_boxes_clipped_dropped_and_negatives_counted(tmp_path, settings):
    boxes = [{"id": 100, "image_id": 0, "category_id": 3, "bbox": [35, 25, 10, 10]},  # partly outside → clipped
             {"id": 101, "image_id": 0, "category_id": 3, "bbox": [-5, 2, 10, 4]},  # partly outside → clipped
             {"id": 102, "image_id": 1, "category_id": 7, "bbox": [50, 50, 5, 5]},  # wholly outside → dropped
             {"id": 103, "image_id": 1, "category_id": 7, "bbox": [5, 5, 0, 4]}]  # zero area → dropped
    negative = {"id": 50, "file_name": "empty.png", "width": 40, "height": 30}
    data = load_detection_data(str(_roboflow(tmp_path / "rf", boxes, extra_images=[negative])), settings=settings)
    text = " ".join(data.warnings)
    assert "2 boxes partly outside their picture were clipped" in text
    assert "2 boxes wholly outside their pictures or of zero area were dropped" in text
    assert "1 picture has no boxes: kept as negatives" in text
    first = data.train[0]
    assert [35.0, 25.0, 5.0, 5.0] in first.boxes and [0.0, 2.0, 5.0, 4.0] in first.boxes
    assert any(it.name.endswith("empty.png") and not it.labels for it in data.train)
    assert all(b[0] >= 0 and b[1] >= 0 and b[0] + b[2] <= 40 and b[1] + b[3] <= 30 for it in data.train for b in it.boxes)


def test_unknown_category_ids_are_refused_by_name(tmp_path, settings):
    boxes = [{"id": 100, "image_id": 0, "category_id": 42, "bbox": [1, 1, 5, 5]}]
    with pytest.raises(DataError, match=r"category id 42.*categories list does not name"):
        load_detection_data(str(_roboflow(tmp_path / "rf", boxes)), settings=settings)


def test_same_id_two_names_across_splits_refused(tmp_path, settings):
    root = _roboflow(tmp_path / "rf")
    coco = json.loads((root / "test" / "_annotations.coco.json").read_text())
    coco["categories"][1]["name"] = "box"
    (root / "test" / "_annotations.coco.json").write_text(json.dumps(coco))
    with pytest.raises(DataError, match="share one category list"):
        load_detection_data(str(root), settings=settings)


def test_lone_annotations_json_holds_out_a_test_split_and_file_names_cannot_escape(tmp_path, settings):
    root = tmp_path / "coco"
    _png(tmp_path / "outside.png")
    images = [{"id": i, "file_name": f"images/{i}.png"} for i in range(10)]
    images.append({"id": 99, "file_name": "../outside.png"})
    images.append({"id": 98, "file_name": "images/0.png", "width": 99, "height": 99})  # size differs: skipped
    for i in range(10):
        _png(root / "images" / f"{i}.png")
    anns = [{"id": i, "image_id": i, "category_id": 1, "bbox": [1, 1, 8, 8]} for i in range(10)]
    anns.append({"id": 99, "image_id": 99, "category_id": 1, "bbox": [1, 1, 8, 8]})
    _coco(root, images, anns, [{"id": 1, "name": "thing"}], name="annotations.json")
    data = load_detection_data(str(root), seed=3, settings=settings)
    assert data.test_from == "held-out 20%" and (len(data.train), len(data.test)) == (8, 2)
    assert all("outside" not in it.source for it in data.train + data.test)
    assert any("outside.png" in s and "not found" in s for s in data.skipped)
    assert data.class_names == ["thing"]


def test_zip_of_coco_and_the_classification_cache_kept_apart(tmp_path, settings):
    root = _roboflow(tmp_path / "rf")
    z = tmp_path / "rf.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in root.rglob("*"):
            if p.is_file():
                zf.write(p, Path("export") / p.relative_to(root))
    data = load_detection_data(str(z), settings=settings)
    assert data.class_names == ["circle", "square", "triangle"] and len(data.train) == 4
    assert data.source == "rf.zip"


def test_yolo_folder(tmp_path, settings):
    root = tmp_path / "yolo"
    (root).mkdir()
    (root / "classes.txt").write_text("cat\ndog\n")
    for split, n in (("train", 3), ("valid", 1)):
        for i in range(n):
            _png(root / split / "images" / f"{i}.jpg".replace("jpg", "png"), (50, 40))
            (root / split / "labels").mkdir(parents=True, exist_ok=True)
            (root / split / "labels" / f"{i}.txt").write_text("1 0.5 0.5 0.2 0.25\n0 0.95 0.5 0.2 0.2\n")
    _png(root / "train" / "images" / "neg.png", (50, 40))  # no label file: a negative
    data = load_detection_data(str(root), settings=settings)
    assert data.class_names == ["cat", "dog"] and data.test_from == "valid/ folder"
    first = next(it for it in data.train if it.name.endswith("0.png"))
    assert first.labels == [1, 0]
    assert first.boxes[0] == pytest.approx([20.0, 15.0, 10.0, 10.0])
    assert first.boxes[1] == pytest.approx([42.5, 16.0, 7.5, 8.0])  # clipped at the right edge
    assert any("clipped" in w for w in data.warnings) and any("negatives" in w for w in data.warnings)
    (root / "train" / "labels" / "0.txt").write_text("5 0.5 0.5 0.2 0.2\n")
    with pytest.raises(DataError, match="class number 5"):
        load_detection_data(str(root), settings=settings)


def test_hf_dataset_with_objects_column(tmp_path, settings):
    import datasets

    feats = datasets.Features({
        "image": datasets.Image(),
        "objects": {"bbox": datasets.List(datasets.List(datasets.Value("float32"))),
                    "category": datasets.List(datasets.ClassLabel(names=["apple", "pear"]))}})
    imgs = [Image.new("RGB", (32, 32), (i * 20, 0, 0)) for i in range(6)]
    objs = [{"bbox": [[1, 1, 10, 10], [30, 30, 10, 10]], "category": [i % 2, 1]} for i in range(6)]
    dd = datasets.DatasetDict({"train": datasets.Dataset.from_dict({"image": imgs[:4], "objects": objs[:4]}, features=feats),
                               "test": datasets.Dataset.from_dict({"image": imgs[4:], "objects": objs[4:]}, features=feats)})
    dd.save_to_disk(str(tmp_path / "hf"))
    data = load_detection_data(str(tmp_path / "hf"), settings=settings)
    assert data.class_names == ["apple", "pear"] and data.test_from == "test split"
    assert data.train[1].labels == [1, 1] and data.train[1].boxes[1] == [30.0, 30.0, 2.0, 2.0]
    assert isinstance(data.train[0].source, bytes)


def test_subsample_counts_images_per_class(settings):
    data = load_detection_data("sample", settings=settings)
    small = subsample(data, 3, seed=1)
    counts = small.counts()["train"]
    assert all(counts[c] >= 3 for c in data.class_names)
    assert len(small.train) <= 3 * len(data.class_names) and small.test is data.test
    assert small.base is data and len(small.train_rows) == len(small.train)
    assert small.fingerprint() != data.fingerprint() and subsample(data, 3, seed=1).fingerprint() == small.fingerprint()


def test_no_annotations_and_shared_mode_paths(tmp_path, settings):
    _png(tmp_path / "plain" / "a.png")
    with pytest.raises(DataError, match="no detection annotations"):
        load_detection_data(str(tmp_path / "plain"), settings=settings)
    shared = settings.replace(mode="shared")
    with pytest.raises(DataError):
        load_detection_data(str(tmp_path / "plain"), settings=shared)
