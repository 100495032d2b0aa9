"""Headless command line: ``python -m tlweb <command> …``.

Each module in ``COMMAND_MODULES`` registers its sub-commands with ``add_<name>(subparsers)``
functions listed in its ``COMMANDS``. With ``--json`` the last line printed is one JSON object.
Errors print one sentence to stderr and exit 2 (bad input) or 1 (unexpected).
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

from tlweb.cli.common import print_json  # noqa: F401 - re-exported
from tlweb.errors import TlwebError

# Sub-command modules in help order; each lists its adders in ``COMMANDS``.
COMMAND_MODULES = (
    "tlweb.cli.serve",
    "tlweb.cli.classify",
    "tlweb.cli.compare",
    "tlweb.cli.finetune",
    "tlweb.cli.segment_detect",
    "tlweb.cli.models",
    "tlweb.cli.leaderboard",
    "tlweb.cli.embed",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tlweb", description="tlweb: transfer learning workbench")
    parser.add_argument("-v", "--verbose", action="store_true", help="log details (and tracebacks) to stderr")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        for add in importlib.import_module(name).COMMANDS:
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
