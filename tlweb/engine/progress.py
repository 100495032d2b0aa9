"""Long work in a thread, its progress as a generator: what the leaderboard and the projector stream."""

from __future__ import annotations

import queue
import threading


def run_with_progress(work, every: float = 0.4):
    """Run ``work(report)`` in a thread; yield its latest progress message (at most every ``every``
    seconds) and return its result (``result = yield from run_with_progress(...)``); its exception is re-raised."""
    q: queue.Queue = queue.Queue()
    box: dict = {}

    def run():
        try:
            box["result"] = work(lambda message: q.put(message))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc
        finally:
            q.put(_DONE)

    threading.Thread(target=run, daemon=True, name="tlweb-progress").start()
    last = None
    while True:
        try:
            item = q.get(timeout=every)
        except queue.Empty:
            if last is not None:
                yield last
                last = None
            continue
        if item is _DONE:
            break
        last = item
    if last is not None:
        yield last
    if "error" in box:
        raise box["error"]
    return box.get("result")


_DONE = object()
