"""``compare``: several backbones on the same images."""

from __future__ import annotations

import sys

from tlweb.cli.common import _common_flags, _settings_from, need_image_files, print_json


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
    need_image_files(*args.images)  # before any model work
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


COMMANDS = [add_compare]
