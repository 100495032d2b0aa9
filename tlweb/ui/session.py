"""Handlers run as their browser session, and fail with a sentence.

:func:`user_errors` wraps every handler that does work (a refusal reaches the page and API clients as one
``gr.Error`` sentence); :func:`for_session` wraps the small ones (widget updates) so they too see only the
session's own runs in shared mode.
"""

from __future__ import annotations

import functools
import inspect

import gradio as gr

from tlweb.access import client_scope
from tlweb.config import get_settings
from tlweb.engine import warmup
from tlweb.errors import ImageError, clip, scrub
from tlweb.ui import guard


def user_errors(fn=None, *, toast: bool = True):
    """Turn every failure into a ``gr.Error`` sentence (:func:`guard.message`): never a stack
    trace, an absolute server path or a whole 5,000-character name; refusals reach API clients
    as errors, never as an empty success.

    Each call runs as its browser session (:func:`tlweb.access.client_scope`) so the engine keeps
    per-session budgets and run ownership; uploaded copies an image refusal names are deleted at once.
    Works for plain functions and generators (long work that yields progress). With
    ``toast=False`` the sentence is not shown as a toast (which would cover results) but kept
    for :func:`tlweb.ui.failures.replace_on_error`, which shows it in place of the outputs;
    API clients receive the error either way.
    """
    if fn is None:
        return functools.partial(user_errors, toast=toast)

    def _convert(exc: Exception, args) -> gr.Error:
        if isinstance(exc, gr.Error):
            err = gr.Error(clip(scrub(exc.message), 600), print_exception=False)
        else:
            if isinstance(exc, ImageError):
                guard.discard_refused(args, get_settings())
            err = gr.Error(guard.message(exc, fn.__name__), print_exception=False)
        if not toast:
            from tlweb.ui.failures import remember

            remember(fn, err.message)
            err.visible = False
        return err

    if inspect.isgeneratorfunction(fn):

        @functools.wraps(fn)
        def gen_wrapper(*args, **kwargs):
            warmup.wait()
            client = guard.client_id()
            gen = fn(*args, **kwargs)
            try:
                while True:
                    try:
                        with client_scope(client):
                            item = next(gen)
                    except StopIteration:
                        return
                    except Exception as exc:  # noqa: BLE001
                        raise _convert(exc, args) from None
                    yield item
            finally:
                gen.close()

        return gen_wrapper

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        warmup.wait()
        client = guard.client_id()
        try:
            with client_scope(client):
                return fn(*args, **kwargs)
        except Exception as exc:  # noqa: BLE001
            raise _convert(exc, args) from None

    return wrapper


def for_session(fn):
    """Run a small handler (one without :func:`user_errors`, e.g. a ``queue=False`` widget update)
    as its browser session, so run look-ups see that session's runs (shared mode)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        warmup.wait()
        with client_scope(guard.client_id()):
            return fn(*args, **kwargs)

    return wrapper
