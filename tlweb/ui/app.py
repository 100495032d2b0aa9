"""The whole app: a header and one tab per record in :func:`tlweb.registry.tabs`.

Each tab's ``build(settings)`` returns a :class:`~tlweb.ui.components.TabHandle` of its main
components (or None); :func:`build_app` keeps them in ``demo.handles`` (tab id → handle) and
hands them to the ``links``, which wire tabs to each other after every tab is built.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Iterable

import gradio as gr

from tlweb import registry
from tlweb.access import SHARED_RULE
from tlweb.config import SHARED, Settings, get_settings, serving_mode, set_settings
from tlweb.ui import guard, links
from tlweb.ui.components import AppParts
from tlweb.ui.serving import launch_kwargs, serve_queue

log = logging.getLogger("tlweb.ui")


# Functions (AppParts) → None that wire one tab to another, run once every tab is built
# (e.g. "Explain this image" from Classify: copy the image across and select the Explain tab).
LINKS: tuple[Callable[[AppParts], None], ...] = (
    links.classify_to_explain, links.mistakes_to_explain, links.embeddings_to_finetune,
    links.finetune_to_classify, links.finetune_to_task_tabs, links.learn_steps)


def _badges(settings: Settings) -> str:
    """Demo mode, the device and whether the Hub answers; filled in after the page loads, so
    starting the server imports no torch and waits for no network check."""
    badges = []
    if settings.shared:
        badges.append(f'<span class="tl-badge" title="{SHARED_RULE}">Shared server: list models, Hub ids, '
                      'demo models and your own runs and uploads</span>')
    if settings.demo:
        badges.append('<span class="tl-badge warn">Demo mode: tiny offline models, most with random weights</span>')
    try:
        from tlweb.engine.availability import hub_reachable
        from tlweb.engine.loading import pick_device

        device = pick_device(settings)
        badges.append(f'<span class="tl-badge">device: {device}</span>')
        if hub_reachable(timeout=1.5, settings=settings):
            badges.append('<span class="tl-badge ok">Hugging Face Hub reachable</span>')
        else:
            badges.append('<span class="tl-badge warn">Hub unreachable: models marked ✓ only</span>')
    except Exception as exc:  # noqa: BLE001 - a badge must never stop the app
        log.warning("badge check failed: %s", exc)
    return " ".join(badges)


PRESENT_JS = "() => { document.body.classList.toggle('tl-present'); }"
PRESENT_FROM_URL_JS = ("() => { if (new URLSearchParams(window.location.search).get('present') === '1') "
                       "document.body.classList.add('tl-present'); }")
# In presenter mode chart text grows with the page's text: every plotly chart's fonts (layout, title, axes,
# legend, annotations, the traces' own text) and its top, bottom and left margins are multiplied by
# PRESENT_CHART_SCALE, and divided back when presenter mode ends. Charts are drawn by the server at their
# normal sizes, so a new figure arriving in presenter mode is scaled when it appears (a light check every
# 0.6 s; it only relayouts a chart whose factor is wrong).
PRESENT_CHART_SCALE = 1.3
CHARTS_FOLLOW_PRESENTER_JS = """() => {
  const K = __SCALE__;
  const num = (v) => (typeof v === 'number' && isFinite(v)) ? v : null;
  const fonts = (gd, f) => {
    const L = gd._fullLayout, upd = {};
    const put = (path, v) => { if (num(v) !== null) upd[path] = v * f; };
    const size = (o) => o && o.font && o.font.size;
    put('font.size', L.font && L.font.size);
    put('title.font.size', size(L.title));
    put('title.subtitle.font.size', L.title && size(L.title.subtitle));
    put('legend.font.size', size(L.legend));
    put('legend.title.font.size', L.legend && size(L.legend.title));
    for (const k of Object.keys(L).filter((k) => /^[xy]axis[0-9]*$/.test(k))) {
      put(k + '.tickfont.size', L[k].tickfont && L[k].tickfont.size);
      put(k + '.title.font.size', size(L[k].title));
    }
    (L.annotations || []).forEach((a, i) => put('annotations[' + i + '].font.size', size(a)));
    for (const side of ['t', 'b', 'l']) put('margin.' + side, L.margin && L.margin[side]);  // room for the larger text
    return upd;
  };
  const scale = (gd) => {
    if (!window.Plotly || !gd._fullLayout || !gd._fullLayout.font || gd._tlBusy) return;
    // a new figure from the server comes at its own sizes: forget the factor of the one it replaced
    if (gd._tlSize !== undefined && gd._fullLayout.font.size !== gd._tlSize) gd._tlK = 1;
    const want = document.body.classList.contains('tl-present') ? K : 1, have = gd._tlK || 1;
    if (Math.abs(want - have) < 1e-3) return;
    const f = want / have, upd = fonts(gd, f);
    const texts = (gd._fullData || []).map((t) => t.textfont && num(t.textfont.size) !== null ? t.textfont.size * f : null);
    gd._tlBusy = true;
    gd._tlK = want;
    let chain = Promise.resolve(window.Plotly.relayout(gd, upd));
    texts.forEach((v, i) => { if (v !== null) chain = chain.then(() => window.Plotly.restyle(gd, {'textfont.size': v}, [i])); });
    chain.catch(() => {}).then(() => { gd._tlSize = gd._fullLayout.font.size; gd._tlBusy = false; });
  };
  setInterval(() => document.querySelectorAll('.js-plotly-plot').forEach(scale), 600);
}""".replace("__SCALE__", str(PRESENT_CHART_SCALE))
# In presenter mode a tab's main button brings its results into view (they fit on one screen).
RESULTS_IN_VIEW_JS = """() => {
  const anchors = %s;
  const fit = (ids) => {
    const els = ids.map((id) => document.getElementById(id)).filter((el) => el && el.offsetParent);
    if (!els.length) return;
    const rects = els.map((el) => el.getBoundingClientRect());
    const top = Math.min(...rects.map((r) => r.top)), bottom = Math.max(...rects.map((r) => r.bottom));
    // as little scrolling as brings the results in: their bottom in view, never their top out of it
    const by = Math.min(top - 8, bottom - window.innerHeight + 16);
    if (by > 1) window.scrollTo({top: window.scrollY + by});
  };
  document.addEventListener('click', (e) => {
    const b = e.target.closest && e.target.closest('button');
    if (!b || !anchors[b.id] || !document.body.classList.contains('tl-present')) return;
    const ids = anchors[b.id];
    setTimeout(() => fit(ids), 250);
    // results arrive later and may grow: keep them in view while they change (for a minute at most)
    const panel = document.getElementById(ids[0]) && document.getElementById(ids[0]).closest('[role=tabpanel]');
    if (!panel) return;
    let queued = false;
    const watch = new MutationObserver(() => {
      if (!queued) { queued = true; requestAnimationFrame(() => { queued = false; fit(ids); }); }
    });
    watch.observe(panel, {childList: true, subtree: true});
    setTimeout(() => watch.disconnect(), 60000);
  }, true);
}"""


def _result_anchors(handles: dict) -> dict[str, list[str]]:
    """Each tab's main button → the elem_ids of its outputs (the page scrolls to the top one)."""
    out = {}
    for handle in handles.values():
        button = getattr(handle, "button", None)
        outputs = getattr(handle, "outputs", None) or {}
        ids = [c.elem_id for c in outputs.values() if getattr(c, "elem_id", None)]
        if button is not None and button.elem_id and ids and handle.image is not None:
            out[button.elem_id] = ids
    return out


