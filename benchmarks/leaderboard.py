"""Backbone leaderboard vs N separate linear fine-tunes; feature throughput vs a bare pipeline.

    python benchmarks/leaderboard.py [--classes 8] [--train 80] [--test 20] [--photo 160]
                                     [--models demo-resnet-shapes,demo-resnet,demo-vit,demo-convnext]
                                     [--large] [--threads N] [--json out.json] [--smoke]

Everything in one process, on the same generated JPEG imagefolder (``train/`` + ``test/``) and the
same model folders (tiny demo models by default; ``--large``: ViT-S/16, ResNet-50, ConvNeXt-T and
DeiT-S configs at 224 px with random weights — speed only, accuracies are noise):

1. **leaderboard vs N linear fine-tunes**: ``leaderboard()`` over the N backbones in a fresh cache
   (cold: it computes the features), then again (warm: the features, costs and heads' inputs come
   from the cache — the forward-pass counter must not move), against N separate
   ``finetune(strategy="linear")`` runs in another fresh cache (each decodes, computes its features
   and trains its head, as N ``python -m tlweb finetune --strategy linear`` calls would, minus the
   process start-ups). Target: the warm leaderboard ≥ N× faster than the N runs.
2. **the head vs scikit-learn**: on each backbone's cached features and the same split (20% of each
   class held out to choose C, then refitted on all), :func:`tlweb.engine.head.auto_head` against
   ``LogisticRegression`` (L-BFGS) with C chosen the same way: test accuracies and wall times.
3. **feature throughput**: decode + preprocess + forward of every training image into pooled
   vectors — ``split_features`` (decode once with a thread pool, batched forward, cache write) in a
   fresh cache vs ``pipeline("image-feature-extraction", pool=True)`` on the same JPEG paths with
   the same batch size; both models loaded and warm, alternating rounds, medians.
4. **pretrained vs random init**: k-NN accuracy of ``demo-resnet-shapes`` on the built-in sample,
   pretrained and with random weights of the same architecture (seeds 0, 1, 2).

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
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KINDS = ("circle", "square", "triangle", "cross", "x", "ring", "diamond", "half", "stripes", "checker")


def build_models(root: Path, names: list[str], large: bool) -> dict[str, str]:
    """Model folders: demo models (built once into ``root``) or ImageNet-sized random configs."""
    from tlweb.config import Settings
    from tlweb.engine.demo import ensure_built

    if not large:
        settings = Settings(home=root, demo=True)
        return {n: str(ensure_built(n, settings)) for n in names}
    import torch
    import transformers as tf

    torch.manual_seed(0)
    labels = {"id2label": {0: "a", 1: "b"}, "label2id": {"a": 0, "b": 1}}
    configs = {
        "vit-s16": (tf.ViTConfig(image_size=224, patch_size=16, hidden_size=384, num_hidden_layers=12,
                                 num_attention_heads=6, intermediate_size=1536, **labels),
                    tf.ViTForImageClassification, tf.ViTImageProcessorPil(size={"height": 224, "width": 224})),
        "resnet-50": (tf.ResNetConfig(embedding_size=64, hidden_sizes=[256, 512, 1024, 2048], depths=[3, 4, 6, 3],
                                      layer_type="bottleneck", **labels), tf.ResNetForImageClassification,
                      tf.ConvNextImageProcessorPil(size={"shortest_edge": 224}, crop_pct=0.875)),
        "convnext-t": (tf.ConvNextConfig(hidden_sizes=[96, 192, 384, 768], depths=[3, 3, 9, 3], **labels),
                       tf.ConvNextForImageClassification,
                       tf.ConvNextImageProcessorPil(size={"shortest_edge": 224}, crop_pct=0.875)),
        "deit-s16": (tf.DeiTConfig(image_size=224, patch_size=16, hidden_size=384, num_hidden_layers=12,
                                   num_attention_heads=6, intermediate_size=1536, **labels),
                     tf.DeiTForImageClassification, tf.DeiTImageProcessorPil(size={"height": 224, "width": 224})),
    }
    out = {}
    for name, (cfg, cls, proc) in configs.items():
        folder = root / name
        cls(cfg).save_pretrained(folder)
        proc.save_pretrained(folder)
        out[name] = str(folder)
    return out


def make_data(root: Path, classes: int, train: int, test: int, side: int) -> Path:
    from tlweb.engine.data import write_shapes_dataset

    kinds = {f"c{i:02d}-{KINDS[i % len(KINDS)]}": KINDS[i % len(KINDS)] for i in range(classes)}
    return write_shapes_dataset(root, kinds, per_class=train + test, test_per_class=test, size=side, seed=7,
                                fmt="jpg")


def _sk_head(xf, yf, xt, yt, seed: int) -> tuple[float, float, float]:
    """(test accuracy, seconds, C): LogisticRegression with C chosen like auto_head chooses it."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from tlweb.engine.data import stratified_split
    from tlweb.engine.head import CS

    t0 = time.perf_counter()
    k = int(yf.max()) + 1
    fit, val = stratified_split(yf.tolist(), k, 0.2, seed)
    sc = StandardScaler().fit(xf[fit])
    best = None
    for C in CS:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            clf = LogisticRegression(C=C, max_iter=1000).fit(sc.transform(xf[fit]), yf[fit])
        p = clf.predict_proba(sc.transform(xf[val]))
        acc = float((p.argmax(1) == yf[val]).mean())
        loss = -float(np.log(np.clip(p[np.arange(len(val)), yf[val]], 1e-15, None)).mean())
        if best is None or (-loss, acc) > best[0]:
            best = ((-loss, acc), C)
    sc = StandardScaler().fit(xf)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegression(C=best[1], max_iter=1000).fit(sc.transform(xf), yf)
    acc = float((clf.predict(sc.transform(xt)) == yt).mean())
    return acc, time.perf_counter() - t0, best[1]


