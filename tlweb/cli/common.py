"""Helpers shared by the sub-commands: settings from flags, JSON output, common, image and dataset flags."""

from __future__ import annotations

import json
import sys

from tlweb.config import LOCAL, SHARED, Settings, get_settings, set_settings


def _settings_from(args, serving: bool = False) -> Settings:
    """Settings with the command's flags. Commands other than ``serve`` act for the person at the
    terminal: they run in local mode (folders allowed) even where the web app is shared."""
    settings = get_settings()
    changes = {} if serving else {"mode": LOCAL}
    if serving and getattr(args, "shared", False):
        changes["mode"] = SHARED
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


def need_image_files(*paths: str) -> None:
    """A missing or misnamed image is a sentence before any model is looked up (a model that is not cached can
    take seconds to be found missing on the Hub, and its error would hide the simpler one)."""
    from pathlib import Path

    from tlweb.errors import ImageError, clip

    for path in paths:
        p = Path(path).expanduser()
        if not p.exists():
            raise ImageError(f"The file '{clip(path)}' does not exist.")
        if p.is_dir():
            raise ImageError(f"'{clip(path)}' is a folder, not an image.")


def _data_command(sub, name: str, func, help: str, description: str, model_help: str, model_flag: str = "--model"):
    """A sub-command running models over a dataset (leaderboard, embed, efficiency): --data and its
    Hub, split and seed flags, then the required ``model_flag``; the caller adds its own flags and
    :func:`_common_flags`, and loads the data with :func:`_load`."""
    p = sub.add_parser(name, help=help, description=description)
    p.add_argument("--data", required=True,
                   help="folder of class folders (train/ and test/ used when present), .zip of them, Hub dataset id, "
                        "or 'sample' for the built-in generated dataset")
    p.add_argument("--image-column", help="Hub datasets: the image column (auto-detected)")
    p.add_argument("--label-column", help="Hub datasets: the label column (auto-detected)")
    p.add_argument("--split", help="Hub datasets: training split, optionally ',test split'")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held out when the data has no test split")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(model_flag, required=True, help=model_help)
    p.set_defaults(func=func)
    return p


def _load(args, settings):
    """The dataset named by :func:`_data_command`'s flags, its summary on stderr."""
    from tlweb.engine.data import load_data

    data = load_data(args.data, image_column=args.image_column, label_column=args.label_column, split=args.split,
                     test_fraction=args.test_fraction, seed=args.seed, settings=settings)
    print(f"data: {data.summary()}", file=sys.stderr, flush=True)
    return data


def _template_flag(p) -> None:
    """--template (repeatable): the zero-shot prompt templates."""
    p.add_argument("--template", action="append", dest="templates",
                   help="zero-shot prompt template with {} for the class name (repeat for several; default: 4 "
                        "templates averaged)")


def _print_result_json(result, args, **extra) -> None:
    """One JSON object: the result, with the image and the model exactly as the user gave them."""
    out = result.as_dict()
    out["image"] = args.image
    out["model"] = args.model
    out.update(extra)
    print_json(out)