def _header(settings: Settings) -> gr.HTML:
    """Title, badges (filled after the page loads) and the presenter-mode switch, in one compact row."""
    with gr.Row(equal_height=False, elem_id="tl-header-row"):
        gr.HTML("<div id='tl-header'><h1>tlweb · transfer learning workbench</h1>"
                "<p>See what pretrained vision models know, how backbones compare, and what fine-tuning buys you.</p>"
                "</div>", padding=False, scale=6)
        badges = gr.HTML("", elem_id="tl-badges", padding=False, scale=5)
        if guard.sign_in_enabled():  # a Space with hf_oauth: runs follow the account, push in one click
            gr.LoginButton("Sign in with Hugging Face", size="sm", elem_id="tl-login", scale=0, min_width=200)
        present = gr.Button("Presenter mode", size="sm", elem_id="tl-present-toggle", scale=0, min_width=140)
    present.click(None, js=PRESENT_JS, api_name="presenter_mode", queue=False)
    return badges


def build_app(settings: Settings | None = None, links: Iterable[Callable[[AppParts], None]] | None = None) -> gr.Blocks:
    """Every registered tab in order; ``links`` (default :data:`LINKS`) wire them together."""
    settings = set_settings(settings) if settings is not None else get_settings()
    guard.install_input_checks()  # gradio's own input checks answer in sentences
    with gr.Blocks(title="tlweb — transfer learning workbench", analytics_enabled=False,
                   delete_cache=guard.delete_cache(settings)) as demo:
        badges = _header(settings)
        handles = {}
        with gr.Tabs(elem_id="tl-tabs") as tabs:
            for tab in registry.tabs():
                with gr.Tab(tab.title, id=tab.id, elem_id=f"tab-{tab.id}"):
                    handles[tab.id] = tab.load().build(settings)
        parts = AppParts(tabs=tabs, handles=handles, settings=settings)
        for link in LINKS if links is None else links:
            link(parts)
        demo.load(lambda: _badges(settings), outputs=[badges], api_name="badges", queue=False,
                  show_progress="hidden")
        demo.load(None, js=PRESENT_FROM_URL_JS, api_name="presenter_from_url", queue=False)
        demo.load(None, js=RESULTS_IN_VIEW_JS % json.dumps(_result_anchors(handles)), api_name="results_in_view",
                  queue=False)
        demo.load(None, js=CHARTS_FOLLOW_PRESENTER_JS, api_name="charts_follow_presenter", queue=False)

        def end_session(request: gr.Request):
            """The browser tab closed: its running fine-tunes, ladders and curves stop (through their
            folders' STOP file), and in shared mode its uploads and unpacked zips go."""
            from tlweb.engine.owners import mark_ended, stop_sessions_runs

            client = getattr(request, "session_hash", None)
            stop_sessions_runs(client, settings)
            mark_ended(client, settings)  # its runs are kept TLWEB_RUN_TTL_HOURS from now (shared mode)
            guard.release(client, settings)

        demo.unload(end_session)
    demo.handles = handles
    return demo


