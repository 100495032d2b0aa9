"""The whole app: a header and one tab per record in :func:`tlweb.registry.tabs`.

Each tab's ``build(settings)`` returns a :class:`~tlweb.ui.components.TabHandle` of its main
components (or None); :func:`build_app` keeps them in ``demo.handles`` (tab id → handle) and
hands them to the ``links``, which wire tabs to each other after every tab is built.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import gradio as gr

from tlweb import registry
from tlweb.access import SHARED_RULE
from tlweb.config import SHARED, Settings, get_settings, serving_mode, set_settings
from tlweb.ui import guard

log = logging.getLogger("tlweb.ui")


@dataclass
class AppParts:
    """What a link between tabs can reach: the tab strip (select a tab by id) and every handle."""

    tabs: gr.Tabs
    handles: dict  # tab id → TabHandle (or None for a tab whose build returns nothing)
    settings: Settings


# Functions (AppParts) → None that wire one tab to another, run once every tab is built
# (e.g. "Explain this image" from Classify: copy the image across and select the Explain tab).
LINKS: tuple[Callable[[AppParts], None], ...] = ()

CSS = """
.gradio-container {max-width: 1280px !important; margin: auto;}
#tl-header h1 {margin-bottom: 0.1em; font-size: 1.9em;}
#tl-header p {margin-top: 0; color: var(--body-text-color-subdued);}
.tl-intro {font-size: 0.95em; padding: 0.2em 0 0.6em 0; color: var(--body-text-color-subdued);}
.tl-badge {display:inline-block; padding: 2px 10px; border-radius: 999px; font-size: 0.8em; margin-right: 6px;
           background: var(--block-background-fill); border: 1px solid var(--border-color-primary);}
.tl-badge.warn {background: #FEF3C7; color: #92400E; border-color: #FCD34D;}
.tl-badge.ok {background: #D1FAE5; color: #065F46; border-color: #6EE7B7;}
.tl-top1 {font-size: 1.35em; font-weight: 600; margin: 0.2em 0 0.4em 0;}
.tl-top1 span {color: var(--color-accent); margin-left: 0.4em;}
footer {display: none !important;}
"""

def _theme():
    # No web fonts: the app must render offline and in kiosk demos.
    return gr.themes.Soft(primary_hue="indigo", secondary_hue="orange", neutral_hue="slate",
                          font=["system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
                          font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "monospace"])


def _badges(settings: Settings) -> str:
    badges = []
    if settings.shared:
        badges.append(f'<span class="tl-badge" title="{SHARED_RULE}">Shared server: list models, Hub ids, '
                      'demo models and your own runs and uploads</span>')
    if settings.demo:
        badges.append('<span class="tl-badge warn">Demo mode: tiny offline models, most with random weights (their predictions are noise)</span>')
    try:
        from tlweb.engine.loading import hub_reachable, pick_device

        device = pick_device(settings)
        badges.append(f'<span class="tl-badge">device: {device}</span>')
        if hub_reachable(timeout=1.5, settings=settings):
            badges.append('<span class="tl-badge ok">Hugging Face Hub reachable</span>')
        else:
            badges.append('<span class="tl-badge warn">Hub unreachable: cached, local and demo models only</span>')
    except Exception as exc:  # noqa: BLE001 - a badge must never stop the app
        log.warning("badge check failed: %s", exc)
    return " ".join(badges)


def build_app(settings: Settings | None = None, links: Iterable[Callable[[AppParts], None]] | None = None) -> gr.Blocks:
    """Every registered tab in order; ``links`` (default :data:`LINKS`) wire them together."""
    settings = set_settings(settings) if settings is not None else get_settings()
    with gr.Blocks(title="tlweb — transfer learning workbench", analytics_enabled=False,
                   delete_cache=guard.delete_cache(settings)) as demo:
        gr.HTML(
            "<div id='tl-header'><h1>tlweb · transfer learning workbench</h1>"
            "<p>See what a pretrained vision model knows, how backbones compare, and what fine-tuning buys you.</p>"
            f"<div>{_badges(settings)}</div></div>"
        )
        handles = {}
        with gr.Tabs(elem_id="tl-tabs") as tabs:
            for tab in registry.tabs():
                with gr.Tab(tab.title, id=tab.id, elem_id=f"tab-{tab.id}"):
                    handles[tab.id] = tab.load().build(settings)
        parts = AppParts(tabs=tabs, handles=handles, settings=settings)
        for link in LINKS if links is None else links:
            link(parts)

        def end_session(request: gr.Request):
            """The browser tab closed: its running fine-tunes, ladders and curves stop (through their
            folders' STOP file), and in shared mode its uploads and unpacked zips go."""
            from tlweb.engine.owners import stop_sessions_runs

            client = getattr(request, "session_hash", None)
            stop_sessions_runs(client, settings)
            guard.release(client, settings)

        demo.unload(end_session)
    demo.handles = handles
    return demo


def launch_kwargs(settings: Settings) -> dict:
    return {
        "server_name": settings.host,
        "server_port": settings.port,
        # Only our own sentences (gr.Error) reach clients: gradio's raw errors name server paths and
        # the working directory; every handler turns its failures into sentences (user_errors).
        "show_error": False,
        "theme": _theme(),
        "css": CSS,
        "footer_links": ["api"],
        "max_file_size": f"{settings.max_upload_mb * 4}mb",  # zips are larger than images; engine re-checks
        # No allowed_paths: the runs folder is never served as such. Handlers return a run's files
        # after checking who asks (tlweb.engine.owners), as copies in gradio's cache (guard.serve_file).
    }


def launch(settings: Settings | None = None, **overrides):
    """Build and serve the app (blocking unless ``prevent_thread_lock=True``)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    settings = settings or get_settings()
    host = overrides.get("server_name") or settings.host
    if serving_mode(host) == SHARED and not settings.shared:  # reachable by others: shared, whatever was set
        settings = settings.replace(mode=SHARED)
    if settings.demo:
        from tlweb.engine.demo import build_all

        build_all(settings)  # tiny: a few seconds, once
    demo = build_app(settings)
    kwargs = launch_kwargs(settings)
    kwargs.update(overrides)
    demo.queue(default_concurrency_limit=2)
    demo.launch(**kwargs)
    return demo


def launch_single(name: str, build) -> None:
    """Serve one tab alone (``python -m tlweb.ui.tabs.<id>``); ``name`` is its tab id (or a title)."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    settings = get_settings()
    title = registry.tab(name).title if name in {t.id for t in registry.tabs()} else name
    with gr.Blocks(title=f"tlweb · {title}") as demo:
        build(settings)
    demo.queue().launch(**launch_kwargs(settings))
