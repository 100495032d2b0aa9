"""``leaderboard``: rank backbones on a dataset (linear probe, k-NN, costs, zero-shot row)."""

from __future__ import annotations

import sys

from tlweb.cli.common import _common_flags, _data_command, _load, _settings_from, _template_flag, print_json


def add_leaderboard(sub) -> None:
    p = _data_command(sub, "leaderboard", cmd_leaderboard,
                      help="rank 2-8 backbones on your data: linear probe, k-NN, latency, GFLOPs",
                      description="Linear-probe and k-NN accuracy of each backbone on the same split, with latency, "
                                  "parameters and GFLOPs; features are cached, so a second run does no forward pass.",
                      model_flag="--models", model_help="2-8 backbones, comma-separated: catalog keys, Hub ids or folders")
    p.add_argument("--zero-shot", help="a CLIP or SigLIP model: one more row, classifying from the class names alone")
    _template_flag(p)
    _common_flags(p, "demo-resnet-shapes")


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