def launch(settings: Settings | None = None, **overrides):
    """Build and serve the app (blocking unless ``prevent_thread_lock=True``).

    Nothing slow happens before the server answers: demo models are built when first picked
    (with progress in the page), torch is imported after the server is up. The terminal gets one
    line per event (:mod:`tlweb.events`), not library progress bars."""
    import time

    from tlweb.engine import warmup
    from tlweb.events import event, show_events

    t0 = time.perf_counter()
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    show_events()
    settings = settings or get_settings()
    host = overrides.get("server_name") or settings.host
    if serving_mode(host) == SHARED and not settings.shared:  # reachable by others: shared, whatever was set
        settings = settings.replace(mode=SHARED)
    demo = build_app(settings)
    kwargs = launch_kwargs(settings)
    kwargs.update(overrides)
    block = not kwargs.pop("prevent_thread_lock", False)
    kwargs.setdefault("quiet", True)
    serve_queue(demo, settings)
    forks = _forks_workers()
    if forks:  # torch in the parent before any request can fork a worker
        warmup.start(background=False)
    demo.launch(prevent_thread_lock=True, **kwargs)
    event("ready at %s (started in %.1f s)%s", demo.local_url or f"http://{settings.host}:{settings.port}/",
          time.perf_counter() - t0, " — demo models are built when first picked" if settings.demo else "")
    if not forks:
        warmup.start()  # on a thread, once the page is served
    if block:
        demo.block_thread()
    return demo


def _forks_workers() -> bool:
    """Inference runs in forked workers (ZeroGPU, or its stand-in)."""
    from tlweb.engine import zerogpu

    return zerogpu.mode() != "off"


