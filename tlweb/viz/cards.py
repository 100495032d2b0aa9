"""Cards in HTML: the facts card (rows of key → value, one or more value columns) and big-number
score cards. Classify, Segment, Detect and Fine-tune show their facts through these, and a
saved report can use the same functions.

The HTML is self-contained (inline styles): colours come from the Gradio theme's CSS variables
where the page defines them, with fallbacks for a page of its own. Values are escaped unless
they are :class:`Html` (markup made by the caller, e.g. :func:`latency`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from html import escape

SUBDUED = "var(--body-text-color-subdued, #64748B)"
CARD_STYLE = ("display:{display}; grid-template-columns:max-content {cols}; gap:4px 18px; font-size:0.92em; "
              "padding:10px 14px; border:1px solid var(--border-color-primary, #CBD5E1); border-radius:10px; "
              "background:var(--block-background-fill, transparent)")
NOTE_STYLE = f"font-size:0.9em; color:{SUBDUED}; margin:6px 0 0 0"


class Html(str):
    """A value that is HTML already: put in the card as it is."""


def _cell(value, monospace: bool = False) -> str:
    if value is None:
        return ""
    text = value if isinstance(value, Html) else escape(str(value))
    if monospace:
        return f"<code style='font-size:0.9em; word-break:break-all'>{text}</code>"
    return text


def facts_card(rows: Iterable[tuple[str, object]], columns: Sequence[str] | None = None, code: Iterable[str] = (),
               notes: Iterable[str] = (), compact: bool = False, css_class: str = "tl-facts") -> str:
    """A card of facts: each row is ``(key, value)``, or ``(key, [value per column])`` with ``columns``
    (the column heads, e.g. two models side by side). Keys in ``code`` show their values monospace;
    ``notes`` are sentences under the card (escaped unless :class:`Html`). The card takes the
    width it is given, or with ``compact`` only the width its text needs."""
    code = set(code)
    n = len(columns) if columns else 1
    cells = []
    if columns:
        cells.append("<div></div>")
        cells.extend(f"<div style='font-weight:600'>{_cell(c)}</div>" for c in columns)
    for key, value in rows:
        values = list(value) if columns else [value]
        values += [None] * (n - len(values))
        cells.append(f"<div class='k' style='color:{SUBDUED}'>{escape(str(key))}</div>")
        cells.extend(f"<div class='v' style='min-width:0'>{_cell(v, key in code)}</div>" for v in values)
    cols = "1fr" if n == 1 else f"repeat({n}, minmax(0, 1fr))"
    style = CARD_STYLE.format(display="inline-grid" if compact else "grid", cols=cols)
    html = f"<div class='{css_class}' style='{style}'>{''.join(cells)}</div>"
    return html + "".join(f"<p class='tl-note' style='{NOTE_STYLE}'>{_cell(n)}</p>" for n in notes)


def score_cards(cards: Iterable[tuple[str, str, str]]) -> str:
    """Big-number cards side by side: ``(value, label, colour)`` each (colour as #RRGGBB)."""
    items = []
    for value, label, color in cards:
        items.append(
            "<div style='flex:1 1 120px; padding:10px 14px; border-radius:12px; "
            f"border:1px solid {color}55; background:{color}12'>"
            f"<div style='font-size:1.9em; font-weight:700; color:{color}; line-height:1.1'>{escape(value)}</div>"
            f"<div style='font-size:0.85em; opacity:0.75'>{escape(label)}</div></div>"
        )
    return "<div style='display:flex; gap:10px; flex-wrap:wrap; margin:4px 0 10px 0'>" + "".join(items) + "</div>"


# --------------------------------------------------------------------------- values shared by the cards


def latency(ms: float, device: str, dtype: str, digits: int = 0) -> Html:
    """"<b>12 ms</b> on cpu (float32)"."""
    return Html(f"<b>{ms:,.{digits}f} ms</b> on {escape(str(device))} ({escape(str(dtype))})")


def parameters(n: int) -> str:
    """"1.23 M" for a model of millions of parameters, "12,345" for a tiny one."""
    return f"{n / 1e6:,.2f} M" if n >= 1e5 else f"{n:,}"


def model_notes(demo: bool, evicted: Iterable[str], noise: str = "predictions") -> list[str]:
    """The notes under a result's facts: random demo weights, models unloaded to make room."""
    notes = [f"⚠️ Random weights (UI demo): the {noise} are noise."] if demo else []
    evicted = list(evicted)
    if evicted:
        notes.append(f"ℹ️ Unloaded {', '.join(evicted)} to stay within the model memory budget.")
    return notes
