"""Memory a request may take, and giving it back.

- :class:`DecodeBudget`: the bytes every image decode in flight may hold together
  (``TLWEB_DECODE_BUDGET_MB``); a decode waits until its bytes fit (one always runs alone, so an image
  the per-image limit allows is never refused here, only delayed).
- :func:`give_back`: glibc keeps freed memory in its per-thread arenas, so after large decodes on the
  server's worker threads a process's RSS stays high although nothing holds the bytes (12 large PNGs
  decoded 8 at a time left 6.9 GB resident). Once no large decode is in flight, ``malloc_trim(0)``
  returns the free pages of every arena to the system.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import threading
from contextlib import contextmanager

log = logging.getLogger(__name__)

TRIM_ABOVE = 64 * 1024 * 1024  # a decode that held more than this is followed by a trim once none is in flight


class DecodeBudget:
    """A counting gate in bytes: ``with budget.hold(n):`` waits until ``n`` more bytes fit (or nothing
    else is held), then holds them for the body."""

    def __init__(self, limit: int):
        self.limit = max(1, int(limit))
        self.used = 0
        self.peak = 0
        self._cond = threading.Condition()

    @contextmanager
    def hold(self, nbytes: int):
        nbytes = max(0, int(nbytes))
        with self._cond:
            self._cond.wait_for(lambda: self.used == 0 or self.used + nbytes <= self.limit)
            self.used += nbytes
            self.peak = max(self.peak, self.used)
        try:
            yield
        finally:
            with self._cond:
                self.used -= nbytes
                idle = self.used == 0
                self._cond.notify_all()
            if idle and nbytes > TRIM_ABOVE:
                give_back()


_BUDGETS: dict[int, DecodeBudget] = {}
_LOCK = threading.Lock()


def decode_budget(limit_bytes: int) -> DecodeBudget:
    """The process-wide budget for this limit (settings with another limit get their own)."""
    with _LOCK:
        if limit_bytes not in _BUDGETS:
            _BUDGETS[limit_bytes] = DecodeBudget(limit_bytes)
        return _BUDGETS[limit_bytes]


_LIBC: list = []


def _libc():
    if not _LIBC:
        try:
            name = ctypes.util.find_library("c")
            lib = ctypes.CDLL(name) if name else None
            _LIBC.append(lib if lib is not None and hasattr(lib, "malloc_trim") else None)
        except OSError:
            _LIBC.append(None)
    return _LIBC[0]


def give_back() -> bool:
    """Return free heap pages to the system (glibc's ``malloc_trim``); False where there is no glibc."""
    lib = _libc()
    if lib is None:
        return False
    try:
        lib.malloc_trim(0)
        return True
    except Exception:  # noqa: BLE001 - best effort
        log.debug("malloc_trim failed", exc_info=True)
        return False
