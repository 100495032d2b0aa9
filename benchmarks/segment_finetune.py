"""Segmentation fine-tuning: tlweb's run vs the Hugging Face semantic-segmentation recipe, same model, same
JPEG pictures and PNG masks, same batch size, images/s after the first epoch.

    python benchmarks/segment_finetune.py [--preset small|tiny|b0] [--images N] [--epochs E] [--batch B]
                                          [--threads N] [--workers N] [--json out.json] [--smoke]

Presets (random weights: this measures speed, not accuracy):

- ``small`` (the default; a CPU): a SegFormer with four narrow stages (16/32/64/128 channels, a 64-wide
  decoder) at 128² input, generated 512² JPEG scenes (photo-sized, like ADE20k's) with their PNG masks;
- ``tiny`` (CI's smoke, seconds): a two-stage SegFormer at 32², 12 pictures, 2 epochs;
- ``b0`` (a CUDA GPU): SegFormer-B0's architecture (``SegformerConfig()``: 32/64/160/256 channels) at 512²,
  640² JPEGs, batch 16, bf16 on both sides.

Both sides train every weight (tlweb: strategy ``full``) for E epochs:

1. **Hugging Face's recipe** (the semantic-segmentation task guide): a ``datasets.Dataset`` of image and
   annotation files, the model's image processor in ``with_transform`` (so every epoch decodes each JPEG and
   PNG and resizes and normalises both), ``Trainer`` with ``remove_unused_columns=False``, bf16 on CUDA, no
   evaluation, no checkpoints; images/s from the epoch times of epochs 2…E (median).
2. **tlweb** ``finetune(task="image-segmentation", strategy="full")``: pictures and masks decoded once to
   uint8 tensors at the input side, batches sliced on the device, flipped and scale-cropped there with their
   masks, normalised there, bf16 autocast and fused AdamW on CUDA; images/s of epochs 2…E (training steps
   only; its per-epoch validation is timed apart, as the Trainer side has none).

Prints both and the ratio (tlweb ÷ Hugging Face). The machine may be shared: run both in one process, one
after the other, and read the ratio, not the absolute numbers.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KINDS = ["circle", "square", "triangle", "cross"]
PRESETS = {  # side: model input; photo: generated JPEG side; images, epochs, batch
    "tiny": {"side": 32, "photo": 64, "images": 12, "epochs": 2, "batch": 4},
    "small": {"side": 128, "photo": 512, "images": 96, "epochs": 3, "batch": 8},
    "b0": {"side": 512, "photo": 640, "images": 512, "epochs": 3, "batch": 16},
}


def build_model(folder: Path, preset: str, side: int) -> Path:
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessorPil

    torch.manual_seed(0)
    names = ["background", *KINDS]
    labels = {"id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
    if preset == "tiny":
        cfg = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16],
                              num_attention_heads=[1, 2], patch_sizes=[3, 3], strides=[2, 2], mlp_ratios=[2, 2],
                              decoder_hidden_size=16, **labels)
    elif preset == "small":
        cfg = SegformerConfig(hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1], num_attention_heads=[1, 1, 2, 4],
                              decoder_hidden_size=64, **labels)
    else:
        cfg = SegformerConfig(**labels)  # mit-b0: 32/64/160/256, depths 2/2/2/2, decoder 256
    SegformerForSemanticSegmentation(cfg).save_pretrained(folder)
    SegformerImageProcessorPil(size={"height": side, "width": side}).save_pretrained(folder)
    return folder


def hf_run(model_dir: Path, root: Path, epochs: int, batch: int, cuda: bool, workers: int, out_dir: Path) -> dict:
    """The task guide's recipe: processor in with_transform, Trainer."""
    import datasets
    import torch
    from transformers import (
        AutoImageProcessor,
        AutoModelForSemanticSegmentation,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )
    from transformers.trainer_callback import PrinterCallback

    images = sorted((root / "images").glob("*.jpg"))
    masks = [root / "masks" / f"{p.stem}.png" for p in images]
    ds = datasets.Dataset.from_dict({"image": [str(p) for p in images], "annotation": [str(p) for p in masks]},
                                    features=datasets.Features({"image": datasets.Image(),
                                                                "annotation": datasets.Image()}))
    processor = AutoImageProcessor.from_pretrained(model_dir)
    model = AutoModelForSemanticSegmentation.from_pretrained(model_dir)

    def transform(b):
        out = processor(images=[im.convert("RGB") for im in b["image"]], segmentation_maps=b["annotation"],
                        return_tensors="pt")
        return {"pixel_values": out["pixel_values"], "labels": out["labels"]}

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
        output_dir=str(out_dir), per_device_train_batch_size=batch, num_train_epochs=epochs, learning_rate=6e-5,
        bf16=cuda, use_cpu=not cuda, save_strategy="no", eval_strategy="no", logging_strategy="no", report_to=[],
        remove_unused_columns=False, dataloader_num_workers=workers, dataloader_pin_memory=cuda, disable_tqdm=True,
        seed=0)
    trainer = Trainer(model=model, args=args, train_dataset=ds.with_transform(transform), callbacks=[EpochTimer()])
    trainer.remove_callback(PrinterCallback)
    t0 = time.perf_counter()
    trainer.train()
    ips = [len(ds) / t for t in times]
    return {"wall_s": time.perf_counter() - t0, "epoch_s": times, "images_per_s": ips,
            "steady_images_per_s": statistics.median(ips[1:]) if len(ips) > 1 else ips[0]}


