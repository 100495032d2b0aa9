"""tlweb detection fine-tuning vs the Hugging Face object-detection recipe: same model, same data.

    python benchmarks/detect_finetune.py [--epochs 3] [--batch N] [--train N] [--models rtdetr,detr]
                                         [--threads N] [--workers N] [--tiny] [--json out.json]

The Hugging Face recipe (the object-detection task guide): a ``datasets.Dataset`` of JPEGs with an
``objects`` column, ``with_transform`` running albumentations (the same flip / zoom / box-safe crop as
tlweb's) and then the model's image processor with COCO annotations on every batch of every epoch,
``transformers.Trainer`` with a stacking collate, gradient clipping at the same norm, no evaluation, no
checkpoints. tlweb: ``finetune(task="object-detection", strategy="full")`` — pictures decoded once to
uint8 at the training size, augmentation on uint8, normalisation on the device, bf16 autocast on CUDA;
its wall time also holds the decode-once pass and a per-epoch validation mAP.

Measured: training images/s after the first epoch (median of epochs 2…E) on each side, and the ratio.

- no CUDA GPU: the detector a CPU user fine-tunes, the shipped demo RT-DETR (``demo-rtdetr-shapes``,
  64 px, a new head for the three classes on both sides), on generated 640×480 JPEG scenes (COCO's
  photo size), batch 16, one torch thread and no DataLoader workers (one core each); ``--smoke``: a few
  small pictures and 2 epochs, a smoke run of seconds for CI;
- CUDA GPU: DETR-R50 and RT-DETR-R18 configs (random weights, transformers' own ResNets) at 640×640,
  2,000 generated 800×600 JPEGs, batch 32, bf16 on both sides, Trainer with DataLoader workers.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MAX_GRAD_NORM = 1.0  # tlweb's detection task clips at this norm; the Trainer side is given the same


# --------------------------------------------------------------------------- data


def _write(args):
    root, split, start, n, width, height, seed = args
    import numpy as np
    from PIL import Image

    from tlweb.engine.data.boxscenes import DETECTION_SAMPLE_CLASSES, draw_scene

    rng = np.random.default_rng(seed)
    folder = Path(root) / split
    folder.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    side = max(width, height)
    for i in range(start, start + n):
        kinds = [DETECTION_SAMPLE_CLASSES[int(k)] for k in rng.integers(0, 3, int(rng.integers(1, 4)))]
        img, boxes, placed = draw_scene(kinds, rng, size=side)
        Image.fromarray(img[:height, :width]).save(folder / f"{i:05d}.jpg", quality=90)
        images.append({"id": i, "file_name": f"{i:05d}.jpg", "width": width, "height": height})
        for b, k in zip(boxes, placed):
            x, y, w, h = b
            w, h = min(w, width - x), min(h, height - y)
            if w > 1 and h > 1:
                anns.append({"id": len(anns) + 100000 * seed, "image_id": i, "category_id": 1 + DETECTION_SAMPLE_CLASSES.index(k),
                             "bbox": [x, y, w, h], "area": w * h, "iscrowd": 0})
    return split, images, anns


def make_scenes(root: Path, train: int, test: int, width: int, height: int) -> Path:
    """A Roboflow-style COCO folder (``train/``, ``test/`` with ``_annotations.coco.json``) of JPEG scenes."""
    from concurrent.futures import ProcessPoolExecutor

    from tlweb.engine.data.boxscenes import DETECTION_SAMPLE_CLASSES

    per = 250
    jobs = [(str(root), "train", s, min(per, train - s), width, height, 1 + s) for s in range(0, train, per)]
    jobs += [(str(root), "test", s, min(per, test - s), width, height, 10_000 + s) for s in range(0, test, per)]
    cats = [{"id": i + 1, "name": n, "supercategory": "shape"} for i, n in enumerate(DETECTION_SAMPLE_CLASSES)]
    with ProcessPoolExecutor(max(1, min(16, os.cpu_count() or 1))) as pool:
        parts = list(pool.map(_write, jobs))
    for split in ("train", "test"):
        images = [im for s, ims, _ in parts if s == split for im in ims]
        anns = [a for s, _, ans in parts if s == split for a in ans]
        for k, a in enumerate(anns):
            a["id"] = k + 1
        (root / split / "_annotations.coco.json").write_text(
            json.dumps({"images": images, "annotations": anns, "categories": cats}))
    return root


# --------------------------------------------------------------------------- models


def build_models(root: Path, cuda: bool, names: list[str], labels: list[str]) -> dict[str, Path]:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    maps = {"id2label": dict(enumerate(labels)), "label2id": {n: i for i, n in enumerate(labels)}}
    out = {}
    for name in names:
        folder = root / f"model-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        if not cuda:  # the detector a CPU user fine-tunes: the shipped demo RT-DETR (or the tiny random ones)
            if name == "demo":
                from tlweb.engine.demo.ship import install
                from tlweb.engine.demo_recipes.detector import KEY

                install(KEY, folder)
            else:
                from tlweb.engine.demo import detection as demo

                {"rtdetr": demo.build_rtdetr, "detr": demo.build_detr, "yolos": demo.build_yolos}[name](folder)
            out[name] = folder
            continue
        if name == "detr":  # DETR-R50 with transformers' ResNet-50 (no timm)
            backbone = tf.ResNetConfig(embedding_size=64, hidden_sizes=[256, 512, 1024, 2048], depths=[3, 4, 6, 3],
                                       layer_type="bottleneck", out_features=["stage4"])
            cfg = tf.DetrConfig(backbone_config=backbone, use_timm_backbone=False, use_pretrained_backbone=False,
                                **maps)
            tf.DetrForObjectDetection(cfg).save_pretrained(folder)
            tf.DetrImageProcessorPil(size={"height": 640, "width": 640}, do_pad=False).save_pretrained(folder)
        elif name == "rtdetr":  # RT-DETR-R18 (its basic-block ResNet-18-vd)
            backbone = tf.RTDetrResNetConfig(embedding_size=64, hidden_sizes=[64, 128, 256, 512], depths=[2, 2, 2, 2],
                                             layer_type="basic", out_features=["stage2", "stage3", "stage4"])
            cfg = tf.RTDetrConfig(backbone_config=backbone, encoder_in_channels=[128, 256, 512],
                                  decoder_layers=3, **maps)
            tf.RTDetrForObjectDetection(cfg).save_pretrained(folder)
            tf.RTDetrImageProcessorPil(size={"height": 640, "width": 640}).save_pretrained(folder)
        else:
            raise SystemExit(f"unknown model {name}")
        out[name] = folder
    return out


# --------------------------------------------------------------------------- the Hugging Face recipe


def trainer_run(model_dir: Path, data_dir: Path, epochs: int, batch: int, cuda: bool, workers: int,
                out_dir: Path) -> dict:
    """The task guide's recipe: albumentations + the processor in with_transform, Trainer."""
    import datasets
    import numpy as np
    import torch
    from transformers import (
        AutoImageProcessor,
        AutoModelForObjectDetection,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    from tlweb.engine.train.detection_io import make_augmenter

    processor = AutoImageProcessor.from_pretrained(model_dir)
    names = ["circle", "square", "triangle"]  # a new head for the data's classes, as tlweb gives it
    model = AutoModelForObjectDetection.from_pretrained(model_dir, id2label=dict(enumerate(names)),
                                                        label2id={n: i for i, n in enumerate(names)},
                                                        ignore_mismatched_sizes=True)
    size = processor.size
    hw = (size["height"], size["width"]) if "height" in size else (size["shortest_edge"],) * 2
    coco = json.loads((data_dir / "train" / "_annotations.coco.json").read_text())
    by_image: dict[int, list] = {}
    for a in coco["annotations"]:
        by_image.setdefault(a["image_id"], []).append(a)
    rows = {"image": [], "image_id": [], "objects": []}
    for im in coco["images"]:
        anns = by_image.get(im["id"], [])
        rows["image"].append(str(data_dir / "train" / im["file_name"]))
        rows["image_id"].append(im["id"])
        rows["objects"].append({"bbox": [a["bbox"] for a in anns], "category": [a["category_id"] - 1 for a in anns],
                                "area": [a["area"] for a in anns]})
    ds = datasets.Dataset.from_dict(rows).cast_column("image", datasets.Image())
    # the same augmentation as tlweb's (albumentations), in COCO pixel boxes as the guide has them
    import albumentations as A

    ours = make_augmenter(hw)
    augment = A.Compose(list(ours.transforms), bbox_params=A.BboxParams(format="coco", label_fields=["category"],
                                                                        min_visibility=0.3, clip=True,
                                                                        filter_invalid_bboxes=True), seed=0)

    def transform(batch_):
        images, annotations = [], []
        for image_id, image, objects in zip(batch_["image_id"], batch_["image"], batch_["objects"]):
            arr = np.array(image.convert("RGB"))  # the guide augments the decoded picture; the processor resizes
            out = augment(image=arr, bboxes=np.asarray(objects["bbox"], dtype=np.float64).reshape(-1, 4),
                          category=objects["category"])
            images.append(out["image"])
            annotations.append({"image_id": image_id, "annotations": [
                {"image_id": image_id, "category_id": int(c), "bbox": list(map(float, b)), "iscrowd": 0,
                 "area": float(b[2] * b[3])} for b, c in zip(out["bboxes"], out["category"])]})
        return processor(images=images, annotations=annotations, return_tensors="pt")

    def collate(rows_):
        return {"pixel_values": torch.stack([r["pixel_values"] for r in rows_]), "labels": [r["labels"] for r in rows_]}

    times: list[float] = []

    class EpochTimer(TrainerCallback):
        def on_epoch_begin(self, args, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            self.t = time.perf_counter()

        def on_epoch_end(self, args, state, control, **kw):
            if cuda:
                torch.cuda.synchronize()
            times.append(time.perf_counter() - self.t)

    args = TrainingArguments(
        output_dir=str(out_dir), per_device_train_batch_size=batch, num_train_epochs=epochs, learning_rate=1e-4,
        weight_decay=1e-4, warmup_steps=0.05, lr_scheduler_type="cosine", bf16=cuda, use_cpu=not cuda,
        max_grad_norm=MAX_GRAD_NORM, save_strategy="no", eval_strategy="no", logging_strategy="no", report_to=[],
        remove_unused_columns=False, dataloader_num_workers=workers, dataloader_pin_memory=cuda, disable_tqdm=True,
        seed=0, dataloader_drop_last=True,
    )
    t0 = time.perf_counter()
    trainer = Trainer(model=model, args=args, train_dataset=ds.with_transform(transform), data_collator=collate,
                      callbacks=[EpochTimer()])
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)
    trainer.train()
    wall = time.perf_counter() - t0
    n = (len(ds) // batch) * batch
    ips = [n / t for t in times]
    return {"wall_s": wall, "epoch_s": times, "images_per_s": ips,
            "steady_images_per_s": statistics.median(ips[1:]) if len(ips) > 1 else ips[0]}


# --------------------------------------------------------------------------- tlweb


def tlweb_run(model_dir: Path, data_dir: Path, epochs: int, batch: int, settings, out_dir: Path) -> dict:
    from tlweb.engine.data.detection import load_detection_data
    from tlweb.engine.train import TrainConfig, finetune
    from tlweb.engine.train.detection_io import clear_cache

    clear_cache()  # count the decode-once pass
    events = []
    t0 = time.perf_counter()
    data = load_detection_data(str(data_dir), settings=settings)
    res = finetune(TrainConfig(str(model_dir), data, "full", task="object-detection", epochs=epochs, batch_size=batch,
                               lr=1e-4, out_dir=str(out_dir), name="bench detection"),
                   on_event=events.append, settings=settings)
    wall = time.perf_counter() - t0
    ips = [e.images_per_s for e in events if e.kind == "eval" and e.images_per_s]
    return {"wall_s": wall, "images_per_s": ips, "test_map": res.metrics.get("test_map"),
            "steady_images_per_s": statistics.median(ips[1:]) if len(ips) > 1 else (ips[0] if ips else 0.0),
            "start": next(e.message for e in events if e.kind == "start")}


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, help="batch size for both sides (default 32 on CUDA, 16 on CPU)")
    ap.add_argument("--train", type=int, help="training pictures (default 2,000 on CUDA, 256 on CPU)")
    ap.add_argument("--models", help="CUDA: rtdetr, detr (default both); CPU: demo (default: the shipped demo "
                                     "RT-DETR, 64 px), rtdetr, detr, yolos (tiny random ones, 128 px)")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--workers", type=int, help="Trainer DataLoader workers (default: CPU count - 2 on CUDA, 0 on CPU)")
    ap.add_argument("--smoke", "--tiny", dest="tiny", action="store_true",
                    help="the smallest setting, a smoke run of seconds (CI): 16 pictures, 2 epochs, batch 4")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args(argv)

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    epochs = 2 if args.tiny else args.epochs
    batch = 4 if args.tiny else (args.batch or (32 if cuda else 16))
    n_train = 16 if args.tiny else (args.train or (2000 if cuda else 256))
    n_test = 4 if args.tiny else (200 if cuda else 32)
    width, height = (800, 600) if cuda else ((96, 72) if args.tiny else (640, 480))  # COCO-sized photos on CPU
    workers = args.workers if args.workers is not None else ((os.cpu_count() or 2) - 2 if cuda else 0)
    names = [m.strip() for m in (args.models or ("rtdetr,detr" if cuda else "demo")).split(",") if m.strip()]
    machine = torch.cuda.get_device_name(0) if cuda else f"{os.cpu_count()}-core CPU, no GPU"
    print(f"machine: {machine} · torch {torch.__version__} · threads {torch.get_num_threads()} · batch {batch} · "
          f"{n_train} train JPEGs {width}×{height} · {epochs} epochs", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="tlweb-detbench-"))
    try:
        os.environ["TLWEB_HOME"] = str(tmp / "home")
        from tlweb.config import Settings, set_settings
        from tlweb.events import quiet_libraries

        quiet_libraries()
        settings = set_settings(Settings.from_env().replace(mode="local", max_epochs_cpu=max(epochs, 1)))
        t = time.perf_counter()
        data_dir = make_scenes(tmp / "scenes", n_train, n_test, width, height)
        print(f"data generated in {time.perf_counter() - t:.1f} s", flush=True)
        from tlweb.engine.data.boxscenes import DETECTION_SAMPLE_CLASSES

        models = build_models(tmp, cuda, names, list(DETECTION_SAMPLE_CLASSES))
        results = {"machine": machine, "cuda": cuda, "torch": torch.__version__, "threads": torch.get_num_threads(),
                   "batch": batch, "epochs": epochs, "train_images": n_train, "image_size": [width, height],
                   "models": {}}
        for name, folder in models.items():
            print(f"\n== {name} ==", flush=True)
            ours = tlweb_run(folder, data_dir, epochs, batch, settings, tmp / f"run-{name}")
            print(f"tlweb full   : {ours['steady_images_per_s']:8,.1f} img/s after epoch 1 · wall {ours['wall_s']:.1f} s "
                  "(decode once + epochs + validation mAP + test + save)", flush=True)
            theirs = trainer_run(folder, data_dir, epochs, batch, cuda, workers, tmp / f"trainer-{name}")
            print(f"HF Trainer   : {theirs['steady_images_per_s']:8,.1f} img/s after epoch 1 · wall {theirs['wall_s']:.1f} s",
                  flush=True)
            ratio = ours["steady_images_per_s"] / max(theirs["steady_images_per_s"], 1e-9)
            print(f"ratio tlweb / HF recipe (images/s after the first epoch): {ratio:.2f}×", flush=True)
            results["models"][name] = {"tlweb": ours, "trainer": theirs, "ratio": ratio}
        if args.json:
            Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
