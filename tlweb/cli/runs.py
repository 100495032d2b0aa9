"""``runs``: list, stop and delete fine-tune runs and experiments (ladders, data-efficiency curves)."""

from __future__ import annotations

import sys

from tlweb.cli.common import _settings_from, print_json
from tlweb.engine.metrics import percent
from tlweb.errors import TlwebError


def add_runs(sub) -> None:
    p = sub.add_parser("runs", help="list, stop or delete fine-tune runs and experiments",
                       description="Runs live under TLWEB_HOME/runs: single runs, and experiments (a strategy "
                                   "ladder or a data-efficiency curve) holding their runs.")
    actions = p.add_subparsers(dest="action")
    p.set_defaults(func=cmd_ls, json=False)  # plain `tlweb runs` lists them
    ls = actions.add_parser("ls", help="experiments and single runs, newest first")
    ls.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    ls.set_defaults(func=cmd_ls)
    rm = actions.add_parser("rm", help="delete runs or experiments (an experiment with all its runs)")
    rm.add_argument("refs", nargs="+", metavar="RUN_OR_EXPERIMENT", help="run or experiment ids (see `runs ls`)")
    rm.add_argument("--yes", "-y", action="store_true", help="delete without asking")
    rm.add_argument("--force", action="store_true", help="also delete runs that still look running")
    rm.set_defaults(func=cmd_rm)
    stop = actions.add_parser("stop", help="ask a run or an experiment to stop (from any terminal)")
    stop.add_argument("ref", metavar="RUN_OR_EXPERIMENT", help="run or experiment id, or a run folder")
    stop.set_defaults(func=cmd_stop)


def cmd_ls(args) -> int:
    from tlweb.engine.runs import ExperimentInfo, list_entries

    settings = _settings_from(args)
    entries = list_entries(settings)
    if args.json:
        print_json({"entries": [dict(e.as_dict(), type="experiment" if isinstance(e, ExperimentInfo) else "run")
                                for e in entries]})
        return 0
    if not entries:
        print(f"no runs yet in {settings.runs_dir}")
    for e in entries:
        if isinstance(e, ExperimentInfo):
            best = e.best
            print(f"{e.title:52s} {e.status:8s} {percent(best.test_accuracy if best else None, width=7)}  {e.experiment_id}")
            if e.zero_shot.get("test_accuracy") is not None:  # a curve's zero-shot baseline (no run of its own)
                print(f"  └ {'zero-shot ' + str(e.zero_shot.get('model')) + ' · 0/class':48s} {'':8s} "
                      f"{percent(e.zero_shot['test_accuracy'], width=7)}  (class names only)")
            for r in e.runs:
                print(f"  └ {r.part:48s} {r.status:8s} {percent(r.test_accuracy, width=7)}  {r.run_id}")
        else:
            print(f"{e.title:52s} {e.status:8s} {percent(e.test_accuracy, width=7)}  {e.run_id}")
    return 0


def cmd_rm(args) -> int:
    from tlweb.engine.runs import entry_info
    from tlweb.engine.runs.present import describe
    from tlweb.engine.runs.store import delete_entry

    settings = _settings_from(args)
    infos = [entry_info(ref, settings) for ref in args.refs]  # every id is checked before anything goes
    if not args.yes:
        if not sys.stdin.isatty():
            raise TlwebError("Add --yes to delete without a question (no terminal to ask on).")
        listing = "\n".join(f"  {describe(i)}" for i in infos)
        answer = input(f"Delete these for good?\n{listing}\n[y/N] ").strip().lower()
        if answer not in ("y", "yes"):
            print("nothing deleted")
            return 0
    for ref in args.refs:
        print(f"deleted {delete_entry(ref, settings, force=args.force)}")
    return 0


def cmd_stop(args) -> int:
    from tlweb.engine.runs.store import request_stop

    path = request_stop(args.ref, _settings_from(args))
    print(f"asked {path.name} to stop (it stops after its current step)")
    return 0


COMMANDS = [add_runs]
