"""Headless command line: ``python -m tlweb <command> …``.

Each command module registered in :mod:`tlweb.registry` (``register_command``) lists its
``add_<name>(subparsers)`` functions in ``COMMANDS``. With ``--json`` the last line printed is one JSON object.
Errors print one sentence to stderr and exit 2 (bad input, including library errors that bad input
causes, see :func:`tlweb.errors.explain`) or 1 (unexpected).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings

from tlweb import errors  # as a module: importing the command modules binds tlweb.cli.explain (a command) here
from tlweb.cli.common import print_json  # noqa: F401 - re-exported
from tlweb.registry import commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tlweb", description="tlweb: transfer learning workbench")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks) to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in commands():  # in help order
        for add in command.adders():
            add(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _quiet(args.verbose)
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    try:
        return int(args.func(args) or 0)
    except errors.TlwebError as exc:
        print(f"error: {errors.clip(errors.scrub(exc), 600)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001
        if args.verbose:
            raise
        known = errors.explain(exc)  # bad input that surfaced as a library error: still the user's to fix
        if known is not None:
            print(f"error: {errors.clip(errors.scrub(known), 600)}", file=sys.stderr)
            return 2
        text = errors.clip(errors.scrub(errors.first_line(exc, None)), 300)
        print(f"error: unexpected {type(exc).__name__}: {text} (run with -v for details)", file=sys.stderr)
        return 1


LIBRARIES = ("transformers", "huggingface_hub", "datasets", "gradio", "httpx", "urllib3", "torch", "PIL", "accelerate",
             "peft", "evaluate")


def _quiet(verbose: bool) -> None:
    """The terminal gets tlweb's own lines: library warnings, log records and progress bars only with -v."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if verbose:
        return
    for name in LIBRARIES:
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.simplefilter("ignore")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("HF_DATASETS_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TQDM_DISABLE", "1")
