"""tlweb segment/detect latency vs a bare transformers pipeline on the same model and image.

Both run in this process on the same folder (``save_pretrained`` output) and the same decoded
picture; each side is warmed up, then both are timed alternately ``--runs`` times (so load
from other processes hits both alike), and the medians are compared:

    python benchmarks/segment_detect_latency.py                      # the tiny demo models
    python benchmarks/segment_detect_latency.py --models ./my-segformer ./detr-folder --sizes 640x480

ratio = tlweb / pipeline (below 1: tlweb is faster). What is timed on each side:

- segmentation: tlweb ``segment_loaded`` (processor, forward, label map at the original size,
  class shares; panoptic off) vs ``pipeline("image-segmentation")`` (processor, forward, a
  full-size binary mask per class; Mask2Former with ``subtask="semantic"``).
- detection: tlweb ``detect_loaded`` (processor, forward, boxes in original pixels) vs
  ``pipeline("object-detection")`` / ``pipeline("zero-shot-object-detection")`` at the same
  threshold (and the same text queries).

Where they differ (measured on 2 CPU cores with the demo models): at ordinary sizes both do
the same work (ratios near 1). On big photos tlweb's segmentation skips the pipeline's
full-size per-class interpolation and masks; the zero-shot pipeline runs one forward pass per
text query, tlweb one for all queries, and OWLv2's processor pads and smooths the full-size
photo where tlweb hands it one no larger than twice the model's input.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TLWEB_DEMO", "1")

DEMO = ["demo-segformer", "demo-mask2former", "demo-upernet", "demo-detr", "demo-yolos", "demo-rtdetr",
        "demo-owlv2", "demo-owlvit"]
QUERIES = ["cat", "remote control", "sofa"]


def _paired_medians(ours, theirs, runs: int, warmup: int = 2) -> tuple[float, float]:
    """Median ms of each, timed alternately so load from other processes hits both alike."""
    for _ in range(warmup):
        ours()
        theirs()
    a, b = [], []
    for _ in range(runs):
        for fn, acc in ((ours, a), (theirs, b)):
            t0 = time.perf_counter()
            fn()
            acc.append((time.perf_counter() - t0) * 1000)
    return statistics.median(a), statistics.median(b)


def _picture(path: Path, size: str | None):
    from PIL import Image

    img = Image.open(path).convert("RGB")
    if size:
        w, h = (int(v) for v in size.lower().split("x"))
        img = img.resize((w, h), Image.Resampling.BICUBIC)
    return img


def bench_one(name: str, img, runs: int, threshold: float, settings) -> dict:
    from transformers import pipeline

    from tlweb.catalog import SEGMENTATION, ZERO_SHOT_DETECTION
    from tlweb.engine.detect import detect_loaded, load_detector
    from tlweb.engine.listing import resolve
    from tlweb.engine.loading import load
    from tlweb.engine.segment import segment_loaded

    spec = resolve(name, settings=settings)
    if spec.task == SEGMENTATION:
        loaded = load(spec, task=SEGMENTATION, settings=settings)
        folder = loaded.spec.hub_id
        pipe = pipeline("image-segmentation", model=folder, device=loaded.device)
        kwargs = {"subtask": "semantic"} if loaded.spec.family in ("mask2former", "maskformer", "oneformer") else {}
        ours, theirs = _paired_medians(lambda: segment_loaded(img, loaded, panoptic=False), lambda: pipe(img, **kwargs),
                                       runs)
        spec_task = "segment"
    else:
        loaded = load_detector(spec, settings=settings)
        folder = loaded.spec.hub_id
        if loaded.spec.task == ZERO_SHOT_DETECTION:
            pipe = pipeline("zero-shot-object-detection", model=folder, device=loaded.device)
            ours, theirs = _paired_medians(lambda: detect_loaded(img, loaded, QUERIES, threshold),
                                           lambda: pipe(img, candidate_labels=QUERIES, threshold=threshold), runs)
            spec_task = "detect (zero-shot)"
        else:
            pipe = pipeline("object-detection", model=folder, device=loaded.device)
            ours, theirs = _paired_medians(lambda: detect_loaded(img, loaded, None, threshold),
                                           lambda: pipe(img, threshold=threshold), runs)
            spec_task = "detect"
    return {"model": name, "task": spec_task, "size": f"{img.width}×{img.height}", "tlweb_ms": ours,
            "pipeline_ms": theirs, "ratio": ours / theirs, "device": loaded.device}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="+", default=DEMO, help="demo keys, catalog keys or model folders")
    ap.add_argument("--image", default=None, help="a picture (default: the cat from the package's example images)")
    ap.add_argument("--sizes", nargs="+", default=["native", "2048x1360"],
                    help="'native' or WxH (the picture is resized to it first)")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--threshold", type=float, default=0.3)
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args(argv)
    if args.smoke:  # one segmenter and one detector, the picture as it is, one timed run each
        args.models, args.sizes, args.runs = [DEMO[0], "demo-detr"], ["native"], 1
    if args.image is None:
        from tlweb.assets import example_image

        args.image = str(example_image("cat.jpg"))

    from tlweb.config import get_settings
    from tlweb.engine.loading import quiet_transformers

    settings = get_settings()
    quiet_transformers()
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.runs} warm runs each, interleaved; "
          "ratio = tlweb / pipeline", flush=True)
    print(f"{'model':20s} {'task':20s} {'image':>11s} {'tlweb ms':>10s} {'pipeline ms':>12s} {'ratio':>7s}")
    rows = []
    for size in args.sizes:
        img = _picture(Path(args.image), None if size == "native" else size)
        for name in args.models:
            try:
                r = bench_one(name, img, args.runs, args.threshold, settings)
            except Exception as exc:  # noqa: BLE001 - report and go on
                print(f"{name:20s} error: {type(exc).__name__}: {str(exc)[:120]}", flush=True)
                if args.smoke:
                    return 1
                continue
            rows.append(r)
            print(f"{r['model']:20s} {r['task']:20s} {r['size']:>11s} {r['tlweb_ms']:>10.1f} {r['pipeline_ms']:>12.1f} "
                  f"{r['ratio']:>7.2f}", flush=True)
    if rows:
        geo = statistics.geometric_mean([r["ratio"] for r in rows])
        print(f"geometric mean ratio over {len(rows)} runs: {geo:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
