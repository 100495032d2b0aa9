"""Classification figures."""

from __future__ import annotations

import plotly.graph_objects as go

from tlweb.viz.common import PALETTE, style


def topk_bar(predictions, title: str | None = None, height: int | None = None) -> go.Figure:
    """Horizontal bar chart of top-k predictions (``[{label, score}]`` or objects with them)."""
    rows = [(p["label"], p["score"]) if isinstance(p, dict) else (p.label, p.score) for p in predictions]
    rows = rows[::-1]  # best on top
    labels = [r[0] for r in rows]
    scores = [r[1] * 100 for r in rows]
    colors = [PALETTE[0] if i == len(rows) - 1 else "#A5B4FC" for i in range(len(rows))]
    fig = go.Figure(
        go.Bar(
            x=scores,
            y=labels,
            orientation="h",
            marker_color=colors,
            text=[f"{s:.1f}%" for s in scores],
            textposition="auto",
            # text inside a bar keeps a colour that reads on that bar in either theme
            insidetextfont={"color": ["white" if c == PALETTE[0] else "#1E1B4B" for c in colors]},
            hovertemplate="%{y}: %{x:.2f}%<extra></extra>",
        )
    )
    fig.update_xaxes(range=[0, max(100.0, max(scores, default=0) * 1.05)], ticksuffix="%")
    fig.update_yaxes(automargin=True)
    return style(fig, title=title, x="probability (%)", y="label", height=height or max(240, 48 * len(rows) + 110),
                 legend=False)
