"""tlweb classify latency ÷ bare transformers pipeline latency, same model, image and process.

    python benchmarks/classify_latency.py [--arch vit|resnet] [--size small|base] [--runs 30] [--smoke]

Both sides get the same JPEG path and return the top-5 labels; runs alternate (A B A B …) after
warm-up so drift hits both equally. A ratio ≤ 1.0 means the app adds no overhead. Random
weights (built from a config) are fine: latency does not depend on the weight values.
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def build_model(folder: Path, arch: str, size: str) -> None:
    import torch
    from transformers import (
        ConvNextImageProcessorPil,
        ResNetConfig,
        ResNetForImageClassification,
        ViTConfig,
        ViTForImageClassification,
        ViTImageProcessorPil,
    )

    torch.manual_seed(0)
    labels = {i: f"class {i}" for i in range(1000)}
    if arch == "vit":  # "tiny" (the smoke setting): 2 layers of 32 at 224 px
        dims = {"tiny": (32, 2, 2, 64), "small": (384, 12, 6, 1536), "base": (768, 12, 12, 3072)}[size]
        cfg = ViTConfig(hidden_size=dims[0], num_hidden_layers=dims[1], num_attention_heads=dims[2],
                        intermediate_size=dims[3], id2label=labels, label2id={v: k for k, v in labels.items()})
        model, proc = ViTForImageClassification(cfg), ViTImageProcessorPil(size={"height": 224, "width": 224})
    else:
        depths = {"tiny": [1, 1], "small": [2, 2, 2, 2], "base": [3, 4, 6, 3]}[size]
        widths = {"tiny": [16, 32]}.get(size, [256, 512, 1024, 2048])
        cfg = ResNetConfig(embedding_size=16 if size == "tiny" else 64, hidden_sizes=widths, depths=depths,
                           layer_type="bottleneck", id2label=labels, label2id={v: k for k, v in labels.items()})
        model, proc = ResNetForImageClassification(cfg), ConvNextImageProcessorPil(size={"shortest_edge": 224})
    model.save_pretrained(folder)
    proc.save_pretrained(folder)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", choices=["vit", "resnet"], default="vit")
    ap.add_argument("--size", choices=["small", "base"], default="small")
    ap.add_argument("--runs", type=int, default=30)
    ap.add_argument("--photo", default="640x480", help="photo size WxH (e.g. 4000x3000 for a phone photo)")
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.photo, args.size = 2, "96x64", "tiny"

    import torch
    from PIL import Image
    from transformers import pipeline
    from transformers.utils import logging as hf_logging

    from tlweb.config import Settings, set_settings
    from tlweb.engine.classify import classify

    hf_logging.set_verbosity_error()
    tmp = Path(tempfile.mkdtemp(prefix="tlweb-bench-"))
    folder = tmp / f"{args.arch}-{args.size}"
    build_model(folder, args.arch, args.size)
    image = tmp / "photo.jpg"
    pw, ph = (int(v) for v in args.photo.lower().split("x"))
    Image.effect_mandelbrot((pw, ph), (-2, -1.2, 1, 1.2), 60).convert("RGB").save(image, quality=90)
    settings = set_settings(Settings(home=tmp / "home", device="cpu" if not torch.cuda.is_available() else "auto"))

    device = 0 if torch.cuda.is_available() else -1
    pipe = pipeline("image-classification", model=str(folder), device=device)
    if torch.cuda.is_available():
        pipe.model.to(torch.bfloat16)

    def run_tlweb():
        return classify(str(image), str(folder), 5, settings).predictions

    def run_pipe():
        return pipe(str(image), top_k=5)

    for _ in range(1 if args.smoke else 3):
        run_tlweb()
        run_pipe()
    a, b = [], []
    for _ in range(args.runs):
        t0 = time.perf_counter()
        run_tlweb()
        a.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_pipe()
        b.append(time.perf_counter() - t0)
    ta, tb = statistics.median(a) * 1000, statistics.median(b) * 1000
    dev = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU ({torch.get_num_threads()} threads)"
    print(f"model: random-weight {args.arch}-{args.size}, image {args.photo} JPEG, device: {dev}, runs: {args.runs}")
    print(f"tlweb classify     median {ta:8.2f} ms")
    print(f"transformers pipe  median {tb:8.2f} ms")
    print(f"ratio tlweb/pipeline = {ta / tb:.3f}  (target <= 1.0)")


if __name__ == "__main__":
    main()
