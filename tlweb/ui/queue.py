"""The queue that holds a room: bounds per session instead of one global length, sentences instead of
gradio's "Queue is full", light calls beside training, and jobs whose client went away dropped.

Gradio queues every model call; its only bound is one global length (``max_size``), and a full queue
answers ``503 Queue is full`` (gradio_client: "Queue is full! Please try again."), which turned 152 of
400 Classify calls from 100 visitors away. Here (:func:`install`, after ``demo.queue(**queue_kwargs())``):

- **Per session** (a browser page, a ``gradio_client.Client``; a call without a session is a session of
  its own): at most ``TLWEB_SESSION_JOBS`` (default 8) jobs waiting or running, and one fine-tune,
  ladder or data-efficiency curve; beyond that the call is answered at once with a sentence, as an
  error of that call (never a 503).
- **In all**: ``TLWEB_QUEUE_SIZE`` (default 1000) jobs waiting, a backstop against a flood of sessions;
  past it, a sentence too. Gradio's own ``max_size`` is set above it, so its raw refusal never shows.
- **Training apart**: fine-tunes, ladders and curves have their own concurrency group
  (:data:`TRAIN_CONCURRENCY`, one per GPU), the leaderboard and the projector another
  (:data:`HEAVY_CONCURRENCY`); Classify, Explain, Segment, Detect never wait behind them.
- **Gone clients**: a job is somebody's only while something listens for its answer (the page's
  heartbeat, the session's event stream, or ``GET /call/<api>/<event id>``). A job nobody has listened
  for during :data:`GRACE_S` seconds is taken out of the line; a running one is stopped (its runs' STOP
  files), so 80 fire-and-forget ``POST /call/finetune`` no longer hold the machine.
- **Housekeeping**: the same thread runs :func:`tlweb.engine.cleanup.sweep` at start and every
  :data:`tlweb.engine.cleanup.EVERY_S` seconds (crashed experiments, runs of ended sessions).

The position in the line stays visible: gradio's estimation messages (the page's status, and
``job.status().rank`` through gradio_client).
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from urllib.parse import parse_qs

from tlweb.config import Settings

log = logging.getLogger("tlweb.ui")

TRAIN_CONCURRENCY = "tlweb-train"  # fine-tunes, ladders and curves share one queue: one job per GPU
HEAVY_CONCURRENCY = "tlweb-heavy"  # whole-dataset feature passes (leaderboard, projector): one at a time
HEAVY = ("leaderboard", "project")
QUEUE_SIZE = 1000  # jobs waiting in all (TLWEB_QUEUE_SIZE)
SESSION_JOBS = 8  # jobs one session may have waiting or running (TLWEB_SESSION_JOBS)
GRACE_S = 20.0  # a job nobody listened for this long is dropped
TICK_S = 2.0

TRAINING_BUSY = ("A fine-tune, ladder or data-efficiency curve from this page is already waiting or running; "
                 "let it finish (or press Stop) before starting another.")


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else default


def queue_size() -> int:
    return _env_int("TLWEB_QUEUE_SIZE", QUEUE_SIZE)


def session_jobs() -> int:
    return _env_int("TLWEB_SESSION_JOBS", SESSION_JOBS)


def _requests(n: int) -> str:
    return f"{n} request{'' if n == 1 else 's'}"


def session_busy(n: int) -> str:
    return (f"This page already has {_requests(n)} waiting or running (the limit for one page); "
            "wait for one to finish, then try again.")


def queue_full(n: int) -> str:
    return f"The server has {_requests(n)} waiting, as many as it takes; try again in a minute."


# --------------------------------------------------------------------------- who is listening


class Listeners:
    """Open connections that will carry an answer, by session hash or event id, with when each key was
    last listened for (the ASGI middleware :class:`ListenerMiddleware` keeps it)."""

    def __init__(self):
        self.open: dict[str, int] = {}
        self.seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def enter(self, key: str) -> None:
        with self._lock:
            self.open[key] = self.open.get(key, 0) + 1
            self.seen[key] = time.monotonic()

    def leave(self, key: str) -> None:
        with self._lock:
            left = self.open.get(key, 1) - 1
            if left > 0:
                self.open[key] = left
            else:
                self.open.pop(key, None)
            self.seen[key] = time.monotonic()

    def listening(self, *keys: str, grace: float | None = None) -> bool:
        grace = GRACE_S if grace is None else grace
        now = time.monotonic()
        with self._lock:
            return any(k in self.open or now - self.seen.get(k, -1e9) < grace for k in keys if k)

    def sessions(self) -> set[str]:
        """Keys with a connection open now (heartbeats and event streams: live sessions)."""
        with self._lock:
            return set(self.open)

    def forget_older_than(self, seconds: float) -> None:
        cutoff = time.monotonic() - seconds
        with self._lock:
            for key in [k for k, t in self.seen.items() if t < cutoff and k not in self.open]:
                del self.seen[key]


LISTENERS = Listeners()


def _listen_key(scope) -> str | None:
    """The session hash or event id an answer-carrying GET listens for, else None."""
    if scope.get("type") != "http" or scope.get("method") != "GET":
        return None
    parts = [p for p in scope.get("path", "").split("/") if p]
    if "heartbeat" in parts and parts[-1] != "heartbeat":
        return parts[-1]
    if parts[-2:] == ["queue", "data"]:
        values = parse_qs((scope.get("query_string") or b"").decode("latin-1")).get("session_hash")
        return values[0] if values else None
    if "call" in parts and len(parts) - parts.index("call") >= 3:  # /call/<api>/<event id>, /call/v2/<api>/<id>
        return parts[-1]
    return None


class ListenerMiddleware:
    """ASGI middleware: counts the connections that wait for answers (see :class:`Listeners`)."""

    def __init__(self, app, listeners: Listeners | None = None):
        self.app = app
        self.listeners = listeners or LISTENERS

    async def __call__(self, scope, receive, send):
        key = _listen_key(scope)
        if key is None:
            return await self.app(scope, receive, send)
        self.listeners.enter(key)
        try:
            await self.app(scope, receive, send)
        finally:
            self.listeners.leave(key)


# --------------------------------------------------------------------------- the bounds


class SessionQueue:
    """Wraps ``demo._queue.push`` with the per-session and total bounds, and drops the jobs of gone clients."""

    def __init__(self, demo, settings: Settings, listeners: Listeners | None = None):
        self.demo, self.settings = demo, settings
        self.listeners = listeners or LISTENERS
        self.queue = demo._queue
        self.loop: asyncio.AbstractEventLoop | None = None
        self.dropped = 0
        self.stopped_jobs = 0
        self._original = self.queue.push
        self.queue.push = self.push
        self._stop = threading.Event()

    def _events(self):
        """(waiting, running) events of the whole queue."""
        waiting = [e for q in self.queue.event_queue_per_concurrency_id.values() for e in q.queue]
        running = [e for job in self.queue.active_jobs if job for e in job]
        return waiting, running

    def refusal(self, session: str | None, fn) -> str | None:
        waiting, running = self._events()
        if len(waiting) >= queue_size():
            return queue_full(len(waiting))
        if not session:
            return None  # a call without a session is a session of its own, with nothing waiting yet
        mine = [e for e in waiting + running if e.session_hash == session and e.alive]
        if fn.concurrency_id == TRAIN_CONCURRENCY and any(e.concurrency_id == TRAIN_CONCURRENCY for e in mine):
            return TRAINING_BUSY
        if len(mine) >= session_jobs():
            return session_busy(len(mine))
        return None

    async def push(self, body, request, username):
        from gradio import route_utils

        self.loop = asyncio.get_running_loop()
        try:
            fn = route_utils.get_fn(self.demo, None, body) if body.fn_index is not None else None
        except Exception:  # noqa: BLE001 - gradio answers a bad index itself
            fn = None
        sentence = self.refusal(body.session_hash, fn) if fn is not None else None
        if sentence is None:
            return await self._original(body, request, username)
        log.info("queue: refused a call to %s: %s", getattr(fn, "api_name", "?"), sentence)
        return await self._answer(body, request, username, fn, sentence)

    async def _answer(self, body, request, username, fn, sentence: str):
        """Accept the call and answer it at once with ``sentence`` as its error (clients show errors; a 503
        becomes "Queue is full! Please try again." in gradio_client, whatever the server said)."""
        from asyncio import Queue as AsyncQueue

        import gradio as gr
        from gradio.queueing import Event
        from gradio.server_messages import ProcessCompletedMessage
        from gradio.utils import error_payload

        q = self.queue
        event = Event(body.session_hash, fn, request, username)
        event.data = body
        if body.session_hash is None:
            body.session_hash = event.session_hash
        async with q.pending_message_lock:
            if body.session_hash not in q.pending_messages_per_session:
                q.pending_messages_per_session[body.session_hash] = AsyncQueue()
            q.pending_event_ids_session.setdefault(body.session_hash, set()).add(event._id)
        content = error_payload(gr.Error(sentence, print_exception=False), False)
        q.send_message(event, ProcessCompletedMessage(output=content, title=content.get("title") or "Error",
                                                      success=False))
        return True, event._id, "success"

    # ------------------------------------------------------------------ gone clients

    def start(self) -> None:
        threading.Thread(target=self._run, name="tlweb-queue", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        from tlweb.engine import cleanup

        next_sweep = 0.0
        while not self._stop.wait(TICK_S):
            loop = self.loop
            if loop is not None and not loop.is_closed():
                try:
                    asyncio.run_coroutine_threadsafe(self.reap(), loop).result(timeout=30)
                except Exception:  # noqa: BLE001 - never let housekeeping end the thread
                    log.debug("queue reaper failed", exc_info=True)
            if time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + cleanup.EVERY_S
                self.sweep()

    def sweep(self):
        """:func:`tlweb.engine.cleanup.sweep` with the sessions connected now."""
        from tlweb.engine import cleanup, owners

        try:
            live = {owners.tag(s) for s in self.listeners.sessions()}
            result = cleanup.sweep(self.settings, live_owners=live)
            self.listeners.forget_older_than(3600)
            return result
        except Exception:  # noqa: BLE001
            log.warning("the run cleaner failed", exc_info=True)
            return None

    async def reap(self) -> int:
        """Drop waiting jobs and stop running ones that nobody has listened for in :data:`GRACE_S` seconds."""
        now = time.monotonic()
        waiting, running = self._events()
        gone = 0
        for event in waiting:
            if now - event.enqueue_time > GRACE_S and not self.listeners.listening(event.session_hash, event._id):
                await self.queue.clean_events(event_id=event._id)
                gone += 1
        for event in running:
            if event.alive and now - event.enqueue_time > GRACE_S \
                    and not self.listeners.listening(event.session_hash, event._id):
                event.alive = False
                self.stopped_jobs += 1
                await asyncio.get_running_loop().run_in_executor(None, self._stop_runs, event.session_hash)
        self.dropped += gone
        if gone:
            log.info("queue: dropped %d job(s) whose client went away", gone)
        return gone

    def _stop_runs(self, session: str) -> None:
        from tlweb.engine.owners import stop_sessions_runs

        stop_sessions_runs(session, self.settings)


def queue_kwargs() -> dict:
    """``demo.queue(...)``: two light calls at a time by default, and gradio's own ``max_size`` above
    :func:`queue_size` (never its ZeroGPU default of 1, never its raw "Queue is full": our sentence comes
    first). Each waiting visitor sees their position and an estimate."""
    return {"default_concurrency_limit": 2, "max_size": 2 * queue_size()}


def install(demo, settings: Settings) -> SessionQueue:
    """After ``demo.queue(**queue_kwargs())``: the heavy endpoints get their group, the push is bounded
    per session, and the reaper / cleaner thread starts."""
    for fn in demo.fns.values():
        if fn.api_name in HEAVY and fn.concurrency_id not in (TRAIN_CONCURRENCY, HEAVY_CONCURRENCY):
            fn.concurrency_id, fn.concurrency_limit = HEAVY_CONCURRENCY, 1
    guard = SessionQueue(demo, settings)
    guard.start()
    demo.tlweb_queue = guard
    return guard
