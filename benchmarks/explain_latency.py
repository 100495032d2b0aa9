"""Explain latency ÷ a plain forward + backward pass of the same model, same process.

    python benchmarks/explain_latency.py [--arch vit resnet] [--size small|base] [--runs 15] [--threads N] [--smoke]

Both sides use the same model object (loaded by the app with eager attention) on the CPU. The
baseline is what any gradient explanation must at least pay: ``model(pixel_values=x)`` on a ready
input tensor, then ``logits[0, top1].backward()``. The Explain side is the whole engine call on a
640×480 picture — resize and normalise, forward, gradients or attention, the map and the top-5 —
for Grad-CAM (default layer) and attention rollout (ViT only), without and with the per-layer strip
the tab draws. Runs alternate (A B A B …) after warm-up; medians. Target: ratio ≤ 1.5.
Random weights (built from a config) are fine: latency does not depend on the weight values.
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
sys.path.insert(0, str(Path(__file__).resolve().parent))

from classify_latency import build_model  # noqa: E402 - the same random-weight ViT/ResNet folders


def plain_forward_backward(model, x):
    model.zero_grad(set_to_none=True)
    logits = model(pixel_values=x).logits
    logits[0, int(logits[0].argmax())].backward()
    model.zero_grad(set_to_none=True)


def bench(arch: str, size: str, runs: int, tmp: Path, settings) -> list[tuple[str, float, float]]:
    from PIL import Image

    from tlweb.engine.explain import explain_loaded, load_for_explain
    from tlweb.engine.explain.inputs import model_input

    folder = tmp / f"{arch}-{size}"
    build_model(folder, arch, size)
    loaded = load_for_explain(str(folder), settings)
    img = Image.effect_mandelbrot((640, 480), (-2, -1.2, 1, 1.2), 60).convert("RGB")
    x = model_input(img, loaded).pixel_values
    cases = [("gradcam", False), ("gradcam", True)]
    if arch == "vit":
        cases += [("rollout", False), ("rollout", True)]
    rows = []
    for method, strip in cases:
        def run_explain(method=method, strip=strip):
            return explain_loaded(img, loaded, method, strip=strip)

        for _ in range(2):
            run_explain()
            plain_forward_backward(loaded.model, x)
        a, b = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            run_explain()
            a.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            plain_forward_backward(loaded.model, x)
            b.append(time.perf_counter() - t0)
        rows.append((f"{method}{' + strip' if strip else ''}", statistics.median(a) * 1000,
                     statistics.median(b) * 1000))
    return rows


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--arch", nargs="+", choices=["vit", "resnet"], default=["vit", "resnet"])
    ap.add_argument("--size", choices=["small", "base"], default="small")
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args()
    if args.smoke:
        args.runs, args.size = 1, "tiny"

    import torch
    from transformers.utils import logging as hf_logging

    from tlweb.config import Settings, set_settings

    hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="tlweb-bench-explain-"))
    settings = set_settings(Settings(home=tmp / "home", device="cpu"))
    print(f"device: CPU ({torch.get_num_threads()} threads), picture 640×480, runs: {args.runs}, medians")
    print(f"{'model':16s} {'method':18s} {'explain':>10s} {'fwd+bwd':>10s} {'ratio':>7s}")
    worst = 0.0
    for arch in args.arch:
        name = {"vit": {"tiny": "tiny ViT", "small": "ViT-S/16"}.get(args.size, "ViT-B/16"),
                "resnet": {"tiny": "tiny ResNet", "small": "ResNet-26"}.get(args.size, "ResNet-50")}[arch]
        # bottleneck ResNets: 2-2-2-2 (small) / 3-4-6-3 (base)
        for method, ta, tb in bench(arch, args.size, args.runs, tmp, settings):
            worst = max(worst, ta / tb)
            print(f"{name:16s} {method:18s} {ta:8.1f} ms {tb:8.1f} ms {ta / tb:7.2f}")
    print(f"worst ratio explain / (forward + backward) = {worst:.2f}  (target <= 1.5)")


if __name__ == "__main__":
    main()
