"""Disk budgets: the size of ``TLWEB_HOME``, what one browser session may unpack, and the Hub
downloads a client triggers in shared mode.

- **Home budget** (``TLWEB_HOME_BUDGET_MB``): before the app writes something big (an unpacked
  zip, a Hub download made for a client) it asks :func:`make_room`, which deletes cache entries
  least-recently-used first (unpacked zips, decoded tensors, features, the app's own Hub
  downloads) until the new bytes fit, and refuses with a sentence when they cannot. Runs, demo
  models and anything outside ``cache_dir`` are never deleted here (runs only when a person asks:
  ``python -m tlweb runs rm``).
- **Per session** (``TLWEB_SESSION_DISK_MB``): bytes unpacked from zips by one client
  (:data:`tlweb.access.CLIENT`); in shared mode what a session unpacked is deleted when it ends
  (:func:`release`) unless another session still holds it.
- **Hub downloads** (shared mode, ``TLWEB_MAX_DOWNLOAD_MB``): the size is read from the Hub's file
  listing before anything is downloaded (:func:`hub_size`, :func:`check_download`).
"""

from __future__ import annotations

import fnmatch
import logging
import os
import shutil
import threading
import time
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.errors import DataError, ModelError, TlwebError, clip

log = logging.getLogger(__name__)

MB = 1024 * 1024
CACHE_PARTS = ("zips", "tensors", "features", "hub", "datasets")  # folders of cache_dir holding entries
RECENT_S = 120  # entries used this recently are never evicted (a run may be reading them)
IDLE_S = 12 * 3600  # a session silent this long no longer protects what it holds (API clients never "close")

_LOCK = threading.RLock()
_USAGE: dict[Path, tuple[float, int]] = {}  # home → (when measured, bytes)
_SESSIONS: dict[str, dict] = {}  # client → {"bytes": int, "paths": set[Path]}


def human(n: float) -> str:
    """Bytes as "512 B", "1.5 MB", "2.0 GB"."""
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def tree_size(path: Path) -> int:
    """Bytes of the files under ``path`` (links not followed; a file counts alone)."""
    path = Path(path)
    try:
        if path.is_symlink() or path.is_file():
            return path.lstat().st_size
    except OSError:
        return 0
    total = 0
    for dirpath, _dirs, files in os.walk(path, followlinks=False):
        for f in files:
            try:
                total += os.lstat(os.path.join(dirpath, f)).st_size
            except OSError:
                continue
    return total


def home_usage(settings: Settings | None = None, max_age_s: float = 5.0) -> int:
    """Bytes under ``TLWEB_HOME`` (measured at most every ``max_age_s`` seconds)."""
    settings = settings or get_settings()
    home = Path(settings.home)
    with _LOCK:
        hit = _USAGE.get(home)
        if hit and time.monotonic() - hit[0] < max_age_s:
            return hit[1]
    used = tree_size(home) if home.exists() else 0
    with _LOCK:
        _USAGE[home] = (time.monotonic(), used)
    return used


def _adjust_usage(settings: Settings, delta: int) -> None:
    with _LOCK:
        hit = _USAGE.get(Path(settings.home))
        if hit:
            _USAGE[Path(settings.home)] = (hit[0], max(0, hit[1] + delta))


def touch(path: Path) -> None:
    """Mark a cache entry as just used (least-recently-used cleanup reads modification times)."""
    try:
        os.utime(path)
    except OSError:
        pass


def cache_entries(settings: Settings | None = None) -> list[tuple[float, int, Path]]:
    """(last use, bytes, path) of every evictable cache entry, least recently used first."""
    settings = settings or get_settings()
    out = []
    for part in CACHE_PARTS:
        root = settings.cache_dir / part
        if not root.is_dir():
            continue
        for entry in root.iterdir():
            if ".tmp" in entry.name or entry.name.startswith("."):  # being written right now
                continue
            try:
                used = entry.stat().st_mtime
                marker = entry / ".tlweb-complete"
                if entry.is_dir() and marker.exists():
                    used = max(used, marker.stat().st_mtime)
            except OSError:
                continue
            out.append((used, tree_size(entry), entry))
    out.sort(key=lambda e: e[0])
    return out


def _entry(client: str) -> dict:
    entry = _SESSIONS.setdefault(client, {"bytes": 0, "paths": set(), "seen": time.monotonic()})
    entry["seen"] = time.monotonic()
    return entry


def _held() -> set[Path]:
    now = time.monotonic()
    with _LOCK:
        return {p for s in _SESSIONS.values() if now - s["seen"] < IDLE_S for p in s["paths"]}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        try:
            path.unlink()
        except OSError:
            pass


