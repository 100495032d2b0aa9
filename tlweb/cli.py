"""Headless command line: ``python -m tlweb {serve,classify,compare,finetune,segment,detect,download,models,demo-models} …``.

Each command is a ``cmd_<name>(args)`` function plus an ``add_<name>(subparsers)`` that
registers it; ``COMMANDS`` lists the adders. With ``--json`` the last line printed is one JSON
object. Errors print one sentence to stderr and exit 2 (bad input) or 1 (unexpected).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys

from tlweb.config import Settings, get_settings, set_settings
from tlweb.errors import TlwebError


def _settings_from(args) -> Settings:
    settings = get_settings()
    changes = {}
    if getattr(args, "demo", False):
        changes["demo"] = True
    if getattr(args, "device", None):
        changes["device"] = args.device
    if getattr(args, "port", None):
        changes["port"] = args.port
    if getattr(args, "host", None):
        changes["host"] = args.host
    return set_settings(settings.replace(**changes)) if changes else settings


def print_json(obj) -> None:
    print(json.dumps(obj, ensure_ascii=False, default=str))


def _common_flags(p, demo_example: str = "demo-vit") -> None:
    """--json, --demo and --device, shared by the commands that run models."""
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--demo", action="store_true", help=f"also resolve demo model keys ({demo_example} …)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps")


def _image_command(sub, name: str, help: str, model_help: str, func, demo_example: str = "demo-vit"):
    """A sub-command taking IMAGE and --model (classify, segment, detect)."""
    p = sub.add_parser(name, help=help)
    p.add_argument("image", help="image file")
    p.add_argument("--model", required=True, help=model_help)
    _common_flags(p, demo_example)
    p.set_defaults(func=func)
    return p


def _print_result_json(result, args, **extra) -> None:
    """One JSON object: the result, with the image and the model exactly as the user gave them."""
    out = result.as_dict()
    out["image"] = args.image
    out["model"] = args.model
    out.update(extra)
    print_json(out)


# --------------------------------------------------------------------------- serve


def add_serve(sub) -> None:
    p = sub.add_parser("serve", help="start the web app (same as python app.py)")
    p.add_argument("--demo", action="store_true", help="list tiny random-weight demo models (no downloads)")
    p.add_argument("--port", type=int, help="port (default 7860 or TLWEB_PORT)")
    p.add_argument("--host", help="interface (default 127.0.0.1; 0.0.0.0 to share on a network)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps")
    p.add_argument("--no-demo-fallback", action="store_true",
                   help="don't add demo models when the Hugging Face Hub is unreachable")
    p.set_defaults(func=cmd_serve)


def cmd_serve(args) -> int:
    settings = _settings_from(args)
    from tlweb.ui.app import launch

    if not settings.demo and not args.no_demo_fallback:
        from tlweb.engine.loading import hub_reachable

        if not hub_reachable(settings=settings):
            print("tlweb: the Hugging Face Hub is unreachable, so tiny random-weight demo models are listed too "
                  "(cached and local models still work).", flush=True)
            settings = set_settings(settings.replace(demo=True))

    print(f"tlweb: serving on http://{settings.host}:{settings.port}" + (" (demo models)" if settings.demo else ""),
          flush=True)
    launch(settings)
    return 0


# --------------------------------------------------------------------------- classify


def add_classify(sub) -> None:
    p = _image_command(sub, "classify", "classify an image with a pretrained model",
                       "catalog key, Hub id or local folder", cmd_classify)
    p.add_argument("--top-k", type=int, default=5)


def cmd_classify(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.classify import classify

    result = classify(args.image, args.model, args.top_k, settings)
    if args.json:
        _print_result_json(result, args)
    else:
        print(f"{args.model} on {result.device} · {result.latency_ms:.1f} ms")
        for p in result.predictions:
            print(f"  {p.score * 100:6.2f}%  {p.label}")
    return 0


# --------------------------------------------------------------------------- download / models


def add_download(sub) -> None:
    p = sub.add_parser("download", help="fetch Hub models into the local cache for offline use")
    p.add_argument("models", nargs="+", help="catalog keys or Hub ids; 'all' for the whole catalog")
    p.set_defaults(func=cmd_download)


def cmd_download(args) -> int:
    from tlweb.catalog import CATALOG
    from tlweb.engine.loading import download

    names = [s.hub_id for s in CATALOG] if args.models == ["all"] else args.models
    for name in names:
        print(f"{name}: {download(name)}", flush=True)
    return 0


def add_models(sub) -> None:
    p = sub.add_parser("models", help="list the model catalog")
    p.add_argument("--task", help="filter by task, e.g. image-classification")
    p.add_argument("--demo", action="store_true", help="include demo models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)


def cmd_models(args) -> int:
    settings = _settings_from(args)
    from tlweb.catalog import list_models

    specs = list_models(args.task, settings)
    if args.json:
        print_json({"models": [dict(s.facts(), key=s.key) for s in specs]})
    else:
        for s in specs:
            size = f"{s.params_m:g}M" if s.params_m else "?"
            print(f"{s.key:28s} {s.task:32s} {s.family:14s} {size:>8s}  {s.hub_id}")
    return 0


def add_demo_models(sub) -> None:
    p = sub.add_parser("demo-models", help="build the tiny random-weight demo models now")
    p.set_defaults(func=cmd_demo_models)


def cmd_demo_models(args) -> int:
    from tlweb.engine.demo import build_all

    for path in build_all(get_settings()):
        print(path)
    return 0


# --------------------------------------------------------------------------- compare


def add_compare(sub) -> None:
    p = sub.add_parser("compare", help="compare 2-6 backbones on one or more images (top-k, latency, GFLOPs, memory)")
    p.add_argument("images", nargs="+", help="image files (each decoded once, shared by every model)")
    p.add_argument("--models", required=True, help="comma-separated catalog keys, Hub ids or local folders (2-6)")
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--runs", type=int, default=5, help="at most this many timed warm runs per model (default 5; fewer once 1 s of timing is spent)")
    _common_flags(p)
    p.set_defaults(func=cmd_compare)


def cmd_compare(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.compare import iter_compare

    last = None
    for last in iter_compare(args.images, args.models, args.top_k, settings, runs=args.runs):
        if not args.json:
            print(last.message, file=sys.stderr, flush=True)
    out = last.result.as_dict()
    if args.json:
        print_json(out)
    else:
        print(f"{'model':28s} {'family':13s} {'params':>10s} {'GFLOPs':>9s} {'ms/img':>8s} {'peak MB':>8s}  top-1")
        for m in out["models"]:
            if m["error"]:
                print(f"{m['model']:28s} error: {m['error']}")
                continue
            tops = ", ".join(p[0]["label"] for p in m["predictions"] if p)
            print(f"{m['model']:28s} {m['family']:13s} {m['params']:>10,d} {m['gflops']:>9.3g} "
                  f"{m['latency_ms']:>8.2f} {m['peak_memory_mb']:>8.1f}  {tops}")
        device = next((m["device"] for m in out["models"] if m["device"]), "?")
        print(f"latency: forward pass per image, median of warm runs on {device}, batch of {len(out['images'])}")
    ok = [m for m in out["models"] if not m["error"]]
    if not ok:
        print("error: none of the models could run (see each model's error).", file=sys.stderr)
        return 2
    return 0


# --------------------------------------------------------------------------- finetune


def add_finetune(sub) -> None:
    from tlweb.engine.train import STRATEGIES  # light: torch is imported when training starts

    p = sub.add_parser("finetune", help="fine-tune a pretrained model on a dataset (linear, partial, full, lora, scratch)",
                       description="Fine-tune a model; works under `accelerate launch -m tlweb finetune …` too.")
    p.add_argument("--model", required=True, help="catalog key, Hub id or local folder (save_pretrained output)")
    p.add_argument("--data", required=True,
                   help="Hub dataset id, folder of class folders (train/ and test/ used when present), .zip of them, "
                        "or 'sample' for the built-in generated dataset")
    p.add_argument("--strategy", choices=STRATEGIES, default="linear", help="what to train (default linear)")
    p.add_argument("--epochs", type=int, help="epochs (default: per strategy; capped on CPU by TLWEB_MAX_EPOCHS_CPU)")
    p.add_argument("--batch-size", type=int, help="images per step (default: per strategy and data size)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: per strategy)")
    p.add_argument("--out", help="run folder to create (default: a new folder under the runs directory)")
    p.add_argument("--per-class", type=int, help="use at most N training images per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="a label for the run")
    p.add_argument("--partial-blocks", type=int, default=2, help="blocks trained by the partial strategy (default 2)")
    p.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default 8)")
    p.add_argument("--no-augment", action="store_true", help="no random flips / crops")
    p.add_argument("--image-column", help="Hub datasets: the image column (auto-detected)")
    p.add_argument("--label-column", help="Hub datasets: the label column (auto-detected)")
    p.add_argument("--split", help="Hub datasets: training split, optionally ',test split' (e.g. 'train[:2000],test')")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held out when the data has no test split")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--demo", action="store_true", help="also resolve demo model keys (demo-vit …)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps")
    p.set_defaults(func=cmd_finetune)


def _progress_line(e) -> str | None:
    if e.kind == "start":
        return f"start: {e.message}"
    if e.kind == "eval":
        parts = [f"epoch {e.epoch:g}", f"step {e.step}/{e.total_steps}"]
        if e.val_loss is not None:
            parts.append(f"val loss {e.val_loss:.4f}")
        if e.val_accuracy is not None:
            parts.append(f"val acc {e.val_accuracy * 100:.1f}%")
        if e.images_per_s:
            parts.append(f"{e.images_per_s:,.0f} img/s")
        if e.eta_s is not None:
            parts.append(f"ETA {e.eta_s:.0f} s")
        return " · ".join(parts)
    if e.kind in ("done", "stopped", "error"):
        return f"{e.kind}: {e.message}"
    return None


def cmd_finetune(args) -> int:
    import signal
    import threading

    settings = _settings_from(args)
    from tlweb.engine.data import load_data
    from tlweb.engine.train import TrainConfig, finetune

    main_process = os.environ.get("RANK", "0") in ("", "0")
    stop = threading.Event()

    def on_signal(signum, frame):  # first Ctrl+C: stop cleanly and keep the best model; second: abort
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("stopping after this step (Ctrl+C again to abort)…", file=sys.stderr, flush=True)

    old = signal.signal(signal.SIGINT, on_signal) if threading.current_thread() is threading.main_thread() else None

    def on_event(e) -> None:
        line = _progress_line(e)
        if line and main_process:
            print(line, file=sys.stderr, flush=True)

    try:
        data = load_data(args.data, image_column=args.image_column, label_column=args.label_column, split=args.split,
                         test_fraction=args.test_fraction, seed=args.seed, settings=settings)
        if main_process:
            print(f"data: {data.summary()}", file=sys.stderr, flush=True)
        cfg = TrainConfig(model=args.model, data=data, strategy=args.strategy, epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr, partial_blocks=args.partial_blocks,
                          lora_r=args.lora_r, per_class=args.per_class, seed=args.seed, out_dir=args.out,
                          name=args.name, augment=not args.no_augment)
        result = finetune(cfg, on_event=on_event, should_stop=stop.is_set, settings=settings)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    if not main_process:
        return 0
    if args.json:
        out = result.as_dict()
        out["model"] = args.model
        out["data"] = args.data
        print_json(out)
    else:
        print(f"{result.strategy} · {result.base_model} · {result.train_images} train / {result.test_images} test images")
        print(f"test accuracy {result.test_accuracy * 100:.1f}% · macro-F1 {result.test_macro_f1 * 100:.1f}%"
              + (" (stopped early)" if result.stopped else ""))
        print(f"model: {result.model_dir}")
    return 0


# --------------------------------------------------------------------------- segment / detect


def add_segment(sub) -> None:
    p = _image_command(sub, "segment", "segment an image: a class for every pixel, with each class's share",
                       "catalog key, Hub id or local folder (SegFormer, Mask2Former, UperNet …)", cmd_segment,
                       "demo-segformer")
    p.add_argument("--out", help="write the label map here as a PNG (pixel value = class id, coloured palette)")
    p.add_argument("--overlay", help="write the colour mask blended on the photo here (PNG/JPEG)")


def cmd_segment(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.images import load_image
    from tlweb.engine.segment import save_mask, segment

    img = load_image(args.image, settings)
    result = segment(img, args.model, settings)
    if args.out or args.overlay:
        from tlweb.viz.segment import color_list, overlay  # PIL only (no plotly)

        colors = color_list(max(result.class_names, default=0) + 1)
        if args.out:
            save_mask(result, args.out, colors)
        if args.overlay:
            present = {c.id: colors[c.id] for c in result.classes}
            overlay(img, result.label_map, present, 0.55, max_side=max(img.size)).save(args.overlay)
    if args.json:
        _print_result_json(result, args, **({"mask": args.out} if args.out else {}))
    else:
        print(f"{args.model} on {result.device} · {result.width}×{result.height} px · {result.latency_ms:.1f} ms")
        for c in result.classes[:15]:
            print(f"  {c.share * 100:6.2f}%  {c.name}")
        if len(result.classes) > 15:
            print(f"  … and {len(result.classes) - 15} more classes")
        if args.out:
            print(f"label map: {args.out}")
    return 0


def add_detect(sub) -> None:
    p = _image_command(sub, "detect", "detect objects: boxes with labels and scores (zero-shot with --queries)",
                       "catalog key, Hub id or local folder (DETR, YOLOS, RT-DETR, OWLv2 …)", cmd_detect, "demo-detr")
    p.add_argument("--queries", help="comma-separated text for zero-shot models, e.g. \"cat,dog\"")
    p.add_argument("--threshold", type=float, help="keep boxes scoring at least this (default 0.5; zero-shot 0.1)")
    p.add_argument("--out", help="write the image with the boxes drawn here (PNG/JPEG)")


def cmd_detect(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.detect import detect
    from tlweb.engine.images import load_image

    img = load_image(args.image, settings)
    result = detect(img, args.model, queries=args.queries, threshold=args.threshold, settings=settings)
    if args.out:
        from tlweb.viz.detect import draw_boxes  # PIL only (no plotly)

        draw_boxes(img, result.kept(), max_side=max(img.size)).save(args.out)
    if args.json:
        _print_result_json(result, args)
    else:
        kept = result.kept()
        print(f"{args.model} on {result.device} · {result.width}×{result.height} px · {result.latency_ms:.1f} ms · "
              f"{len(kept)} boxes with score ≥ {result.threshold:g}")
        for b in kept[:50]:
            x0, y0, x1, y1 = b.xyxy
            print(f"  {b.score:5.3f}  {b.label:24s} ({x0:.0f}, {y0:.0f}) – ({x1:.0f}, {y1:.0f})")
    return 0


# Each adder registers one sub-command.
COMMANDS = [add_serve, add_classify, add_compare, add_finetune, add_segment, add_detect, add_download, add_models,
            add_demo_models]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tlweb", description="tlweb: transfer learning workbench")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks) to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in COMMANDS:
        add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        return int(args.func(args) or 0)
    except TlwebError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001
        if args.verbose:
            raise
        print(f"error: unexpected {type(exc).__name__}: {exc} (run with -v for details)", file=sys.stderr)
        return 1
