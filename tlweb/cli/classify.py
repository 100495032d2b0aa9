"""``classify``: one image through a classifier."""

from __future__ import annotations

from tlweb.cli.common import _image_command, _print_result_json, _settings_from, need_image_files


def add_classify(sub) -> None:
    p = _image_command(sub, "classify", "classify an image with a pretrained model",
                       "catalog key, Hub id or local folder", cmd_classify)
    p.add_argument("--top-k", type=int, default=5)
    p.add_argument("--labels", help="zero-shot models (CLIP, SigLIP): your labels, comma-separated")
    p.add_argument("--template", action="append", dest="templates",
                   help="zero-shot prompt template with {} for the label (repeat to average several)")


def cmd_classify(args) -> int:
    settings = _settings_from(args)
    need_image_files(args.image)  # before any model work
    from tlweb.engine.inference import task
    from tlweb.registry import CLASSIFICATION, ZERO_SHOT_CLASSIFICATION

    if args.labels is not None or args.templates:
        result = task(ZERO_SHOT_CLASSIFICATION).run(args.image, args.model, settings=settings, labels=args.labels,
                                                    templates=args.templates, top_k=args.top_k)
    else:
        from tlweb.engine.zeroshot import is_zero_shot

        if is_zero_shot(args.model, settings):
            from tlweb.errors import DataError

            raise DataError(f"'{args.model}' is a zero-shot model: give your labels with --labels \"cat,dog,car\".")
        result = task(CLASSIFICATION).run(args.image, args.model, settings=settings, top_k_n=args.top_k)
    if args.json:
        _print_result_json(result, args)
    else:
        print(f"{args.model} on {result.device} · {result.latency_ms:.1f} ms")
        for p in result.predictions:
            print(f"  {p.score * 100:6.2f}%  {p.label}")
    return 0


COMMANDS = [add_classify]