def make_room(nbytes: int, settings: Settings | None = None, what: str = "This") -> list[Path]:
    """Make ``nbytes`` fit under the home budget, deleting cache entries least recently used
    first; refuse (:class:`TlwebError`) when even an empty cache would not leave room.
    Returns what was deleted."""
    settings = settings or get_settings()
    budget = settings.home_budget_mb * MB
    used = home_usage(settings, max_age_s=0)
    if used + nbytes <= budget:
        return []
    held = _held()
    now = time.time()
    entries = [e for e in cache_entries(settings) if e[2] not in held and now - e[0] > RECENT_S]
    freeable = sum(size for _, size, _ in entries)
    if used - freeable + nbytes > budget:
        raise TlwebError(f"{what} needs {human(nbytes)} of disk, more than this server has left for it "
                         f"({human(max(0, budget - used + freeable))} of the {human(budget)} budget, "
                         "TLWEB_HOME_BUDGET_MB); try something smaller.")
    removed = []
    for _, size, path in entries:
        if used + nbytes <= budget:
            break
        _remove(path)
        used -= size
        removed.append(path)
        log.info("cache over budget: removed %s (%s)", path.name, human(size))
    with _LOCK:
        _USAGE[Path(settings.home)] = (time.monotonic(), used)
    return removed


def clean(settings: Settings | None = None, keep_bytes: int | None = None) -> list[tuple[Path, int]]:
    """Delete cache entries, least recently used first, until the caches hold at most
    ``keep_bytes`` (default: the home budget minus everything that is not cache). Never runs."""
    settings = settings or get_settings()
    entries = cache_entries(settings)
    total = sum(size for _, size, _ in entries)
    if keep_bytes is None:
        other = home_usage(settings, max_age_s=0) - total
        keep_bytes = max(0, settings.home_budget_mb * MB - other)
    held = _held()
    removed = []
    for _, size, path in entries:
        if total <= keep_bytes:
            break
        if path in held:
            continue
        _remove(path)
        total -= size
        removed.append((path, size))
    with _LOCK:
        _USAGE.pop(Path(settings.home), None)
    return removed


# --------------------------------------------------------------------------- per session


def session_used(client: str | None) -> int:
    with _LOCK:
        return _SESSIONS.get(client, {}).get("bytes", 0) if client else 0


def charge(client: str | None, nbytes: int, settings: Settings, what: str) -> None:
    """Count ``nbytes`` unpacked by ``client``; refuse when it would pass the per-session budget."""
    if not client:
        return
    limit = settings.session_disk_mb * MB
    with _LOCK:
        entry = _entry(client)
        if entry["bytes"] + nbytes > limit:
            raise DataError(f"{what} would unpack {human(nbytes)}; this session has already unpacked "
                            f"{human(entry['bytes'])} of the {human(limit)} one session may unpack "
                            "(TLWEB_SESSION_DISK_MB). Load a smaller zip, or keep working with the data loaded.")
        entry["bytes"] += nbytes
    _adjust_usage(settings, nbytes)


def hold(client: str | None, path: Path) -> None:
    """``client`` uses ``path`` (an unpacked zip, an upload): deleted when its session ends."""
    if not client:
        return
    with _LOCK:
        _entry(client)["paths"].add(Path(path))


def release(client: str | None, delete: bool = True) -> list[Path]:
    """The session ended: forget its budget and delete what it held that no other session holds."""
    if not client:
        return []
    gone = []
    with _LOCK:  # deleting under the lock: a session taking the same folder right now waits, then sees it gone
        entry = _SESSIONS.pop(client, None)
        if entry is None:
            return []
        others = {p for s in _SESSIONS.values() for p in s["paths"]}
        for path in entry["paths"] if delete else ():
            if path not in others and path.exists():
                _remove(path)
                gone.append(path)
    return gone


# --------------------------------------------------------------------------- Hub downloads


def hub_size(repo_id: str, revision: str | None = None, repo_type: str = "model",
             patterns: list[str] | None = None) -> int:
    """Bytes of the files a download of ``repo_id`` would fetch, from the Hub's file listing."""
    from huggingface_hub import HfApi

    api = HfApi()
    try:
        info = (api.model_info if repo_type == "model" else api.dataset_info)(repo_id, revision=revision,
                                                                              files_metadata=True)
    except Exception as exc:  # noqa: BLE001 - turned into a sentence
        name = type(exc).__name__
        kind = "model" if repo_type == "model" else "dataset"
        if "RepositoryNotFound" in name or "404" in str(exc):
            raise ModelError(f"There is no {kind} '{clip(repo_id)}' on the Hugging Face Hub (or it is private "
                             "or gated).") from None
        if "GatedRepo" in name or "401" in str(exc) or "403" in str(exc):
            raise ModelError(f"'{clip(repo_id)}' is gated or private on the Hub.") from None
        raise ModelError(f"The Hub did not list the files of '{clip(repo_id)}' ({name}).") from None
    total = 0
    for sibling in getattr(info, "siblings", None) or []:
        name = getattr(sibling, "rfilename", "")
        if patterns and not any(fnmatch.fnmatch(name, p) for p in patterns):
            continue
        total += int(getattr(sibling, "size", None) or 0)
    return total


def check_download(repo_id: str, nbytes: int, settings: Settings) -> None:
    """Refuse a client's Hub download over ``TLWEB_MAX_DOWNLOAD_MB``, or one that does not fit
    the home budget after cleaning the caches."""
    limit = settings.max_download_mb * MB
    if nbytes > limit:
        raise ModelError(f"'{clip(repo_id)}' is {human(nbytes)}; this shared server downloads at most "
                         f"{human(limit)} for a client (TLWEB_MAX_DOWNLOAD_MB).")
    make_room(nbytes, settings, what=f"Downloading '{clip(repo_id)}'")
