"""Who may see a run: in shared mode, runs and experiments belong to the browser session that made them.

A run or experiment folder made while serving a client (:data:`tlweb.access.CLIENT`, set per
request by the web app) gets an ``.owner`` file holding a hash of that session (never the session
id itself). In shared mode (:attr:`Settings.shared`):

- a client lists, opens, downloads, classifies with, explains and pushes only its own entries;
- entries without an owner were made from the command line (or before owners existed): every
  client may read them when ``TLWEB_SHARE_CLI_RUNS=1`` (:attr:`Settings.share_cli_runs`), nobody
  may delete, push or stop them from the web app;
- an entry the client may not see answers exactly like one that does not exist.

A visitor signed in with Hugging Face (on a Space, :func:`tlweb.access.account_client`) is one client
across sessions, reloads and devices: their entries carry an account tag (``account-`` + hash of the
user name), are not stopped or timed out when a tab closes, and are kept until they delete them.
Anonymous visitors keep per-session entries with the time limit (``TLWEB_RUN_TTL_HOURS``).

In local mode (one person) everything is visible, as before. When a browser session ends, its
running fine-tunes, ladders and data-efficiency curves are stopped through their folders' STOP
file (:func:`stop_sessions_runs`), so a closed tab does not keep the machine busy.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

from tlweb import access
from tlweb.config import Settings
from tlweb.engine.stop import Stop, now_iso

log = logging.getLogger(__name__)

OWNER_FILE = ".owner"
ENDED_FILE = ".ended"  # written when the owning browser session ends: the run's time to live starts then


ACCOUNT_TAG = "account-"


def tag(client: str) -> str:
    """The stored form of a session id: a hash, so reading a run folder never yields a live session; a
    signed-in account's starts with :data:`ACCOUNT_TAG` (its entries outlive its sessions)."""
    digest = hashlib.sha256(f"tlweb-owner:{client}".encode()).hexdigest()[:32]
    return ACCOUNT_TAG + digest if access.is_account(client) else digest


def is_account_tag(owner: str | None) -> bool:
    """An entry owned by a signed-in account (kept until its owner deletes it)."""
    return bool(owner) and owner.startswith(ACCOUNT_TAG)


def claim(folder: Path) -> None:
    """Mark a new top-level run or experiment folder as the current client's (no-op outside a request)."""
    client = access.current_client()
    if client:
        (Path(folder) / OWNER_FILE).write_text(tag(client), encoding="utf-8")


def top_entry(folder: Path, settings: Settings) -> Path:
    """The top-level entry holding ``folder``: itself, or the experiment a run sits in."""
    folder = Path(folder)
    try:
        root = settings.runs_dir.resolve()
        return folder if folder.resolve().parent == root else folder.parent
    except OSError:
        return folder


def owner_of(folder: Path, settings: Settings) -> str | None:
    try:
        text = (top_entry(folder, settings) / OWNER_FILE).read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def _mine(owner: str | None) -> bool:
    client = access.current_client()
    return owner is not None and client is not None and owner == tag(client)


def visible(folder: Path, settings: Settings) -> bool:
    """May the current client list, open, download or use this run or experiment?"""
    if not settings.shared:
        return True
    owner = owner_of(folder, settings)
    return _mine(owner) if owner is not None else settings.share_cli_runs


def writable(folder: Path, settings: Settings) -> bool:
    """May the current client delete, push or stop it? (Runs from the command line are read-only.)"""
    return not settings.shared or _mine(owner_of(folder, settings))


def writable_or_refuse(path: Path, settings: Settings | None = None) -> Path:
    """``path`` when the current client may change it (delete, push, stop); else a sentence."""
    from tlweb.config import get_settings
    from tlweb.errors import DataError

    if not writable(path, settings or get_settings()):
        raise DataError(f"'{path.name}' was made from the command line: on this shared server it can be opened "
                        "and downloaded, not changed.")
    return path


def unfinished(folder: Path) -> bool:
    """Not finished yet: an experiment whose experiment.json says "running", or a run folder without
    metrics.json (also one just made for a run that has not started: a Stop there must reach it)."""
    exp = folder / "experiment.json"
    if exp.is_file():
        try:
            return json.loads(exp.read_text(encoding="utf-8")).get("status") == "running"
        except (OSError, ValueError):
            return False
    return not (folder / "metrics.json").exists()


def running(folder: Path) -> bool:
    """A run or experiment still being run: its process holds the folder's lock (or one of its runs')."""
    from tlweb.engine import runlock

    if runlock.held(folder):
        return True
    try:
        return any(runlock.held(d) for d in folder.iterdir() if d.is_dir())
    except OSError:
        return False


def stop_sessions_runs(client: str | None, settings: Settings) -> list[Path]:
    """The session ended: write the STOP file of every running run and experiment it owns (the
    training loop checks it between steps, in this process or another). Returns those folders."""
    if not client or access.is_account(client) or not settings.runs_dir.is_dir():
        return []  # a signed-in account is no session: its runs outlive every tab
    mine = tag(client)
    stopped = []
    for folder in settings.runs_dir.iterdir():
        try:
            if not folder.is_dir() or (folder / OWNER_FILE).read_text(encoding="utf-8").strip() != mine:
                continue
        except OSError:
            continue
        if (running(folder) or unfinished(folder)) and not Stop(folder).requested():
            Stop(folder).request()
            stopped.append(folder)
            log.info("browser session closed: stopping %s", folder.name)
    return stopped


def mark_ended(client: str | None, settings: Settings) -> list[Path]:
    """The session ended: every top-level run and experiment it owns gets an ``.ended`` file, from which
    :mod:`tlweb.engine.cleanup` counts the time it is kept (``TLWEB_RUN_TTL_HOURS``)."""

    if not client or access.is_account(client) or not settings.runs_dir.is_dir():
        return []  # a signed-in account is no session: its runs outlive every tab
    mine, marked = tag(client), []
    for folder in settings.runs_dir.iterdir():
        try:
            if folder.is_dir() and (folder / OWNER_FILE).read_text(encoding="utf-8").strip() == mine:
                (folder / ENDED_FILE).write_text(now_iso() + "\n", encoding="utf-8")
                marked.append(folder)
        except OSError:
            continue
    return marked
