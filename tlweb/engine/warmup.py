"""Torch and transformers, imported once on one thread before any handler uses them.

The server answers before these imports are done (first start stays fast), so the first click
could import transformers on a request thread while the warm-up thread is half-way through the
same import; transformers' lazy module then answers "cannot import name 'AutoConfig'". Every
handler therefore waits for the warm-up (:func:`wait`, called by
:func:`tlweb.ui.components.user_errors` and ``for_session``) — at most once, and only while it
runs; with no warm-up started there is nothing to wait for. The ZeroGPU stand-in waits too before
it forks a worker: a fork while this thread holds an import lock would leave the worker stuck on it.

Where inference runs in forked workers (ZeroGPU or its stand-in) the app warms up before serving
instead (``start(background=False)``), so every worker is forked from a warm parent.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)

# transformers classes the engine reaches for first; touching them loads their modules once, here
NAMES = ("AutoConfig", "AutoModel", "AutoImageProcessor", "AutoProcessor", "AutoModelForImageClassification",
         "AutoModelForZeroShotImageClassification", "AutoModelForObjectDetection",
         "AutoModelForZeroShotObjectDetection", "AutoModelForSemanticSegmentation",
         "AutoModelForUniversalSegmentation", "get_cosine_schedule_with_warmup")
WAIT_S = 180.0  # a handler never waits longer than this for the warm-up (it then imports by itself)

_done = threading.Event()
_done.set()  # nothing started: nothing to wait for
_lock = threading.Lock()


def _work() -> None:
    try:
        import torch  # noqa: F401
        import transformers

        for name in NAMES:
            getattr(transformers, name, None)
    except Exception as exc:  # noqa: BLE001 - the first request will say what is missing
        log.warning("warm-up import failed: %s", exc)
    finally:
        _done.set()


def start(background: bool = True) -> None:
    """Import torch and transformers now: on a thread (``background``), or in the caller."""
    with _lock:
        if not _done.is_set():
            return  # already running
        _done.clear()
    if not background:
        _work()
        return
    threading.Thread(target=_work, name="tlweb-warm-imports", daemon=True).start()


def wait(timeout: float = WAIT_S) -> None:
    """Return once no warm-up is running (immediately when none was started or it is done)."""
    if not _done.is_set():
        _done.wait(timeout)
