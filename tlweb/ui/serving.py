"""How tlweb is served: the theme, gradio's launch arguments, the queue with tlweb's bounds, and one tab
served alone (``python -m tlweb.ui.tabs.<id>``). Below the tabs: :mod:`tlweb.ui.app` builds the whole app
on these.
"""

from __future__ import annotations

import os

import gradio as gr
from starlette.middleware import Middleware

from tlweb import registry
from tlweb.config import Settings, get_settings
from tlweb.ui import guard, queue, style


def _theme():
    # No web fonts: the app must render offline and in kiosk demos.
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="orange", neutral_hue="slate",
                          font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def launch_kwargs(settings: Settings) -> dict:
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        # Only our own sentences (gr.Error) reach clients: gradio's raw errors name server paths and
        # the working directory; every handler turns its failures into sentences (user_errors).
        "show_error": False,
        "theme": _theme(),
        "css": style.CSS,  # layout, sections, dark theme, presenter mode
        "footer_links": ["api"],
        "max_file_size": f"{settings.max_upload_mb * 4}mb",  # zips are larger than images; engine re-checks
        # a request body is capped before it is parsed (a 400 MB JSON body took 1.2 GB to be refused)
        # connections that wait for answers are counted, so jobs of clients that went away are dropped
        "app_kwargs": {"middleware": [Middleware(guard.BodyLimit, settings=settings),
                                      Middleware(queue.ListenerMiddleware)]},
        # No allowed_paths: the runs folder is never served as such. Handlers return a run's files
        # after checking who asks (tlweb.engine.owners), as copies in gradio's cache (guard.serve_file).
    }


def serve_queue(demo: gr.Blocks, settings: Settings) -> gr.Blocks:
    """``demo.queue(...)`` with tlweb's bounds (:mod:`tlweb.ui.queue`): per session, training apart, gone
    clients dropped, sentences instead of "Queue is full"; the run cleaner runs on the same thread."""
    demo.queue(**queue.queue_kwargs())
    queue.install(demo, settings)
    return demo


def launch_single(name: str, build) -> None:
    """Serve one tab alone (``python -m tlweb.ui.tabs.<id>``); ``name`` is its tab id (or a title)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    settings = get_settings()
    title = registry.tab(name).title if name in {t.id for t in registry.tabs()} else name
    with gr.Blocks(title=f"tlweb · {title}") as demo:
        build(settings)
    serve_queue(demo, settings).launch(**launch_kwargs(settings))
