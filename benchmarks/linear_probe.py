"""The Fine-tune tab's linear probe against scikit-learn, on the offline sample and on real digits.

    python benchmarks/linear_probe.py [--models demo-resnet-shapes,demo-vit-shapes] [--seeds 3]
                                      [--shots 1,2,5] [--digits-train 40] [--digits-test 30]
                                      [--threads N] [--json out.json] [--smoke]

Everything in one process and one fresh ``TLWEB_HOME`` (demo models built there):

1. **sample** and 2. **digits**: ``finetune(strategy="linear")`` on the built-in offline sample
   (4 generated shape classes, 32 train / 8 test each) and on scikit-learn's handwritten digits
   written as 32 px pictures (``--digits-train`` / ``--digits-test`` per class) — test accuracy of
   the run, against the reference on the *same cached features* (the run fills the cache):
   scikit-learn's ``LogisticRegression`` (L-BFGS, standardised features) with C chosen the way
   :mod:`tlweb.engine.head` chooses it (20 % of each class held out at ≥ 10 images per class, then
   refitted on all; below that stratified k-fold cross-validation on the training images, then fitted
   on all). The difference is in accuracy points (target: within 1).
3. **data efficiency**: ``data_efficiency(strategies=("linear",), shots=…)`` with seeds 0 … n-1 (each
   seed draws other training images), per images-per-class point: the mean, min and max test accuracy
   and the images the head was fitted on, beside the same reference on the same subsamples.

Numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

MIN_PER_CLASS_FOR_HOLDOUT = 10  # tlweb.engine.head's rule, repeated so the reference stands alone
HOLDOUT_FRACTION = 0.2


def write_digits(root: Path, train: int, test: int, side: int = 32) -> Path:
    """scikit-learn's 8×8 digits as ``train/<digit>/`` and ``test/<digit>/`` PNGs (grey, upscaled)."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    rng = np.random.default_rng(0)
    for digit in range(10):
        idx = rng.permutation(np.flatnonzero(y == digit))[:train + test]
        for j, i in enumerate(idx):
            split = "train" if j < train else "test"
            folder = root / split / str(digit)
            folder.mkdir(parents=True, exist_ok=True)
            pixels = (x[i].reshape(8, 8) * (255 / 16)).astype("uint8")
            Image.fromarray(pixels, "L").resize((side, side), Image.Resampling.BILINEAR).convert("RGB").save(
                folder / f"{digit}-{j:03d}.png")
    return root


def _sk_fit(C, x, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000)).fit(x, y)


def reference(xf, yf, xt, yt, seed: int = 0) -> dict:
    """scikit-learn with the head's policy: (test accuracy, C, how C was chosen)."""
    import numpy as np

    from tlweb.engine.data import stratified_split
    from tlweb.engine.head import CS, DEFAULT_C, MAX_FOLDS, stratified_folds

    k = int(yf.max()) + 1
    smallest = int(np.bincount(yf, minlength=k).min())
    if smallest >= MIN_PER_CLASS_FOR_HOLDOUT:
        fit, val = stratified_split(yf.tolist(), k, HOLDOUT_FRACTION, seed)
        splits, how = [(np.array(fit), np.array(val))], "held out"
    elif smallest >= 2:
        folds = stratified_folds(yf.tolist(), min(MAX_FOLDS, smallest), seed)
        every = np.arange(len(yf))
        splits = [(np.setdiff1d(every, f), np.array(f)) for f in folds]
        how = f"{len(folds)}-fold CV"
    else:
        splits, how = [], "default"
    best = None
    for C in CS if splits else (DEFAULT_C,):
        correct = total = 0
        loss = 0.0
        for fi, vi in splits:
            p = _sk_fit(C, xf[fi], yf[fi]).predict_proba(xf[vi])
            full = np.full((len(vi), k), 1e-15)
            full[:, np.unique(yf[fi])] = p  # a fold may miss a class: its probability is ~0
            correct += int((full.argmax(1) == yf[vi]).sum())
            total += len(vi)
            loss -= float(np.log(np.clip(full[np.arange(len(vi)), yf[vi]], 1e-15, None)).sum())
        key = (-loss / max(total, 1), correct / max(total, 1))
        if best is None or key > best[0]:
            best = (key, C)
    clf = _sk_fit(best[1], xf, yf)
    return {"accuracy": float((clf.predict(xt) == yt).mean()), "C": best[1], "how": how}


