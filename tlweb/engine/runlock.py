"""A run or experiment is "running" only while the process that runs it holds its lock.

The folder's ``.lock`` file is locked (``fcntl.flock``, exclusive) by the process that writes the run
(:class:`tlweb.engine.runs.files.RunWriter`) or the experiment (``new_experiment`` … ``finish_experiment``).
The kernel drops the lock when that process ends, however it ends (SIGKILL, a crash, a machine
restart), so a folder whose lock nobody holds is not running, whatever its files say and whichever
process now has the pid it recorded. A child forked while a lock is held does not keep it: its copies
are closed at fork. Where ``fcntl`` is missing (Windows) the recorded pid is the fallback.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None

LOCK_FILE = ".lock"

_HELD: dict[str, int] = {}  # folder → the descriptor holding its lock, in this process
_GUARD = threading.Lock()


def _key(folder) -> str:
    return os.path.abspath(str(folder))


def hold(folder) -> bool:
    """Lock ``folder`` for this process (until :func:`release` or the process ends). False when another
    process holds it, or where file locks are not available."""
    if fcntl is None:
        return False
    key = _key(folder)
    with _GUARD:
        if key in _HELD:
            return True
        fd = os.open(os.path.join(key, LOCK_FILE), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        _HELD[key] = fd
        return True


def release(folder) -> None:
    """Give the lock of ``folder`` back (no-op when this process does not hold it)."""
    with _GUARD:
        fd = _HELD.pop(_key(folder), None)
    if fd is not None:
        try:
            fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)


def held(folder) -> bool | None:
    """Whether some process holds the lock of ``folder``; None where that cannot be known (no ``fcntl``,
    or a folder made before locks existed: no lock file)."""
    key = _key(folder)
    with _GUARD:
        if key in _HELD:
            return True
    if fcntl is None:
        return None
    path = Path(key) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def _pid_alive(pid) -> bool:
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def alive(folder, cfg: dict | None = None) -> bool:
    """Is the run or experiment in ``folder`` still being run? Only while its process holds the
    folder's lock (:func:`held`); the recorded pid counts only where locks cannot be
    taken (a pid is reused by other processes, so it never proves a run alive)."""
    lock = held(folder)
    if lock is not None:
        return lock
    if fcntl is not None:
        return False  # no lock file: made before locks existed, or never started
    return _pid_alive((cfg or {}).get("pid"))


def _forget_in_child() -> None:
    """A forked child closes its copies of the parent's lock descriptors (the parent keeps its locks)."""
    global _GUARD
    _GUARD = threading.Lock()  # another thread may have held it at the fork
    for fd in _HELD.values():
        try:
            os.close(fd)
        except OSError:
            pass
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)
