"""What the demo segmenter's pretraining buys: fine-tune it on shapes it never saw, with few masks.

    python benchmarks/segment_transfer.py [--model demo-upernet-shapes] [--shots 2,5] [--seeds 3] [--epochs 60]
                                          [--strategies decoder,full,scratch] [--json out.json] [--smoke]

The shipped ``demo-upernet-shapes`` learned to segment scenes of cross, checker, ring, diamond, x and half
disc. Here it is fine-tuned on generated scenes of circles, squares and triangles (classes it never saw; the
background is the only class both share) — 2 and 5 masks per class ("masks per class" = training images whose
mask holds the class, :func:`tlweb.engine.data.masks.subsample_masks`) — with the ``decoder`` strategy (its
encoder frozen), ``full`` and ``scratch`` (the same architecture from random weights), each point with 3
seeds (another draw of the training scenes and a new head), through the engine's data-efficiency curve
(:func:`tlweb.engine.train.data_efficiency`, one experiment folder). The test split (60 scenes) is the same
for every run. Prints the mean test mIoU of each strategy and shot, with the min–max over the seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET = ["circle", "square", "triangle"]


def summarize(rows: list[dict]) -> dict:
    """{strategy: {shots: {"mean", "min", "max", "values", "train_images"}}} of the test mIoU."""
    out: dict = {}
    for r in rows:
        if r.get("kind") == "zero-shot":
            continue
        cell = out.setdefault(r["strategy"], {}).setdefault(r["per_class"], {"values": [], "train_images": []})
        cell["values"].append(r["test_metric"])
        cell["train_images"].append(r["train_images"] + r["val_images"])
    for cells in out.values():
        for cell in cells.values():
            v = cell["values"]
            cell.update({"mean": statistics.fmean(v), "min": min(v), "max": max(v)})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="demo-upernet-shapes")
    ap.add_argument("--shots", default="2,5")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--strategies", default="decoder,full,scratch")
    ap.add_argument("--train", type=int, default=60, help="target training scenes to draw the few masks from")
    ap.add_argument("--test", type=int, default=60, help="target test scenes")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", help="write the rows and the summary here")
    ap.add_argument("--smoke", action="store_true", help="the smallest setting (CI): 1 shot, 1 seed, 1 epoch, "
                                                          "8 + 4 scenes")
    args = ap.parse_args(argv)
    if args.smoke:
        args.shots, args.seeds, args.epochs, args.train, args.test = "1", 1, 1, 8, 4
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory(prefix="tlweb-segtransfer-") as tmp:
        tmp = Path(tmp)
        os.environ.setdefault("TLWEB_HOME", str(tmp / "home"))
        from tlweb.config import get_settings
        from tlweb.engine.data.scenes import write_scenes
        from tlweb.engine.train import data_efficiency
        from tlweb.engine.train.tasks import train_task

        base = get_settings()
        settings = base.replace(mode="local", demo=True, max_epochs_cpu=max(args.epochs, base.max_epochs_cpu))
        root = write_scenes(tmp / "target", TARGET, args.train, args.test, size=64, seed=21)
        data = train_task("image-segmentation").load_data(str(root), settings=settings)
        shots = [int(s) for s in args.shots.split(",")]
        strategies = [s.strip() for s in args.strategies.split(",")]
        print(f"{args.model} → {data.summary()}; shots {shots}, {args.seeds} seeds, {args.epochs} epochs", flush=True)

        def progress(item) -> None:
            if getattr(item, "kind", None) == "done":
                print(f"  {item.message}", flush=True)

        rows = data_efficiency(args.model, data, shots=shots, strategies=strategies, seeds=args.seeds,
                               settings=settings, task="image-segmentation", epochs=args.epochs, on_event=progress)
        summary = summarize(rows)
        print(f"\ntest mIoU on {args.test} scenes of {', '.join(TARGET)} (+ background), mean [min–max] over "
              f"{args.seeds} seeds:")
        print(f"{'strategy':10s}" + "".join(f"{s:>26d}" for s in shots) + "   (masks per class)")
        for strategy in strategies:
            cells = summary.get(strategy, {})
            print(f"{strategy:10s}" + "".join(
                f"{cells[s]['mean']:>12.3f} [{cells[s]['min']:.3f}–{cells[s]['max']:.3f}]" if s in cells
                else f"{'—':>26s}" for s in shots))
        if args.json:
            Path(args.json).write_text(json.dumps({"rows": rows, "summary": {k: {str(s): c for s, c in v.items()}
                                                                             for k, v in summary.items()}}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