def tlweb_run(model_dir: Path, root: Path, epochs: int, batch: int, settings) -> dict:
    from tlweb.engine.train import TrainConfig, finetune
    from tlweb.engine.train.callbacks import Callback
    from tlweb.engine.train.tasks import train_task
    from tlweb.engine.train.tasks.seg_encode import clear_cache

    clear_cache()  # count the decode-once pass: memory and disk caches emptied
    shutil.rmtree(settings.cache_dir / "tensors", ignore_errors=True)
    epochs_seen: list[tuple[int, float]] = []

    class EpochTimes(Callback):  # training steps only: the loop's epoch timer stops before its evaluation
        def on_eval_end(self, loop, result) -> None:
            epochs_seen.append((loop.epoch_images, loop.epoch_s))

    data = train_task("image-segmentation").load_data(str(root), settings=settings, test_fraction=0.1)
    t0 = time.perf_counter()
    res = finetune(TrainConfig(str(model_dir), data, "full", epochs=epochs, batch_size=batch, out_dir=str(
        root.parent / "tlweb-run"), task="image-segmentation"), settings=settings, callbacks=[EpochTimes()])
    ips = [n / s for n, s in epochs_seen if s > 0]
    return {"wall_s": time.perf_counter() - t0, "images_per_s": ips, "train_images": res.train_images,
            "steady_images_per_s": statistics.median(ips[1:]) if len(ips) > 1 else ips[0]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", choices=sorted(PRESETS), help="default: b0 on a CUDA GPU, small elsewhere")
    ap.add_argument("--smoke", action="store_true", help="the smallest setting (CI): --preset tiny")
    ap.add_argument("--images", type=int)
    ap.add_argument("--epochs", type=int)
    ap.add_argument("--batch", type=int)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's)")
    ap.add_argument("--workers", type=int, help="Trainer DataLoader workers (default: 0 on CPU, CPU count on CUDA)")
    ap.add_argument("--json", help="write the numbers here")
    args = ap.parse_args(argv)
    import torch

    from tlweb.config import get_settings
    from tlweb.engine.data.scenes import write_scenes

    cuda = torch.cuda.is_available()
    preset = "tiny" if args.smoke else args.preset or ("b0" if cuda else "small")
    p = dict(PRESETS[preset])
    p.update({k: v for k, v in (("images", args.images), ("epochs", args.epochs), ("batch", args.batch)) if v})
    if args.threads:
        torch.set_num_threads(args.threads)
    workers = args.workers if args.workers is not None else ((os.cpu_count() or 1) if cuda else 0)
    with tempfile.TemporaryDirectory(prefix="tlweb-segbench-") as tmp:
        tmp = Path(tmp)
        os.environ["TLWEB_HOME"] = str(tmp / "home")
        settings = get_settings().replace(mode="local")
        root = write_scenes(tmp / "data", KINDS, p["images"], size=p["photo"], seed=0, fmt="jpg",
                            scale_range=(0.15, 0.35))
        model = build_model(tmp / "model", preset, p["side"])
        device = "cuda" if cuda else "cpu"
        print(f"preset {preset}: {p['images']} {p['photo']}² JPEGs + PNG masks → {p['side']}² input, "
              f"{p['epochs']} epochs, batch {p['batch']}, {device}, {torch.get_num_threads()} torch threads", flush=True)
        hf = hf_run(model, root, p["epochs"], p["batch"], cuda, workers, tmp / "hf")
        print(f"Hugging Face recipe : {hf['steady_images_per_s']:9.1f} img/s after epoch 1 "
              f"(epochs {', '.join(f'{t:.1f}' for t in hf['epoch_s'])} s)", flush=True)
        ours = tlweb_run(model, root, p["epochs"], p["batch"], settings)
        print(f"tlweb               : {ours['steady_images_per_s']:9.1f} img/s after epoch 1 "
              f"(wall {ours['wall_s']:.1f} s with the decode-once pass and validation)", flush=True)
        ratio = ours["steady_images_per_s"] / hf["steady_images_per_s"]
        print(f"ratio tlweb / Hugging Face (images/s): {ratio:.2f}×", flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps({"preset": preset, "params": p, "device": device, "hf": hf,
                                                   "tlweb": ours, "ratio": ratio}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
