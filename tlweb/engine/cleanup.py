"""The cleaner: what ended is removed, what crashed is written down.

:func:`sweep` runs when the app starts and then every :data:`EVERY_S` seconds (:mod:`tlweb.ui.queue`
schedules it), and from ``python -m tlweb cache --clean``-style callers:

- **Crashed experiments** (any mode): an ``experiment.json`` that says "running" while no process holds
  the folder's lock (:mod:`tlweb.engine.runlock`) is set to "failed", so lists and ``runs rm`` agree
  with what happened (a single run's status is read from its lock and files; nothing to rewrite).
- **Runs of ended sessions** (shared mode): a run or experiment a browser session made is removed
  ``TLWEB_RUN_TTL_HOURS`` (default 24) after the session ended (its ``.ended`` file, written when the
  page closed), or after its last write when the session never said goodbye (API clients), unless it
  is running or its session is still connected. Runs made from the command line have no owner, and
  runs of visitors signed in with Hugging Face belong to their account: neither is removed here.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine import owners, runlock

log = logging.getLogger(__name__)

EVERY_S = 600.0


@dataclass
class SweepResult:
    reconciled: list[str] = field(default_factory=list)  # experiments set from "running" to "failed"
    removed: list[str] = field(default_factory=list)  # runs and experiments of ended sessions
    freed_bytes: int = 0


def _last_write(folder: Path) -> float:
    """When the session let go of ``folder``: its ``.ended`` file, else the newest file in it."""
    ended = folder / owners.ENDED_FILE
    try:
        return ended.stat().st_mtime
    except OSError:
        pass
    newest = 0.0
    for dirpath, _dirs, files in os.walk(folder):
        for name in files:
            try:
                newest = max(newest, os.stat(os.path.join(dirpath, name)).st_mtime)
            except OSError:
                continue
    return newest or folder.stat().st_mtime


def _reconcile(folder: Path, result: SweepResult) -> None:
    from tlweb.engine.runs.files import EXPERIMENT_FILE
    from tlweb.engine.runs.store import update_experiment
    from tlweb.engine.stop import now_iso

    path = folder / EXPERIMENT_FILE
    try:
        cfg = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if isinstance(cfg, dict) and cfg.get("status") == "running" and not runlock.alive(folder, cfg):
        update_experiment(folder, status="failed", finished=now_iso(), note="its process ended before it did")
        result.reconciled.append(folder.name)


def sweep(settings: Settings | None = None, live_owners: set[str] | frozenset[str] = frozenset(),
          now: float | None = None) -> SweepResult:
    """Reconcile crashed experiments; in shared mode remove the runs of sessions that ended more than
    ``settings.run_ttl_hours`` ago. ``live_owners``: owner tags (:func:`tlweb.engine.owners.tag`) of the
    sessions still connected, whose runs stay whatever their age."""
    from tlweb.engine.budget import tree_size

    settings = settings or get_settings()
    result = SweepResult()
    root = settings.runs_dir
    if not root.is_dir():
        return result
    now = time.time() if now is None else now
    ttl = max(0.0, float(settings.run_ttl_hours)) * 3600
    for folder in sorted(root.iterdir()):
        if not folder.is_dir() or folder.name.startswith("."):
            continue
        _reconcile(folder, result)
        if not settings.shared:
            continue
        owner = owners.owner_of(folder, settings)
        if owner is None or owners.is_account_tag(owner) or owner in live_owners or owners.running(folder):
            continue
        try:
            idle = now - _last_write(folder)
        except OSError:
            continue
        if idle > ttl:
            size = tree_size(folder)
            shutil.rmtree(folder, ignore_errors=True)
            result.removed.append(folder.name)
            result.freed_bytes += size
            log.info("removed %s: its session ended %.1f h ago", folder.name, idle / 3600)
    return result
