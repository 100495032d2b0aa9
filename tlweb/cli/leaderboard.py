"""``leaderboard``: rank backbones on a dataset (linear probe, k-NN, costs, zero-shot row)."""

from __future__ import annotations

import sys

from tlweb.cli.common import _common_flags, _settings_from, print_json


def _data_flags(p) -> None:
    p.add_argument("--data", required=True,
                   help="folder of class folders (train/ and test/ used when present), .zip of them, Hub dataset id, "
                        "or 'sample' for the built-in generated dataset")
    p.add_argument("--image-column", help="Hub datasets: the image column (auto-detected)")
    p.add_argument("--label-column", help="Hub datasets: the label column (auto-detected)")
    p.add_argument("--split", help="Hub datasets: training split, optionally ',test split'")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held out when the data has no test split")
    p.add_argument("--seed", type=int, default=0)


def _load(args, settings):
    from tlweb.engine.data import load_data

    data = load_data(args.data, image_column=args.image_column, label_column=args.label_column, split=args.split,
                     test_fraction=args.test_fraction, seed=args.seed, settings=settings)
    print(f"data: {data.summary()}", file=sys.stderr, flush=True)
    return data


def add_leaderboard(sub) -> None:
    p = sub.add_parser("leaderboard", help="rank 2-8 backbones on your data: linear probe, k-NN, latency, GFLOPs",
                       description="Linear-probe and k-NN accuracy of each backbone on the same split, with latency, "
                                   "parameters and GFLOPs; features are cached, so a second run does no forward pass.")
    _data_flags(p)
    p.add_argument("--models", required=True, help="2-8 backbones, comma-separated: catalog keys, Hub ids or folders")
    p.add_argument("--zero-shot", help="a CLIP or SigLIP model: one more row, classifying from the class names alone")
    p.add_argument("--template", action="append", dest="templates",
                   help="zero-shot prompt template with {} for the class name (repeat for several; default: 4 "
                        "templates averaged)")
    _common_flags(p, "demo-resnet-shapes")
    p.set_defaults(func=cmd_leaderboard)


def cmd_leaderboard(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.leaderboard import check_models, iter_leaderboard

    check_models(args.models)  # a bad list fails before the data is loaded
    data = _load(args, settings)
    last, result = None, None
    for step in iter_leaderboard(data, args.models, args.zero_shot, args.templates, args.seed, settings):
        if step.message != last:
            print(step.message, file=sys.stderr, flush=True)
            last = step.message
        result = step.result
    if args.json:
        print_json(result.as_dict())
        return 0
    for r in result.rows:
        if r.error:
            print(f"{r.name:28s} failed: {r.error}")
            continue
        acc = (f"zero-shot {r.zero_shot_accuracy * 100:5.1f}%" if r.kind == "zero-shot"
               else f"linear {r.linear_accuracy * 100:5.1f}%  k-NN {r.knn_accuracy * 100:5.1f}%")
        print(f"{r.name:28s} {acc}  {r.latency_ms:8.3g} ms/image  {r.params or 0:>12,} params  "
              f"{r.gflops or 0:.3g} GFLOPs")
    if result.best_sentence:
        print(result.best_sentence)
    return 0


COMMANDS = [add_leaderboard]
