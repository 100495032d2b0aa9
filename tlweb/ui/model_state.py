"""Model pickers that say what is ready and what needs a download.

Every model list labels each entry with its state (:mod:`tlweb.engine.availability`): "✓ cached
346 MB", "✓ demo", "✓ fine-tuned here", or "⬇ download ≈ 346 MB". Picking a model that is not
ready shows a sentence under the picker and, when the Hugging Face Hub answers, a Download
button whose progress bar fills as the bytes arrive; when the Hub cannot be reached the
sentence says so and what to do instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from html import escape

import gradio as gr

from tlweb.catalog import ModelSpec
from tlweb.config import Settings
from tlweb.engine import availability
from tlweb.engine.listing import resolve
from tlweb.errors import TlwebError
from tlweb.ui.session import for_session, user_errors

RUN_GROUP = "Runs › "  # runs fine-tuned here form their own group, after the catalog and the demo models


def labelled_choices(specs: list[ModelSpec], settings: Settings) -> list[tuple[str, str]]:
    """(label with its state, key) for a dropdown, what runs now first: the ready models in their order (cached
    catalog models, demo models), then the runs fine-tuned here (their own group), then what needs a download —
    so with the Hub out of reach a list does not open on ten models that cannot run."""
    states = availability.model_states(specs, settings)
    items = sorted(zip(specs, states), key=lambda item: (not item[1].ready, item[0].source == "run"))
    return [(f"{RUN_GROUP if spec.source == 'run' else ''}{spec.label} · {state.short()}", spec.key)
            for spec, state in items]


def first_ready(choices: list[tuple[str, str]]) -> str | None:
    """The first entry that runs without a download (else the first entry)."""
    for label, value in choices:
        if "· ✓" in label:
            return value
    return choices[0][1] if choices else None


def _names(choices, custom: str | None) -> list[str]:
    """The model names picked in one or more dropdowns (each a name or a list), or typed."""
    if custom and custom.strip():
        return [n.strip() for n in custom.split(",") if n.strip()]
    out = []
    for choice in choices:
        out.extend(c for c in (choice if isinstance(choice, (list, tuple)) else [choice]) if c)
    return out


def not_ready(names: Iterable[str], task: str, settings: Settings) -> list[tuple[ModelSpec, availability.ModelState]]:
    """The picked models that need a download (names that do not resolve are left to the run)."""
    out = []
    for name in names:
        try:
            spec = resolve(name, task=task, settings=settings)
        except TlwebError:
            continue
        state = availability.model_state(spec, settings)
        if not state.ready:
            out.append((spec, state))
    return out


def status(names: list[str], task: str, settings: Settings) -> tuple[str, bool]:
    """(HTML under the picker, whether to offer Download) for the picked models."""
    missing = not_ready(names, task, settings)
    if not missing:
        return "", False
    hub_up = availability.hub_reachable(settings=settings)
    sentences = [availability.state_sentence(spec, state, hub_up) for spec, state in missing]
    icon = "⬇" if hub_up else "⚠️"
    body = "<br>".join(escape(s) for s in sentences)
    return f"<div class='tl-model-state'>{icon} {body}</div>", hub_up


def state_row(elem_prefix: str) -> tuple[gr.HTML, gr.Button]:
    """The sentence and the Download button under a picker (both hidden while the model is ready)."""
    with gr.Row(equal_height=True, elem_classes=["tl-state-row"]):
        html = gr.HTML("", elem_id=f"{elem_prefix}-model-state", visible=False, scale=4)
        button = gr.Button("⬇ Download", size="sm", elem_id=f"{elem_prefix}-download", visible=False, scale=1,
                           min_width=110)
    return html, button


def wire(pickers, custom, task: str, settings: Settings, elem_prefix: str, html: gr.HTML, button: gr.Button,
         refresh) -> None:
    """Show the state of what is picked in ``pickers`` (dropdowns) or typed in ``custom``;
    Download fetches what is missing with a progress bar, then each ``(dropdown, choices_fn)``
    in ``refresh`` gets its current choices (their labels say ✓ cached now)."""
    pickers = list(pickers)
    n = len(pickers)

    def show(*values):
        text, offer = status(_names(values[:n], values[n]), task, settings)
        return gr.update(value=text, visible=bool(text)), gr.update(visible=offer)

    triggers = [p.change for p in pickers] + [custom.blur, custom.submit]
    gr.on(triggers, for_session(show), inputs=[*pickers, custom], outputs=[html, button], api_name=f"{elem_prefix}_model_state",
          queue=False, show_progress="hidden")

    def fetch(*values, progress=gr.Progress()):
        from tlweb.engine import loading

        names = _names(values[:n], values[n])
        for name in names:  # a name the gate refuses is refused here too, never an empty "done"
            resolve(name, task=task, settings=settings)
        missing = not_ready(names, task, settings)
        done_names = []
        for i, (spec, _state) in enumerate(missing):
            what = f"Downloading {spec.hub_id}" + (f" ({i + 1} of {len(missing)})" if len(missing) > 1 else "")
            progress(0, desc=what)

            def on_bytes(done, total, what=what):
                if total:
                    progress((done, total), desc=what, unit="bytes")

            loading.download(spec.hub_id, settings, on_progress=on_bytes)
            done_names.append(spec.hub_id)
        text = ("✓ Downloaded " + ", ".join(f"<code>{escape(n)}</code>" for n in done_names)
                + ": ready, and it keeps working offline.") if done_names else ""
        return (gr.update(value=f"<div class='tl-model-state ok'>{text}</div>" if text else "", visible=bool(text)),
                gr.update(visible=False), *[gr.update(choices=fn()) for _, fn in refresh])

    button.click(user_errors(fetch), inputs=[*pickers, custom], outputs=[html, button, *[d for d, _ in refresh]],
                 api_name=f"{elem_prefix}_download", concurrency_limit=1)


def build_demo_models(names: Iterable[str], task: str, settings: Settings, progress=None) -> None:
    """Demo models are built when first picked: do it now, saying so in the page's progress bar
    (the engine would build them anyway, but silently)."""
    from tlweb.engine.demo import ensure_built, is_built

    for name in names:
        try:
            spec = resolve(name, task=task, settings=settings)
        except TlwebError:
            continue
        if spec.source == "demo" and not is_built(spec.key, settings):
            if progress is not None:
                progress(0.05, desc=f"Preparing the demo model {spec.key}: first use only, later picks are instant…")
            ensure_built(spec.key, settings)
