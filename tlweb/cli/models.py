"""``download``, ``models``, ``demo-models``: the catalog and the local cache."""

from __future__ import annotations

from tlweb.cli.common import _settings_from, print_json
from tlweb.config import get_settings
from tlweb.registry import tasks


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
    p = sub.add_parser("models", help="list the model catalog, with what is ready here and what needs a download")
    p.add_argument("--task", choices=[t.name for t in tasks()], help="only the models of this task")
    p.add_argument("--demo", action="store_true", help="include demo models")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models)


def cmd_models(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine.availability import model_states
    from tlweb.engine.listing import list_for_pickers, list_models

    everything = list_models(args.task, settings)
    if args.json:  # every model, runs inside experiments too
        states = model_states(everything, settings)
        print_json({"models": [dict(s.facts(), key=s.key, label=s.label, status=st.column(), ready=st.ready,
                                    size_bytes=st.size_bytes) for s, st in zip(everything, states)]})
        return 0
    specs = list_for_pickers(args.task, settings)  # catalog, demo models, then runs (one per experiment)
    hidden = sum(1 for s in everything if s.source == "run") - sum(1 for s in specs if s.source == "run")
    print(f"{'key':28s} {'task':32s} {'family':14s} {'params':>8s}  {'status':26s} model")
    for s, st in zip(specs, model_states(specs, settings)):
        size = f"{s.params_m:g}M" if s.params_m else "?"
        where = s.label_note if s.source == "run" else s.hub_id  # runs: their title, not a folder path
        print(f"{s.key:28s} {s.task:32s} {s.family:14s} {size:>8s}  {st.column():26s} {where}")
    if hidden:
        print(f"… and {hidden} more runs inside experiments (each listed by its best run above): "
              "python -m tlweb runs ls")
    return 0


def add_demo_models(sub) -> None:
    p = sub.add_parser("demo-models", help="build the tiny random-weight demo models now")
    p.set_defaults(func=cmd_demo_models)


def cmd_demo_models(args) -> int:
    from tlweb.engine.demo import build_all

    for path in build_all(get_settings()):
        print(path)
    return 0


COMMANDS = [add_download, add_models, add_demo_models]
