"""Errors replace results: when a run fails, its outputs are cleared to an empty state that
says why, instead of keeping the previous model's numbers under a red "Error" pill.

How: the tab's handler is wrapped with ``user_errors(toast=False)``, so the error still reaches
API clients (``gradio_client`` raises it) but draws no toast over the results; the sentence is
kept for the browser session, and :func:`replace_on_error` chains a ``.failure`` event on the
same dependency that hands it to the tab's ``empty(sentence)`` to fill every output.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from html import escape

import gradio as gr

_KEEP = 256  # sessions whose last error is kept (API clients never collect theirs)
_ERRORS: OrderedDict[tuple[str | None, str], str] = OrderedDict()
_LOCK = threading.Lock()
DEFAULT = "The run failed; the app is still running — try another image or model."


def _key(fn, session: str | None) -> tuple[str | None, str]:
    return session, f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', fn)}"


def _session() -> str | None:
    from gradio.context import LocalContext

    request = LocalContext.request.get(None)
    return getattr(request, "session_hash", None)


def remember(fn, message: str) -> None:
    """Keep ``fn``'s error sentence for this browser session (called inside the failing event)."""
    with _LOCK:
        _ERRORS[_key(fn, _session())] = message
        _ERRORS.move_to_end(_key(fn, _session()))
        while len(_ERRORS) > _KEEP:
            _ERRORS.popitem(last=False)


def take(fn, session: str | None) -> str:
    """The sentence ``fn`` failed with in this session (a generic one when it left none)."""
    with _LOCK:
        return _ERRORS.pop(_key(fn, session), DEFAULT)


def replace_on_error(dependency, fn: Callable, outputs: Sequence, empty: Callable[[str], tuple], api_name: str) -> None:
    """When ``dependency`` (the event running ``fn``) fails, ``empty(sentence)`` fills ``outputs``."""

    def show(request: gr.Request):
        values = empty(take(fn, getattr(request, "session_hash", None)))
        return values if len(outputs) != 1 else values[0]

    dependency.failure(show, inputs=None, outputs=list(outputs), api_name=api_name, api_visibility="private",
                       queue=False, show_progress="hidden")


def error_html(sentence: str, title: str = "No result") -> str:
    """The empty state of a failed run: what went wrong, in the place of the result."""
    return (
        "<div class='tl-error' role='alert' style='border:1px solid #FCA5A5; background:rgba(254,226,226,0.55); "
        "color:#991B1B; border-radius:10px; padding:10px 14px; margin:4px 0'>"
        f"<b>{escape(title)}.</b> {escape(sentence)}</div>"
    )
