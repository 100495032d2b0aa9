"""Does the pretrained demo detector transfer? head / full vs scratch on NEW shapes with few pictures.

    python benchmarks/detect_transfer.py [--model demo-rtdetr-shapes] [--per-class 10] [--seeds 3]
                                         [--strategies head,full,scratch] [--epochs N] [--test 60]
                                         [--threads 1] [--json out.json]

The demo detector (:mod:`tlweb.engine.demo_recipes.detector`) was pretrained on cross / ring / diamond / x / half
disc scenes. Here it is fine-tuned through the engine's own run (``finetune(task="object-detection")``,
the same path as ``python -m tlweb finetune --task object-detection``) on generated scenes of circles,
squares and triangles — classes it never saw — with ``--per-class`` training pictures per class (a
picture counts for every class it holds), and compared with the same architecture trained from random
weights (``scratch``). Each strategy runs with ``--seeds`` seeds (another draw of the training pictures,
head and augmentation); the test split (``--test`` pictures) is the same for all. Prints test mAP@[.5:.95]
and mAP50 per strategy as mean and min–max over the seeds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run(model: str, per_class: int, seeds: int, strategies: list[str], epochs: int | None, n_test: int,
        settings, out_dir: Path, log=print) -> dict:
    from tlweb.engine.data.boxscenes import DETECTION_SAMPLE_CLASSES, write_detection_dataset
    from tlweb.engine.data.detection import load_detection_data
    from tlweb.engine.train import TrainConfig, finetune

    root = write_detection_dataset(out_dir / "target", DETECTION_SAMPLE_CLASSES, train=max(200, 20 * per_class), test=n_test,
                                   size=64, seed=77, max_objects=2)
    data = load_detection_data(str(root), settings=settings)
    log(f"data: {data.summary()} · {per_class} training pictures per class drawn per seed")
    rows = []
    for strategy in strategies:
        for seed in range(seeds):
            t0 = time.perf_counter()
            res = finetune(TrainConfig(model, data, strategy, task="object-detection", per_class=per_class, seed=seed,
                                       epochs=epochs, out_dir=str(out_dir / f"{strategy}-{seed}")), settings=settings)
            m = res.metrics
            row = {"strategy": strategy, "seed": seed, "test_map": m["test_map"], "test_map50": m["test_map50"],
                   "train_images": res.train_images, "val_images": res.val_images, "test_images": res.test_images,
                   "epochs": res.hyperparameters.get("epochs"), "kept_epoch": res.kept_epoch,
                   "wall_s": round(time.perf_counter() - t0, 1)}
            rows.append(row)
            log(f"{strategy:8s} seed {seed}: mAP {row['test_map']:.3f} · mAP50 {row['test_map50']:.3f} · "
                f"{row['train_images']} train / {row['val_images']} val pictures · kept epoch {row['kept_epoch']} · "
                f"{row['wall_s']:.0f} s")
    summary = {}
    for strategy in strategies:
        got = [r for r in rows if r["strategy"] == strategy]
        summary[strategy] = {k: {"mean": statistics.mean(r[k] for r in got), "min": min(r[k] for r in got),
                                 "max": max(r[k] for r in got)} for k in ("test_map", "test_map50")}
    return {"model": model, "per_class": per_class, "seeds": seeds, "test_images": len(data.test), "runs": rows,
            "summary": summary}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="demo-rtdetr-shapes")
    ap.add_argument("--per-class", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--strategies", default="head,full,scratch")
    ap.add_argument("--epochs", type=int, help="default: the detection task's per-strategy defaults")
    ap.add_argument("--test", type=int, default=60, help="test pictures (the same for every run)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--smoke", action="store_true",
                    help="the smallest setting (CI): 2 pictures per class, 1 seed, head and scratch, 1 epoch")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()
    if args.smoke:
        args.per_class, args.seeds, args.strategies, args.epochs, args.test = 2, 1, "head,scratch", 1, 6

    import torch

    torch.set_num_threads(args.threads)
    tmp = Path(tempfile.mkdtemp(prefix="tlweb-dettransfer-"))
    os.environ.setdefault("TLWEB_HOME", str(tmp / "home"))
    from tlweb.config import Settings, set_settings
    from tlweb.events import quiet_libraries

    quiet_libraries()
    settings = set_settings(Settings.from_env().replace(mode="local", device="cpu", max_epochs_cpu=100))
    print(f"machine: {os.cpu_count()}-core CPU · torch {torch.__version__} · {args.threads} thread(s)", flush=True)
    out = run(args.model, args.per_class, args.seeds, [s.strip() for s in args.strategies.split(",") if s.strip()],
              args.epochs, args.test, settings, tmp, log=lambda s: print(s, flush=True))
    print(f"\n{args.model} on new shapes, {args.per_class} pictures per class, {args.seeds} seeds, "
          f"{out['test_images']} test pictures:")
    for strategy, s in out["summary"].items():
        print(f"  {strategy:8s} mAP@[.5:.95] {s['test_map']['mean']:.3f} ({s['test_map']['min']:.3f}–"
              f"{s['test_map']['max']:.3f}) · mAP50 {s['test_map50']['mean']:.3f} ({s['test_map50']['min']:.3f}–"
              f"{s['test_map50']['max']:.3f})")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