def bench_leaderboard(data_dir: Path, folders: dict[str, str], tmp: Path, device: str) -> dict:
    from tlweb.config import Settings
    from tlweb.engine.features import forward_passes
    from tlweb.engine.leaderboard import leaderboard
    from tlweb.engine.train import TrainConfig, finetune

    names = list(folders.values())
    home_a = Settings(home=tmp / "home-leaderboard", device=device)
    t0 = time.perf_counter()
    cold = leaderboard(str(data_dir), names, settings=home_a)
    cold_s = time.perf_counter() - t0
    fp = forward_passes()
    t0 = time.perf_counter()
    warm = leaderboard(str(data_dir), names, settings=home_a)
    warm_s = time.perf_counter() - t0
    warm_forward = forward_passes() - fp
    home_b = Settings(home=tmp / "home-finetune", device=device)
    runs = []
    t0 = time.perf_counter()
    for name in names:
        res = finetune(TrainConfig(model=name, data=str(data_dir), strategy="linear"), settings=home_b)
        runs.append(res)
    ft_s = time.perf_counter() - t0
    rows = []
    for short, r_cold, r_warm, run in zip(folders, cold.rows, warm.rows, runs):
        rows.append({"model": short, "leaderboard_linear_accuracy": r_cold.linear_accuracy,
                     "warm_linear_accuracy": r_warm.linear_accuracy, "knn_accuracy": r_cold.knn_accuracy,
                     "finetune_linear_accuracy": run.test_accuracy, "latency_ms": r_cold.latency_ms,
                     "gflops": r_cold.gflops, "params": r_cold.params, "error": r_cold.error})
    return {"models": len(names), "leaderboard_cold_s": cold_s, "leaderboard_warm_s": warm_s,
            "warm_forward_passes": warm_forward, "finetune_linear_s": ft_s,
            "ratio_cold": ft_s / cold_s, "ratio_warm": ft_s / warm_s, "rows": rows,
            "best": cold.best, "home": home_a}


def bench_heads(data_dir: Path, folders: dict[str, str], settings) -> list[dict]:
    from tlweb.engine.data import load_data
    from tlweb.engine.features import Backbone, split_features
    from tlweb.engine.head import auto_head

    data = load_data(str(data_dir), settings=settings)
    out = []
    for short, folder in folders.items():
        bb = Backbone(folder, settings)
        tr = split_features(data, "train", bb, settings=settings)
        te = split_features(data, "test", bb, settings=settings)
        t0 = time.perf_counter()
        head = auto_head(tr.features, tr.labels, len(data.class_names))
        ours_s = time.perf_counter() - t0
        ours = float((head.predict(te.features) == te.labels).float().mean())
        ref, ref_s, ref_c = _sk_head(tr.features.numpy(), tr.labels.numpy(), te.features.numpy(), te.labels.numpy(), 0)
        out.append({"model": short, "vectors": len(tr), "dim": int(tr.features.shape[1]), "head_accuracy": ours,
                    "head_s": ours_s, "head_C": head.C, "sklearn_accuracy": ref, "sklearn_s": ref_s,
                    "sklearn_C": ref_c, "difference_points": (ours - ref) * 100})
    return out


