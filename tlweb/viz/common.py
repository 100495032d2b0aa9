"""Shared look for every figure: one font, one palette, labelled axes, and colours that follow
the page's light or dark theme.

Figures have transparent backgrounds and draw their text in :data:`TEXT` and their grid in a
half-transparent grey. The theme is chosen in the browser (``?__theme=dark`` or the system's
preference), so the page's CSS (:data:`THEME_CSS`, added by the app) repaints text drawn in
:data:`TEXT` with the theme's text colour; text given its own colour (white labels inside bars)
keeps it.
"""

from __future__ import annotations

import textwrap

import plotly.graph_objects as go

PALETTE = ["#4F46E5", "#F97316", "#10B981", "#EF4444", "#0EA5E9", "#A855F7", "#EAB308", "#14B8A6", "#EC4899", "#64748B"]
FONT = "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif"
FONT_SIZE = 13  # px: the charts' text (presenter mode scales it in the page, tlweb.ui.app)
TEXT = "#334155"  # slate-700: the light theme's chart text; dark pages repaint it (THEME_CSS)
TEXT_RGB = "rgb(51, 65, 85)"  # the same colour as plotly writes it into the SVG's inline style
SUBDUED = "#64748B"  # readable on white and on the dark theme's background alike
GRID = "rgba(128, 128, 128, 0.22)"
TRANSPARENT = "rgba(0,0,0,0)"

# CSS for the page: in the dark theme, chart text drawn in TEXT takes the theme's text colour.
THEME_CSS = (
    f".dark .js-plotly-plot text[style*='fill: {TEXT_RGB}'] {{fill: var(--body-text-color) !important;}}\n"
    ".js-plotly-plot .main-svg {background: transparent !important;}\n"
)


def style(fig: go.Figure, title: str | None = None, x: str | None = None, y: str | None = None,
          height: int = 360, legend: bool = True) -> go.Figure:
    """Apply the house style; every axis gets a title (with units where there are units)."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"} if title else None,
        template="plotly_white",
        font={"family": FONT, "size": FONT_SIZE, "color": TEXT},
        paper_bgcolor=TRANSPARENT,
        plot_bgcolor=TRANSPARENT,
        height=height,
        margin={"l": 60, "r": 24, "t": 56 if title else 24, "b": 56},
        showlegend=legend,
        legend={"bgcolor": TRANSPARENT},
        colorway=PALETTE,
        hoverlabel={"font": {"family": FONT}},
        modebar={"bgcolor": TRANSPARENT, "color": SUBDUED},
    )
    fig.update_xaxes(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID)
    fig.update_yaxes(gridcolor=GRID, zerolinecolor=GRID, linecolor=GRID)
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


# Heat maps that follow the theme: cells are tints of indigo with alpha (an empty cell is a faint tint of the
# page, light or dark, never a white tile on a dark page); their numbers are annotations drawn in TEXT (which
# the dark theme repaints) on light cells and in white on dark ones (:func:`heat_labels`).
HEAT_SCALE = [[0.0, "rgba(99, 102, 241, 0.06)"], [0.35, "rgba(99, 102, 241, 0.35)"], [0.7, "rgba(79, 70, 229, 0.8)"],
              [1.0, "rgba(49, 46, 129, 1)"]]
HEAT_DARK_FROM = 0.55  # from this fraction of the colour range up, a cell is dark enough for white text


def heat_labels(fig: go.Figure, x: list, y: list, z: list, text: list, zmin: float = 0.0, zmax: float = 100.0,
                size: int = 13) -> go.Figure:
    """Write ``text[i][j]`` on the heat map's cell (x[j], y[i]) as annotations: in :data:`TEXT` (repainted by
    the dark theme) on light cells, in white on cells past :data:`HEAT_DARK_FROM` of the range. (Plotly's own
    cell text picks its colour against a white page, so on a dark page light cells got dark-grey numbers.)"""
    span = (zmax - zmin) or 1.0
    for i, row in enumerate(text):
        for j, label in enumerate(row):
            if label is None or label == "":
                continue
            value = z[i][j]
            dark = value is not None and (value - zmin) / span >= HEAT_DARK_FROM
            fig.add_annotation(x=x[j], y=y[i], text=label, showarrow=False, xref="x", yref="y",
                               font={"size": size, "color": "#FFFFFF" if dark else TEXT})
    return fig


def wrap(text: str, width: int = 64) -> str:
    """Plotly text does not wrap by itself: break a sentence into lines of ``width`` characters."""
    return "<br>".join(textwrap.wrap(text, width)) or text


def message_figure(text: str, height: int = 300) -> go.Figure:
    """A blank figure that says something (nothing to show yet, or why), wrapped to fit."""
    fig = go.Figure()
    fig.add_annotation(text=wrap(text), x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 15, "color": SUBDUED})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, height=height, legend=False)
