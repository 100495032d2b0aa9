"""tlweb compare (N models × M images) ÷ N×M separate transformers pipeline calls, same process.

    python benchmarks/compare_throughput.py [--models 4] [--images 8] [--large] [--runs 5] [--repeat 3] [--threads N]
                                            [--smoke]

Both sides use the same model folders (random weights built from configs: the tiny demo
builders of ``tlweb.engine.demo``, or ``--large`` ImageNet-sized configs at 224 px) and the same
JPEG paths, and both return the top-5 labels of every image for every model.

- pipeline side: for each model ``pipeline("image-classification", model=folder)`` and one call
  per image (the pipeline decodes and preprocesses each image on its own);
- tlweb side: one ``tlweb.engine.compare.compare(images, folders)`` call: each image decoded
  once, each model preprocesses the list in one call and runs it as one batch. It also *measures*
  what the pipeline side does not: FLOPs and peak memory (an instrumented pass on one image),
  one warm-up pass, then up to ``--runs`` timed passes for the median latency.

"cold" includes loading the models (tlweb's cache emptied, pipelines built inside the timing);
"warm" reuses loaded models (tlweb's cache, pipelines built beforehand). Sides alternate
(A B A B …) after a warm-up round; medians over ``--repeat`` rounds. Target ratio ≤ 1.0.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TINY = ("vit", "resnet", "swin", "convnext", "efficientnet", "deit")


def build_tiny(root: Path, n: int) -> list[Path]:
    from tlweb.engine.demo import registry

    folders = []
    for name in TINY[:n]:
        folder = root / f"tiny-{name}"
        folder.mkdir(parents=True)
        registry()[f"demo-{name}"].build(folder)  # the tiny random-weight demo classifier of that family
        folders.append(folder)
    return folders


def build_large(root: Path, n: int) -> list[Path]:
    """ImageNet-sized random-weight classifiers at 224 px (ViT-S/16, ResNet-50, ConvNeXt-T, Swin-T,
    EfficientNet-B0, DeiT-S), 1000 labels."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    labels = {i: f"class {i}" for i in range(1000)}
    maps = {"id2label": labels, "label2id": {v: k for k, v in labels.items()}}
    vit_s = {"hidden_size": 384, "num_hidden_layers": 12, "num_attention_heads": 6, "intermediate_size": 1536}
    crop = {"size": {"shortest_edge": 224}, "crop_pct": 0.875}
    makers = {
        "vit-s16": lambda: (tf.ViTForImageClassification(tf.ViTConfig(**vit_s, **maps)),
                            tf.ViTImageProcessorPil(size={"height": 224, "width": 224})),
        "resnet-50": lambda: (tf.ResNetForImageClassification(tf.ResNetConfig(**maps)),
                              tf.ConvNextImageProcessorPil(**crop)),
        "convnext-t": lambda: (tf.ConvNextForImageClassification(tf.ConvNextConfig(**maps)),
                               tf.ConvNextImageProcessorPil(**crop)),
        "swin-t": lambda: (tf.SwinForImageClassification(tf.SwinConfig(**maps)),
                           tf.ViTImageProcessorPil(size={"height": 224, "width": 224})),
        "efficientnet-b0": lambda: (tf.EfficientNetForImageClassification(tf.EfficientNetConfig(image_size=224, **maps)),
                                    tf.EfficientNetImageProcessorPil(size={"height": 224, "width": 224})),
        "deit-s16": lambda: (tf.DeiTForImageClassification(tf.DeiTConfig(**vit_s, **maps)),
                             tf.DeiTImageProcessorPil(size={"height": 256, "width": 256},
                                                      crop_size={"height": 224, "width": 224})),
    }
    folders = []
    for name in list(makers)[:n]:
        model, proc = makers[name]()
        folder = root / name
        model.eval().save_pretrained(folder)
        proc.save_pretrained(folder)
        folders.append(folder)
    return folders


