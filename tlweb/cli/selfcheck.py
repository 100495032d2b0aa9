"""``selfcheck``: drive every tab of a running app (or a local demo app) and check the answers."""

from __future__ import annotations

import os


def add_selfcheck(sub) -> None:
    p = sub.add_parser("selfcheck", help="check every tab of a running app (a Space) on the example photos; "
                                         "exit 1 when a check fails")
    p.add_argument("--url", help="the app to check, e.g. https://your-name-tlweb.hf.space "
                                 "(default: start the local demo app and check it)")
    p.add_argument("--token", default=os.environ.get("HF_TOKEN"), help="Hugging Face token for a private Space "
                                                                      "(default: $HF_TOKEN)")
    p.add_argument("--real", action="store_true", help="require the checks on curated checkpoints: run them "
                                                       "locally too (downloads), and count a skip as a failure")
    p.add_argument("--only", action="append", metavar="CHECK", help="run only this check (repeatable)")
    p.add_argument("--list", action="store_true", help="list the checks and exit")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=cmd_selfcheck)


def cmd_selfcheck(args) -> int:
    from tlweb import selfcheck

    if args.list:
        width = max(len(c.name) for c in selfcheck.CHECKS.values())
        for c in selfcheck.CHECKS.values():
            doc = (c.fn.__doc__ or "").strip().splitlines()
            print(f"{c.name:<{width}}  {c.tab:<10} {'curated checkpoints' if c.real else 'any model':<20} "
                  f"{doc[0] if doc else ''}".rstrip())
        return 0
    return selfcheck.main(url=args.url, token=args.token, real=args.real, names=args.only, as_json=args.json)


COMMANDS = [add_selfcheck]