def bench_throughput(data_dir: Path, folder: str, tmp: Path, device: str, batch: int, repeat: int) -> dict:
    """Alternating rounds (tlweb, pipeline, tlweb, …), medians: tlweb from a cold cache each round
    (decode + forward + cache write), both models loaded and warmed up beforehand."""
    import torch
    from transformers import pipeline

    from tlweb.config import Settings
    from tlweb.engine.data import clear_encoded_cache, image_sources, load_data
    from tlweb.engine.features import Backbone, split_features

    settings = Settings(home=tmp / "home-throughput-0", device=device)
    data = load_data(str(data_dir), settings=settings)
    n = len(data.train)
    model = Backbone(folder, settings).model  # loaded once, before any clock starts
    paths = [str(p) for p in image_sources(data.train)]
    pipe = pipeline("image-feature-extraction", model=folder, device=0 if device.startswith("cuda") else -1)
    pipe(paths[:2], pool=True, batch_size=2)  # warm-up
    ours, theirs = [], []
    for i in range(repeat):
        fresh = Settings(home=tmp / f"home-throughput-{i}", device=device)
        clear_encoded_cache()
        bb = Backbone(folder, fresh, model=model)
        t0 = time.perf_counter()
        split_features(load_data(str(data_dir), settings=fresh), "train", bb, settings=fresh, batch_size=batch)
        ours.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        with torch.inference_mode():
            feats = pipe(paths, pool=True, batch_size=batch)
        theirs.append(time.perf_counter() - t0)
        assert len(feats) == n
    ours_s, pipe_s = statistics.median(ours), statistics.median(theirs)
    return {"images": n, "batch": batch, "rounds": repeat, "tlweb_s": ours_s, "tlweb_images_per_s": n / ours_s,
            "pipeline_s": pipe_s, "pipeline_images_per_s": n / pipe_s, "ratio": pipe_s / ours_s}