def make_images(root: Path, m: int, size: str) -> list[Path]:
    from PIL import Image

    w, h = (int(v) for v in size.lower().split("x"))
    paths = []
    for i in range(m):
        zoom = 1.0 / (1 + 0.35 * i)
        box = (-0.75 - 1.25 * zoom, -1.2 * zoom, -0.75 + 1.75 * zoom, 1.2 * zoom)
        img = Image.effect_mandelbrot((w, h), box, 40 + 10 * i).convert("RGB")
        p = root / f"photo{i}.jpg"
        img.save(p, quality=90)
        paths.append(p)
    return paths


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=4, help="number of models, 2-6 (default 4)")
    ap.add_argument("--images", type=int, default=8, help="number of images (default 8)")
    ap.add_argument("--large", action="store_true", help="ImageNet-sized configs at 224 px instead of tiny demo models")
    ap.add_argument("--runs", type=int, default=5, help="compare's timed runs per model (product default 5)")
    ap.add_argument("--repeat", type=int, default=3, help="rounds per side (medians reported)")
    ap.add_argument("--photo", default="640x480", help="JPEG size WxH")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch CPU threads for both sides (0: torch's default); 1 is steadier on a busy machine")
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args()
    if args.smoke:
        args.models, args.images, args.runs, args.repeat, args.photo = 2, 2, 1, 1, "96x64"
    n = max(2, min(6, args.models))

    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    from tlweb.config import Settings, set_settings
    from tlweb.engine.compare import compare
    from tlweb.engine.loading import reset_cache

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    tmp = Path(tempfile.mkdtemp(prefix="tlweb-bench-compare-"))
    folders = (build_large if args.large else build_tiny)(tmp / "models", n)
    images = make_images(tmp, args.images, args.photo)
    cuda = torch.cuda.is_available()
    settings = set_settings(Settings(home=tmp / "home", device="auto" if cuda else "cpu"))
    device = 0 if cuda else -1
    names = [str(f) for f in folders]
    paths = [str(p) for p in images]

    def make_pipe(folder):
        pipe = pipeline("image-classification", model=folder, device=device)
        if cuda and torch.cuda.is_bf16_supported():
            pipe.model.to(torch.bfloat16)  # same dtype tlweb picks on this GPU
        return pipe

    def pipe_side(pipes=None):
        out = []
        for i, folder in enumerate(names):
            pipe = pipes[i] if pipes else make_pipe(folder)
            out.append([pipe(p, top_k=5) for p in paths])
        return out

    def tlweb_side():
        return compare(paths, names, top_k=5, settings=settings, runs=args.runs)

    def timed(fn, *a):
        t0 = time.perf_counter()
        r = fn(*a)
        return time.perf_counter() - t0, r

    # Warm-up round: imports, file cache, kernel set-up on both sides.
    reset_cache()
    tlweb_side()
    pipes = [make_pipe(f) for f in names]
    pipe_side(pipes)

    cold_a, cold_b, warm_a, warm_b = [], [], [], []
    result = None
    for _ in range(args.repeat):
        reset_cache()  # empty tlweb's model cache (set-up, not timed)
        t, result = timed(tlweb_side)
        cold_a.append(t)
        cold_b.append(timed(pipe_side)[0])
        warm_a.append(timed(tlweb_side)[0])
        warm_b.append(timed(pipe_side, pipes)[0])

    # Same answers on both sides (top-1 of every image for every model).
    ref = pipe_side(pipes)
    same = sum(row.predictions[i][0].label == ref[m][i][0]["label"]
               for m, row in enumerate(result.rows) for i in range(len(paths)))

    dev = torch.cuda.get_device_name(0) if cuda else f"CPU ({torch.get_num_threads()} threads)"
    kind = "ImageNet-sized (224 px)" if args.large else "tiny demo (64 px)"
    print(f"{n} {kind} random-weight models × {len(paths)} JPEGs {args.photo}; device: {dev}; "
          f"compare runs={args.runs}; rounds={args.repeat}")
    for row in result.rows:
        print(f"  {row.name:18s} params {row.params / 1e6:8.3f} M  {row.gflops:8.4f} GFLOPs/img  "
              f"{row.latency_ms:8.2f} ms/img (batch {row.batch_ms:8.1f} ms, {row.runs} runs)  "
              f"load {row.load_s:.2f} s  prep {row.preprocess_ms:.2f} ms/img"
              + (f" (pixels shared with {row.preprocess_shared_with})" if row.preprocess_shared_with else ""))
    print(f"  top-1 identical on both sides: {same}/{len(paths) * n}")
    for label, a, b in (("cold (incl. loading)", cold_a, cold_b), ("warm (models loaded)", warm_a, warm_b)):
        ta, tb = statistics.median(a), statistics.median(b)
        print(f"{label:22s} tlweb compare {ta:8.3f} s   {n}×{len(paths)} pipeline calls {tb:8.3f} s   "
              f"ratio {ta / tb:.3f}  (target <= 1.0)")


if __name__ == "__main__":
    main()
