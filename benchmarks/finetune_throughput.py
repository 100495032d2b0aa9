"""tlweb fine-tuning vs Hugging Face ``Trainer``: same model, same JPEG data, same batch size.

    python benchmarks/finetune_throughput.py [--epochs 3] [--batch 32|128] [--train N] [--test N]
                                             [--models vit,resnet] [--threads N] [--json out.json] [--smoke]

``--smoke``: the smallest setting (the ViT, 2 epochs of 32 images, batch 8, a short head timing) — checks that
the script runs, in seconds; its numbers mean nothing.

Models (random weights: this measures speed, not accuracy):

- no CUDA GPU: the tiny demo ViT and ResNet (64 px), a few hundred generated JPEGs, batch 32;
- CUDA GPU: ViT-B/16 and ResNet-50 configs at 224 px, 10,000 + 1,000 generated 500×375 JPEGs,
  batch 128, bf16 on both sides.

For each model, in one process:

1. **full fine-tune** images/s after the first epoch (median of epochs 2…E, training steps only):
   ``tlweb.engine.train.finetune(strategy="full")`` — images decoded once to uint8 at the input
   size, normalisation + flip/crop augmentation on the device, bf16 autocast, fused AdamW,
   channels_last for CNNs — against ``transformers.Trainer`` with the standard recipe (the
   processor in ``with_transform``, so every epoch decodes the JPEGs in DataLoader workers, no
   augmentation), ``bf16=True`` on CUDA, no evaluation, no checkpoints. tlweb's wall time also
   includes its decode-once pass and its per-epoch evaluation on the test split.
2. **linear probe** wall time: tlweb ``strategy="linear"`` (decode once, head inputs computed
   once, 100 head epochs on the cached vectors) against ``Trainer`` with a frozen backbone for E
   epochs over the images. The head-only time on the cached vectors is reported separately
   (target on one H100/H200: ≤ 2 s for 10,000 vectors).

Targets on one H100/H200 (ViT-B/16, batch 128): ≥ 3,000 images/s after the first epoch and
≥ 2.7× Trainer. On a CPU the ratio is what it is; numbers go to docs/benchmarks.md.
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


# --------------------------------------------------------------------------- data


def _write_class(args):
    root, split, name, kind, n, width, height, seed = args
    import numpy as np
    from PIL import Image

    from tlweb.engine.data import draw_shape

    rng = np.random.default_rng(seed)
    folder = Path(root) / split / name
    folder.mkdir(parents=True, exist_ok=True)
    side = max(width, height)
    for i in range(n):
        arr = draw_shape(kind, rng, size=side)
        Image.fromarray(arr[:height, :width]).save(folder / f"{i:05d}.jpg", quality=90)


def make_jpegs(root: Path, classes: int, train: int, test: int, width: int, height: int) -> Path:
    """``train/<class>/*.jpg`` and ``test/<class>/*.jpg`` of generated shapes (parallel)."""
    from concurrent.futures import ProcessPoolExecutor

    kinds = ("circle", "square", "triangle", "cross", "x", "ring", "diamond", "half", "stripes", "checker")
    jobs = []
    for c in range(classes):
        kind = kinds[c % len(kinds)]
        jobs.append((str(root), "train", f"c{c:02d}-{kind}", kind, train // classes, width, height, 100 + c))
        jobs.append((str(root), "test", f"c{c:02d}-{kind}", kind, test // classes, width, height, 900 + c))
    with ProcessPoolExecutor(max(1, min(16, os.cpu_count() or 1))) as pool:
        list(pool.map(_write_class, jobs))
    return root


# --------------------------------------------------------------------------- models


def build_models(root: Path, cuda: bool, names: list[str], num_labels: int) -> dict[str, Path]:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    out = {}
    labels = {i: f"class {i}" for i in range(num_labels)}
    maps = {"id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    for name in names:
        folder = root / f"model-{name}"
        folder.mkdir(parents=True, exist_ok=True)
        if not cuda:  # the tiny random-weight demo classifier of that family
            from tlweb.engine.demo import registry

            registry()[f"demo-{name}"].build(folder)
        elif name == "vit":  # ViT-B/16
            cfg = tf.ViTConfig(image_size=224, patch_size=16, hidden_size=768, num_hidden_layers=12,
                               num_attention_heads=12, intermediate_size=3072, **maps)
            tf.ViTForImageClassification(cfg).save_pretrained(folder)
            tf.ViTImageProcessorPil(size={"height": 224, "width": 224}).save_pretrained(folder)
        elif name == "resnet":  # ResNet-50
            cfg = tf.ResNetConfig(embedding_size=64, hidden_sizes=[256, 512, 1024, 2048], depths=[3, 4, 6, 3],
                                  layer_type="bottleneck", **maps)
            tf.ResNetForImageClassification(cfg).save_pretrained(folder)
            tf.ConvNextImageProcessorPil(size={"shortest_edge": 224}, crop_pct=0.875).save_pretrained(folder)
        else:
            raise SystemExit(f"unknown model {name}")
        out[name] = folder
    return out


# --------------------------------------------------------------------------- HF Trainer side


def trainer_run(model_dir: Path, data, epochs: int, batch: int, cuda: bool, frozen: bool, workers: int,
                out_dir: Path) -> dict:
    """Standard Trainer recipe: decode + preprocess in with_transform every epoch."""
    import torch
    from transformers import (
        AutoImageProcessor,
        AutoModelForImageClassification,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    processor = AutoImageProcessor.from_pretrained(model_dir)
    labels = {i: n for i, n in enumerate(data.class_names)}
    model = AutoModelForImageClassification.from_pretrained(model_dir, id2label=labels,
                                                            label2id={v: k for k, v in labels.items()},
                                                            ignore_mismatched_sizes=True)
    if frozen:
        from tlweb.engine.features import find_head

        head_attr = find_head(model)[0]
        for n, p in model.named_parameters():
            p.requires_grad_(n.startswith(head_attr + "."))

    def transform(batch_):
        images = [im.convert("RGB") for im in batch_["image"]]
        return {"pixel_values": processor(images=images, return_tensors="pt")["pixel_values"],
                "labels": torch.tensor(batch_["label"])}

    def collate(rows):
        return {"pixel_values": torch.stack([r["pixel_values"] for r in rows]),
                "labels": torch.stack([r["labels"] for r in rows])}

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
        weight_decay=0.01, warmup_steps=0.05, lr_scheduler_type="cosine", bf16=cuda, use_cpu=not cuda,
        save_strategy="no", eval_strategy="no", logging_strategy="no", report_to=[], remove_unused_columns=False,
        dataloader_num_workers=workers, dataloader_pin_memory=cuda, disable_tqdm=True, seed=0,
    )
    train_ds = data.train.with_transform(transform)
    t0 = time.perf_counter()
    trainer = Trainer(model=model, args=args, train_dataset=train_ds, data_collator=collate,
                      callbacks=[EpochTimer()])
    from transformers.trainer_callback import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # no metrics dicts on stdout
    trainer.train()
    wall = time.perf_counter() - t0
    n = len(data.train)
    ips = [n / t for t in times]
    return {"wall_s": wall, "epoch_s": times, "images_per_s": ips,
            "steady_images_per_s": statistics.median(ips[1:]) if len(ips) > 1 else ips[0]}


# --------------------------------------------------------------------------- tlweb side


def tlweb_run(model_dir: Path, data, strategy: str, epochs: int | None, batch: int | None, settings) -> dict:
    from tlweb.engine.data import clear_encoded_cache
    from tlweb.engine.train import TrainConfig, finetune

    clear_encoded_cache()  # count the decode-once pass in every run (memory and disk caches)
    shutil.rmtree(settings.cache_dir / "tensors", ignore_errors=True)
    events = []
    t0 = time.perf_counter()
    res = finetune(TrainConfig(str(model_dir), data, strategy, epochs=epochs, batch_size=batch, name=f"bench {strategy}"),
                   on_event=events.append, settings=settings)
    wall = time.perf_counter() - t0
    evals = [e for e in events if e.kind == "eval"]
    ips = [e.images_per_s for e in evals if e.images_per_s]
    start = next(e for e in events if e.kind == "start")
    out = {"wall_s": wall, "images_per_s": ips, "test_accuracy": res.test_accuracy,
           "hyperparameters": res.hyperparameters, "start": start.message}
    if strategy != "linear":
        out["steady_images_per_s"] = statistics.median(ips[1:]) if len(ips) > 1 else (ips[0] if ips else 0.0)
    else:
        steps = [e for e in events if e.kind in ("step", "eval")]
        first = min((e.time for e in steps), default=t0)
        last = max((e.time for e in steps), default=t0)
        feat = next((e.message for e in evals if "features" in e.message), "")
        out["features_message"] = feat
        out["head_s_approx"] = last - first  # first step event → last event: head training on cached vectors
    return out


def head_only_timing(n: int, dim: int, classes: int, device: str, epochs: int = 100) -> float:
    """The linear-probe head on n cached vectors alone (same code path as strategy="linear")."""
    import torch

    from tlweb.engine.train import get_strategy, make_scheduler

    torch.manual_seed(0)
    x = torch.randn(n, dim, device=device)
    y = torch.randint(0, classes, (n,), device=device)
    head = torch.nn.Linear(dim, classes).to(device)
    opt = torch.optim.AdamW(head.parameters(), lr=get_strategy("linear").lr, fused=device == "cuda")
    bs = min(n, 4096)
    spe = max(1, n // bs)
    sched = make_scheduler(opt, max(1, int(0.05 * spe * epochs)), spe * epochs)
    if device == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(n, device=device)
        for b in range(spe):
            idx = perm[b * bs:(b + 1) * bs]
            loss = torch.nn.functional.cross_entropy(head(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
        with torch.no_grad():
            head(x[:1024]).argmax(-1)
    if device == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0


# --------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--batch", type=int, help="batch size for both sides (default 128 on CUDA, 32 on CPU)")
    ap.add_argument("--train", type=int, help="training images (default 10,000 on CUDA, 512 on CPU)")
    ap.add_argument("--test", type=int, help="test images (default 1,000 on CUDA, 64 on CPU)")
    ap.add_argument("--models", default="vit,resnet")
    ap.add_argument("--threads", type=int, help="torch CPU threads")
    ap.add_argument("--workers", type=int, help="Trainer DataLoader workers (default: CPU count on CUDA, 0 on CPU)")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args()
    if args.smoke:
        args.epochs, args.batch, args.train, args.test, args.models = 2, 8, 32, 8, "vit"

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cuda = torch.cuda.is_available()
    batch = args.batch or (128 if cuda else 32)
    n_train = args.train or (10_000 if cuda else 512)
    n_test = args.test or (1_000 if cuda else 64)
    classes = 10 if cuda and not args.smoke else 4
    width, height = (500, 375) if cuda else (96, 72)
    workers = args.workers if args.workers is not None else ((os.cpu_count() or 2) - 2 if cuda else 0)
    names = [m.strip() for m in args.models.split(",") if m.strip()]
    device = "cuda" if cuda else "cpu"
    machine = torch.cuda.get_device_name(0) if cuda else f"{os.cpu_count()}-core CPU, no GPU"
    print(f"machine: {machine} · torch {torch.__version__} · threads {torch.get_num_threads()} · batch {batch} · "
          f"{n_train} train / {n_test} test JPEGs {width}×{height} · {args.epochs} epochs", flush=True)

    tmp = Path(tempfile.mkdtemp(prefix="tlweb-ftbench-"))
    os.environ["TLWEB_HOME"] = str(tmp / "home")
    from tlweb.config import Settings, set_settings
    from tlweb.engine.data import load_data

    settings = set_settings(Settings.from_env().replace(max_epochs_cpu=max(args.epochs, 1)))
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    t = time.perf_counter()
    make_jpegs(tmp / "jpegs", classes, n_train, n_test, width, height)
    data = load_data(str(tmp / "jpegs"), settings=settings)
    print(f"data: {data.summary()} (generated in {time.perf_counter() - t:.1f} s)", flush=True)
    models = build_models(tmp, cuda, names, classes)

    results = {"machine": machine, "device": device, "torch": torch.__version__, "threads": torch.get_num_threads(),
               "batch": batch, "epochs": args.epochs, "train_images": len(data.train), "test_images": len(data.test),
               "image_size": [width, height], "models": {}}
    for name, folder in models.items():
        print(f"\n== {name} ({'ViT-B/16' if cuda and name == 'vit' else 'ResNet-50' if cuda else 'tiny demo'}) ==",
              flush=True)
        r: dict = {}
        r["tlweb_full"] = tlweb_run(folder, data, "full", args.epochs, batch, settings)
        print(f"tlweb full     : {r['tlweb_full']['steady_images_per_s']:9,.0f} img/s after epoch 1 · "
              f"wall {r['tlweb_full']['wall_s']:.1f} s (decode once + {args.epochs} epochs + eval + save)", flush=True)
        r["trainer_full"] = trainer_run(folder, data, args.epochs, batch, cuda, False, workers, tmp / f"tr-{name}")
        print(f"Trainer full   : {r['trainer_full']['steady_images_per_s']:9,.0f} img/s after epoch 1 · "
              f"wall {r['trainer_full']['wall_s']:.1f} s", flush=True)
        r["full_ratio"] = r["tlweb_full"]["steady_images_per_s"] / max(r["trainer_full"]["steady_images_per_s"], 1e-9)
        print(f"ratio tlweb / Trainer (images/s): {r['full_ratio']:.2f}×", flush=True)
        r["tlweb_linear"] = tlweb_run(folder, data, "linear", None, None, settings)
        print(f"tlweb linear   : wall {r['tlweb_linear']['wall_s']:.1f} s (decode once + features + 100 head epochs; "
              f"head ≈ {r['tlweb_linear']['head_s_approx']:.2f} s; {r['tlweb_linear']['features_message']})", flush=True)
        r["trainer_linear"] = trainer_run(folder, data, args.epochs, batch, cuda, True, workers, tmp / f"trl-{name}")
        print(f"Trainer frozen : wall {r['trainer_linear']['wall_s']:.1f} s ({args.epochs} epochs over the images)",
              flush=True)
        r["linear_ratio"] = r["trainer_linear"]["wall_s"] / max(r["tlweb_linear"]["wall_s"], 1e-9)
        print(f"ratio Trainer / tlweb (linear probe wall time): {r['linear_ratio']:.2f}×", flush=True)
        results["models"][name] = r
    dim = 768 if cuda else 32
    vectors = 512 if args.smoke else 10_000
    results["head_only_s_10000"] = head_only_timing(vectors, dim, classes if cuda else 4, device,
                                                    epochs=5 if args.smoke else 100)
    print(f"\nlinear head alone on {vectors:,} cached {dim}-d vectors, {5 if args.smoke else 100} epochs: "
          f"{results['head_only_s_10000']:.2f} s (target ≤ 2 s for 10,000 and 100 on one H100/H200)", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
