"""``cache``: what ``TLWEB_HOME`` holds against its budget, and least-recently-used cleanup of the caches."""

from __future__ import annotations

from tlweb.cli.common import _settings_from, print_json


def add_cache(sub) -> None:
    p = sub.add_parser("cache", help="show how much of the TLWEB_HOME budget caches and runs use; --clean frees caches",
                       description="Caches (unpacked zips, decoded tensors, features, Hub downloads made for clients) "
                                   "are cleaned least recently used first; runs are never touched here "
                                   "(python -m tlweb runs rm deletes one).")
    p.add_argument("--clean", action="store_true", help="delete cache entries, oldest use first, down to the budget")
    p.add_argument("--all", action="store_true", help="with --clean: delete every cache entry")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.set_defaults(func=cmd_cache)


def cmd_cache(args) -> int:
    settings = _settings_from(args)
    from tlweb.engine import budget

    removed = budget.clean(settings, keep_bytes=0 if args.all else None) if args.clean else []
    entries = budget.cache_entries(settings)
    cached = sum(size for _, size, _ in entries)
    runs = budget.tree_size(settings.runs_dir) if settings.runs_dir.exists() else 0
    used = budget.home_usage(settings, max_age_s=0)
    out = {"home_bytes": used, "budget_bytes": settings.home_budget_mb * budget.MB, "cache_bytes": cached,
           "cache_entries": len(entries), "runs_bytes": runs,
           "removed": [{"entry": f"{p.parent.name}/{p.name}", "bytes": size} for p, size in removed]}
    if args.json:
        print_json(out)
        return 0
    for p, size in removed:
        print(f"removed {p.parent.name}/{p.name} ({budget.human(size)})")
    print(f"TLWEB_HOME uses {budget.human(used)} of its {budget.human(out['budget_bytes'])} budget "
          f"(TLWEB_HOME_BUDGET_MB): caches {budget.human(cached)} in {len(entries)} entries, runs {budget.human(runs)}.")
    return 0


COMMANDS = [add_cache]
