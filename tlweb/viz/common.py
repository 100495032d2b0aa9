"""Shared look for every figure: one font, one palette, labelled axes."""

from __future__ import annotations

import plotly.graph_objects as go

PALETTE = ["#4F46E5", "#F97316", "#10B981", "#EF4444", "#0EA5E9", "#A855F7", "#EAB308", "#14B8A6", "#EC4899", "#64748B"]
FONT = "Inter, system-ui, -apple-system, Segoe UI, Roboto, sans-serif"


def style(fig: go.Figure, title: str | None = None, x: str | None = None, y: str | None = None,
          height: int = 360, legend: bool = True) -> go.Figure:
    """Apply the house style; every axis gets a title (with units where there are units)."""
    fig.update_layout(
        title={"text": title, "x": 0.01, "xanchor": "left"} if title else None,
        template="plotly_white",
        font={"family": FONT, "size": 13},
        height=height,
        margin={"l": 60, "r": 24, "t": 56 if title else 24, "b": 56},
        showlegend=legend,
        colorway=PALETTE,
        hoverlabel={"font": {"family": FONT}},
    )
    if x is not None:
        fig.update_xaxes(title_text=x)
    if y is not None:
        fig.update_yaxes(title_text=y)
    return fig


def message_figure(text: str, height: int = 300) -> go.Figure:
    """A blank figure that says something (nothing to show yet, or why)."""
    fig = go.Figure()
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 15, "color": "#64748B"})
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return style(fig, height=height, legend=False)