def _features(data, model: str, settings):
    from tlweb.engine.features import Backbone, split_features

    bb = Backbone(model, settings)
    tr = split_features(data, "train", bb, settings=settings)
    te = split_features(data, "test", bb, settings=settings)
    return tr.features.numpy(), tr.labels.numpy(), te.features.numpy(), te.labels.numpy()


def bench_run(data, model: str, settings, name: str) -> dict:
    from tlweb.engine.train import TrainConfig, finetune

    t0 = time.perf_counter()
    res = finetune(TrainConfig(model=model, data=data, strategy="linear"), settings=settings)
    wall = time.perf_counter() - t0
    ref = reference(*_features(data, model, settings))
    out = {"data": name, "model": model, "accuracy": res.test_accuracy, "train_images": res.train_images,
           "val_images": res.val_images, "test_images": res.test_images, "wall_s": wall,
           "selection": res.selection, "sklearn_accuracy": ref["accuracy"], "sklearn_C": ref["C"],
           "sklearn_how": ref["how"], "difference_points": (res.test_accuracy - ref["accuracy"]) * 100}
    print(f"{name:7s} {model:20s} fine-tune linear {res.test_accuracy * 100:5.1f}% "
          f"({res.train_images} fitted / {res.val_images} validation / {res.test_images} test, {wall:.1f} s; "
          f"{res.selection}) · scikit-learn {ref['accuracy'] * 100:5.1f}% (C={ref['C']:g}, {ref['how']}) · "
          f"difference {out['difference_points']:+.1f} points", flush=True)
    return out


def bench_efficiency(data, model: str, shots: list[int], seeds: int, settings) -> list[dict]:
    from tlweb.engine.data import subsample
    from tlweb.engine.train import data_efficiency

    by_shot: dict[int, list[dict]] = {}
    for seed in range(seeds):
        for row in data_efficiency(model, data, shots=shots, strategies=("linear",), seed=seed, settings=settings):
            ref = reference(*_features(subsample(data, row["per_class"], seed), model, settings), seed=seed)
            by_shot.setdefault(row["per_class"], []).append({**row, "seed": seed, "sklearn_accuracy": ref["accuracy"]})
    out = []
    for shot, rows in sorted(by_shot.items()):
        acc = [r["test_accuracy"] for r in rows]
        ref = [r["sklearn_accuracy"] for r in rows]
        item = {"model": model, "per_class": shot, "seeds": len(rows), "mean": statistics.mean(acc), "min": min(acc),
                "max": max(acc), "fitted_images": sorted({r["train_images"] for r in rows}),
                "val_images": sorted({r["val_images"] for r in rows}), "sklearn_mean": statistics.mean(ref)}
        out.append(item)
        print(f"efficiency {model:20s} {shot:2d}/class: mean {item['mean'] * 100:5.1f}% "
              f"(min {item['min'] * 100:.1f}, max {item['max'] * 100:.1f}; {len(rows)} seeds) · fitted on "
              f"{item['fitted_images']} images, {item['val_images']} validation · scikit-learn mean "
              f"{item['sklearn_mean'] * 100:5.1f}%", flush=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="demo-resnet-shapes,demo-vit-shapes")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--shots", default="1,2,5")
    ap.add_argument("--digits-train", type=int, default=40)
    ap.add_argument("--digits-test", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--json", help="write every number here")
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args()
    if args.smoke:
        args.models, args.seeds, args.shots, args.digits_train, args.digits_test = "demo-resnet-shapes", 1, "1", 4, 2
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    from tlweb.config import Settings
    from tlweb.engine.data import load_data, sample_data

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    shots = [int(s) for s in args.shots.split(",") if s.strip()]
    with tempfile.TemporaryDirectory(prefix="tlweb-bench-linear-") as tmp:
        settings = Settings(home=Path(tmp) / "home", demo=True)
        sample = sample_data(settings)
        digits = load_data(str(write_digits(Path(tmp) / "digits", args.digits_train, args.digits_test)),
                           settings=settings)
        print(f"sample: {sample.summary()}\ndigits: {digits.summary()}", flush=True)
        runs = [bench_run(data, m, settings, name) for name, data in (("sample", sample), ("digits", digits))
                for m in models]
        eff = [item for m in models for item in bench_efficiency(sample, m, shots, args.seeds, settings)]
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "efficiency": eff}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