def bench_gap(folder_home) -> list[dict]:
    from tlweb.engine.data import sample_data
    from tlweb.engine.embeddings import pretrained_vs_random

    data = sample_data(folder_home)
    out = []
    for seed in (0, 1, 2):
        pre, rnd = pretrained_vs_random(data, "demo-resnet-shapes", seed=seed, settings=folder_home)
        out.append({"seed": seed, "pretrained_knn": pre.knn_accuracy, "random_knn": rnd.knn_accuracy,
                    "gap_points": (pre.knn_accuracy - rnd.knn_accuracy) * 100, "pretrained_silhouette": pre.silhouette,
                    "random_silhouette": rnd.silhouette, "test_images": pre.knn["test_images"]})
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--classes", type=int, default=8)
    ap.add_argument("--train", type=int, default=80, help="training images per class")
    ap.add_argument("--test", type=int, default=20, help="test images per class")
    ap.add_argument("--photo", type=int, default=160, help="side of the generated JPEGs in pixels")
    ap.add_argument("--models", default="demo-resnet-shapes,demo-resnet,demo-vit,demo-convnext")
    ap.add_argument("--large", action="store_true", help="ImageNet-sized random configs at 224 px")
    ap.add_argument("--batch", type=int, default=64, help="batch size of the throughput comparison")
    ap.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    ap.add_argument("--repeat", type=int, default=3, help="alternating rounds of the throughput comparison")
    ap.add_argument("--sections", default="1,2,3,4", help="which measurements to run (2 needs 1)")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--smoke", action="store_true", help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args()
    if args.smoke:
        args.classes, args.train, args.test, args.photo = 2, 6, 3, 48
        args.models, args.batch, args.repeat, args.sections = "demo-resnet-shapes,demo-resnet", 8, 1, "1,2,3"
    sys.stdout.reconfigure(line_buffering=True)  # progress shows when the output goes to a file

    import torch
    from transformers.utils import logging as hf_logging

    from tlweb.config import Settings, set_settings

    if args.threads:
        torch.set_num_threads(args.threads)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    tmp = Path(tempfile.mkdtemp(prefix="tlweb-bench-leaderboard-"))
    models_home = Settings(home=tmp / "home-models", demo=True, device=device)
    set_settings(models_home)
    folders = build_models(tmp / "home-models", [m.strip() for m in args.models.split(",")], args.large)
    data_dir = make_data(tmp / "data", args.classes, args.train, args.test, args.photo)
    print(f"{len(folders)} backbones · {args.classes} classes × ({args.train} train + {args.test} test) JPEGs "
          f"{args.photo}² · {device} · torch threads {torch.get_num_threads()}", flush=True)

    sections = {int(x) for x in args.sections.split(",") if x.strip()}
    lb, heads, thr, gap = {}, [], {}, None
    if 1 in sections:
        lb = bench_leaderboard(data_dir, folders, tmp, device)
        report_leaderboard(lb)
    if 2 in sections and lb:
        heads = bench_heads(data_dir, folders, lb["home"])
        report_heads(heads)
    if 3 in sections:
        sizes = {k: os.path.getsize(Path(v) / "model.safetensors") for k, v in folders.items()}
        thr_model = max(sizes, key=sizes.get)  # the largest backbone: forward passes weigh most
        thr = bench_throughput(data_dir, folders[thr_model], tmp, device, args.batch, args.repeat)
        print(f"\n3. feature throughput ({thr_model}, {thr['images']} JPEGs, batch {thr['batch']}, median of "
              f"{thr['rounds']} alternating rounds, models loaded and warm): tlweb {thr['tlweb_images_per_s']:.0f} img/s vs pipeline {thr['pipeline_images_per_s']:.0f} "
              f"img/s → **{thr['ratio']:.2f}×**")
    if 4 in sections and not args.large:
        gap = bench_gap(models_home)
        report_gap(gap)
    lb.pop("home", None)
    if args.json:
        Path(args.json).write_text(json.dumps({"leaderboard": lb, "heads": heads, "throughput": thr, "gap": gap},
                                              indent=1, default=str))


def report_leaderboard(lb: dict) -> None:
    print(f"\n1. leaderboard of {lb['models']} backbones: cold {lb['leaderboard_cold_s']:.2f} s, warm "
          f"{lb['leaderboard_warm_s']:.2f} s ({lb['warm_forward_passes']} forward passes) vs {lb['models']} linear "
          f"fine-tunes {lb['finetune_linear_s']:.2f} s → {lb['ratio_cold']:.2f}× (cold), "
          f"**{lb['ratio_warm']:.1f}×** (warm; target ≥ {lb['models']}×)")
    for r in lb["rows"]:
        print(f"   {r['model']:20s} leaderboard linear {r['leaderboard_linear_accuracy'] * 100:5.1f}% · k-NN "
              f"{r['knn_accuracy'] * 100:5.1f}% · finetune linear {r['finetune_linear_accuracy'] * 100:5.1f}% · "
              f"{r['latency_ms']:.3g} ms/image")


def report_heads(heads: list[dict]) -> None:
    print("\n2. head vs scikit-learn LogisticRegression (same features, same split, C chosen on 20% held out):")
    for h in heads:
        print(f"   {h['model']:20s} {h['vectors']}×{h['dim']}: head {h['head_accuracy'] * 100:5.1f}% "
              f"({h['head_s']:.2f} s, C={h['head_C']:g}) vs sklearn {h['sklearn_accuracy'] * 100:5.1f}% "
              f"({h['sklearn_s']:.2f} s, C={h['sklearn_C']:g}) → {h['difference_points']:+.1f} points")


def report_gap(gap: list[dict]) -> None:
    print("\n4. pretrained vs random init, k-NN on the built-in sample (demo-resnet-shapes):")
    for g in gap:
        print(f"   seed {g['seed']}: pretrained {g['pretrained_knn'] * 100:.1f}% vs random "
              f"{g['random_knn'] * 100:.1f}% ({g['test_images']} test images) → {g['gap_points']:+.1f} points; "
              f"silhouette {g['pretrained_silhouette']:.2f} vs {g['random_silhouette']:.2f}")
    print(f"   median gap {statistics.median(g['gap_points'] for g in gap):+.1f} points")


if __name__ == "__main__":
    main()
