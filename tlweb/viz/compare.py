"""Compare-backbones figures. Each takes the plain dict of a comparison
(``tlweb.engine.compare.CompareResult.as_dict()``, the same shape the CLI prints)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from tlweb.viz.common import PALETTE, message_figure, style


def _ok(result: dict) -> list[dict]:
    return [m for m in result.get("models", []) if not m.get("error") and m.get("predictions")]


def _name(m: dict) -> str:
    return m.get("name") or m["model"]


def _color(i: int) -> str:
    return PALETTE[i % len(PALETTE)]


def _fmt_params(params: int | None) -> str:
    if params is None:
        return "?"
    return f"{params / 1e6:,.2f} M" if params >= 1e5 else f"{params:,}"


def _fmt_gflops(g: float | None) -> str:
    if g is None:
        return "?"
    return f"{g:,.2f}" if g >= 1 else f"{g:.3g}"


def _left_margin(names: list[str]) -> int:
    """Room for model names as y tick labels plus the axis title."""
    return int(40 + 7.5 * max((len(n) for n in names), default=4))


def _log_ticks(lo: float, hi: float) -> dict:
    """Tick values 1-2-5 × 10^k between lo and hi, printed plainly (no 2 3 4 … minor labels)."""
    vals = []
    for k in range(math.floor(math.log10(lo)) - 1, math.ceil(math.log10(hi)) + 1):
        for m in (1, 2, 5):
            v = m * 10.0 ** k
            if lo <= v <= hi:
                vals.append(v)
    return {"tickvals": vals, "ticktext": [f"{v:g}" for v in vals]}


def _label_positions(xs: list[float], ys: list[float]) -> list[str]:
    """Text positions that keep the names of nearby bubbles apart (neighbours take turns)."""
    cycle = ["top center", "bottom center", "middle right", "middle left"]
    xspan = (max(xs) - min(xs)) or 1.0
    yspan = (max(ys) - min(ys)) or max(ys) or 1.0
    out = [cycle[0]] * len(xs)
    placed: list[int] = []
    for i in sorted(range(len(xs)), key=lambda k: (xs[k], ys[k])):
        near = [j for j in placed if abs(xs[j] - xs[i]) < 0.12 * xspan and abs(ys[j] - ys[i]) < 0.2 * yspan]
        taken = {out[j] for j in near}
        out[i] = next((c for c in cycle if c not in taken), cycle[len(near) % len(cycle)])
        placed.append(i)
    return out


def latency_vs_params(result: dict, height: int = 380) -> go.Figure:
    """Latency per image vs millions of parameters; bubble area ∝ GFLOPs per image."""
    rows = [m for m in _ok(result) if m.get("latency_ms") is not None and m.get("params")]
    if not rows:
        return message_figure("No model finished: nothing to plot yet", height=height)
    gflops = [max(m.get("gflops") or 0.0, 0.0) for m in rows]
    gmax = max(gflops) or 1.0
    max_px = 60.0
    xs = [m["params"] / 1e6 for m in rows]
    ys = [m["latency_ms"] for m in rows]
    log_x = min(xs) > 0 and max(xs) / min(xs) > 4
    log_y = min(ys) > 0 and max(ys) / min(ys) > 4
    positions = _label_positions([math.log10(x) if log_x else x for x in xs],
                                 [math.log10(y) if log_y else y for y in ys])
    fig = go.Figure()
    for i, m in enumerate(rows):
        g = gflops[i]
        size = max(12.0, max_px * math.sqrt(g / gmax))  # area ∝ GFLOPs, a floor so tiny ones stay visible
        fig.add_trace(go.Scatter(
            x=[xs[i]],
            y=[ys[i]],
            mode="markers+text",
            name=_name(m),
            text=[_name(m)],
            textposition=positions[i],
            cliponaxis=False,
            marker={"size": size, "color": _color(i), "opacity": 0.75, "line": {"width": 1, "color": "white"}},
            customdata=[[m.get("family") or "?", _fmt_gflops(m.get("gflops")), m.get("peak_memory_mb") or 0,
                         m.get("device") or "?", _fmt_params(m.get("params"))]],
            hovertemplate=("<b>%{text}</b> (%{customdata[0]})<br>parameters: %{customdata[4]}"
                           "<br>latency: %{y:.2f} ms per image<br>GFLOPs per image: %{customdata[1]}"
                           "<br>peak memory: %{customdata[2]:.1f} MB<br>device: %{customdata[3]}<extra></extra>"),
        ))
    if log_x:
        lo, hi = min(xs) / 1.8, max(xs) * 1.8
        fig.update_xaxes(type="log", range=[math.log10(lo), math.log10(hi)], **_log_ticks(lo, hi))
    else:
        span = (max(xs) - min(xs)) or max(xs) or 1.0
        fig.update_xaxes(range=[max(0.0, min(xs) - 0.25 * span), max(xs) + 0.25 * span])
    if log_y:
        lo, hi = min(ys) / 2.5, max(ys) * 2.5
        fig.update_yaxes(type="log", range=[math.log10(lo), math.log10(hi)], **_log_ticks(lo, hi))
    else:
        fig.update_yaxes(range=[0, (max(ys) or 1.0) * 1.3])
    device = rows[0].get("device") or "?"
    fig = style(fig, title=f"Latency vs size · bubble area = GFLOPs per image · {device}",
                x="parameters (millions)", y="latency (ms per image)", height=height, legend=False)
    return fig


def confidence_bars(result: dict, height: int | None = None) -> go.Figure:
    """Top-1 confidence (%) of each model on each image, as horizontal bars grouped by model;
    the text on each bar is the top-1 label."""
    rows = _ok(result)
    if not rows:
        return message_figure("No model finished: nothing to plot yet", height=height or 380)
    images = result.get("images") or [f"image {i + 1}" for i in range(len(rows[0]["predictions"]))]
    names = [_name(m) for m in rows]
    fig = go.Figure()
    top = 0.0
    for j, image in enumerate(images):
        scores, labels = [], []
        for m in rows:
            preds = m["predictions"][j] if j < len(m["predictions"]) else []
            scores.append(preds[0]["score"] * 100 if preds else None)
            labels.append(preds[0]["label"] if preds else "")
        top = max([top] + [s for s in scores if s is not None])
        fig.add_trace(go.Bar(
            y=names, x=scores, name=image, orientation="h", text=labels, textposition="inside",
            insidetextanchor="start", textfont={"color": "white"}, constraintext="inside",
            marker_color=_color(j + 1 if len(images) > 1 else 0),
            hovertemplate=f"<b>%{{y}}</b> on {image}<br>top-1: %{{text}}<br>confidence: %{{x:.1f}}%<extra></extra>",
        ))
    fig.update_layout(barmode="group", bargap=0.22, bargroupgap=0.05,
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right",
                              "title": {"text": "image "}, "traceorder": "normal"})
    fig.update_xaxes(range=[0, min(100.0, max(top * 1.15, 5.0))], ticksuffix="%")
    fig.update_yaxes(autorange="reversed", automargin=True, title_standoff=8, ticklabelstandoff=6)
    height = height or max(380, 70 + len(rows) * (18 * len(images) + 22) + 60)
    fig = style(fig, title="Top-1 confidence per model (bar text: the top-1 label)", x="top-1 confidence (%)",
                y="model", height=height, legend=len(images) > 1)
    fig.update_layout(margin={"l": _left_margin(names)})
    return fig


def agreement_heatmap(result: dict, height: int = 380) -> go.Figure:
    """Fraction of images on which two models give the same top-1 label (in %)."""
    agreement = result.get("agreement") or {}
    names = agreement.get("models") or []
    matrix = agreement.get("matrix") or []
    if len(names) < 2:
        return message_figure("Agreement needs at least two models that ran", height=height)
    z = [[None if v is None else v * 100 for v in row] for row in matrix]
    text = [["–" if v is None else f"{v:.0f}%" for v in row] for row in z]
    n_images = len(result.get("images", []))
    fig = go.Figure(go.Heatmap(
        z=z, x=names, y=names, text=text, texttemplate="%{text}", textfont={"size": 13},
        zmin=0, zmax=100, colorscale=[[0, "#F1F5F9"], [0.5, "#A5B4FC"], [1, "#4338CA"]],
        colorbar={"title": {"text": "agree (%)"}, "ticksuffix": "%", "thickness": 14},
        hovertemplate="%{y} vs %{x}: same top-1 on %{z:.0f}% of images<extra></extra>", xgap=2, ygap=2,
    ))
    fig.update_yaxes(autorange="reversed", automargin=True, title_standoff=8, ticklabelstandoff=6)
    fig.update_xaxes(automargin=True, tickangle=-30 if len(names) > 3 else 0)
    what = f"{n_images} images" if n_images != 1 else "1 image"
    fig = style(fig, title=f"Top-1 agreement between models (% of {what})", x="model", y="model",
                height=height, legend=False)
    fig.update_layout(margin={"l": _left_margin(names)})
    return fig
