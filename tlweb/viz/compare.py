"""Compare-backbones figures. Each takes the plain dict of a comparison
(``tlweb.engine.compare.CompareResult.as_dict()``, the same shape the CLI prints)."""

from __future__ import annotations

import math

import plotly.graph_objects as go

from tlweb.viz.common import HEAT_SCALE, PALETTE, TEXT, heat_labels, message_figure, style


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


LABEL_POSITIONS = ("top center", "bottom center", "middle right", "middle left")
PLOT_PX = (480, 280)  # the plotting area in pixels, roughly, at the tab's half width
CHAR_PX, LINE_PX = 7.4, 16  # a 13 px label: width per character, height


def _label_box(x: float, y: float, r: float, w: float, position: str) -> tuple[float, float, float, float]:
    """The box (x0, y0, x1, y1, pixels, y up) a label takes at ``position`` around a bubble of radius r."""
    if position == "top center":
        return x - w / 2, y + r, x + w / 2, y + r + LINE_PX
    if position == "bottom center":
        return x - w / 2, y - r - LINE_PX, x + w / 2, y - r
    if position == "middle right":
        return x + r, y - LINE_PX / 2, x + r + w, y + LINE_PX / 2
    return x - r - w, y - LINE_PX / 2, x - r, y + LINE_PX / 2


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def label_positions(xs: list[float], ys: list[float], sizes: list[float], names: list[str]) -> list[str] | None:
    """A text position per bubble so that no label overlaps another label or a bubble; None when
    some label has no free place (the chart then names the bubbles in a legend instead).

    ``xs``/``ys``: positions as fractions (0–1) of the axes' ranges; ``sizes``: marker diameters in px."""
    px = [(x * PLOT_PX[0], y * PLOT_PX[1]) for x, y in zip(xs, ys)]
    bubbles = [(x - d / 2, y - d / 2, x + d / 2, y + d / 2) for (x, y), d in zip(px, sizes)]
    placed: list[tuple[float, float, float, float]] = []
    out: list[str] = []
    for i, ((x, y), d, name) in enumerate(zip(px, sizes, names)):
        w = CHAR_PX * len(name)
        for position in LABEL_POSITIONS:
            box = _label_box(x, y, d / 2 + 2, w, position)
            inside = box[0] >= -40 and box[2] <= PLOT_PX[0] + 40 and box[1] >= -30 and box[3] <= PLOT_PX[1] + 30
            clear = not any(_overlap(box, b) for j, b in enumerate(bubbles) if j != i)
            if inside and clear and not any(_overlap(box, other) for other in placed):
                placed.append(box)
                out.append(position)
                break
        else:
            return None
    return out


def _axis(values: list[float], log: bool, pad_log: float, pad_lin: float, from_zero: bool) -> tuple[float, float]:
    """The axis range (in axis units: log10 for a log axis) around ``values``."""
    if log:
        return math.log10(min(values) / pad_log), math.log10(max(values) * pad_log)
    if from_zero:
        return 0.0, (max(values) or 1.0) * 1.3
    span = (max(values) - min(values)) or max(values) or 1.0
    return max(0.0, min(values) - pad_lin * span), max(values) + pad_lin * span


def _fraction(v: float, rng: tuple[float, float], log: bool) -> float:
    v = math.log10(v) if log else v
    return (v - rng[0]) / ((rng[1] - rng[0]) or 1.0)


def latency_vs_params(result: dict, height: int = 380) -> go.Figure:
    """Latency per image vs millions of parameters; bubble area ∝ GFLOPs per image. Bubbles are
    named by labels beside them where these fit without overlapping, else by a legend."""
    rows = [m for m in _ok(result) if m.get("latency_ms") is not None and m.get("params")]
    if not rows:
        return message_figure("No model finished: nothing to plot yet", height=height)
    gflops = [max(m.get("gflops") or 0.0, 0.0) for m in rows]
    gmax = max(gflops) or 1.0
    max_px = 60.0
    xs = [m["params"] / 1e6 for m in rows]
    ys = [m["latency_ms"] for m in rows]
    sizes = [max(12.0, max_px * math.sqrt(g / gmax)) for g in gflops]  # area ∝ GFLOPs, a floor for tiny ones
    log_x = min(xs) > 0 and max(xs) / min(xs) > 4
    log_y = min(ys) > 0 and max(ys) / min(ys) > 4
    xr = _axis(xs, log_x, 1.8, 0.25, from_zero=False)
    yr = _axis(ys, log_y, 2.5, 0.0, from_zero=True)
    names = [_name(m) for m in rows]
    positions = label_positions([_fraction(x, xr, log_x) for x in xs], [_fraction(y, yr, log_y) for y in ys],
                                sizes, names)
    fig = go.Figure()
    for i, m in enumerate(rows):
        fig.add_trace(go.Scatter(
            x=[xs[i]],
            y=[ys[i]],
            mode="markers+text" if positions else "markers",
            name=names[i],
            text=[names[i]],
            textposition=positions[i] if positions else None,
            cliponaxis=False,
            marker={"size": sizes[i], "color": _color(i), "opacity": 0.75, "line": {"width": 1, "color": "white"}},
            customdata=[[m.get("family") or "?", _fmt_gflops(m.get("gflops")), m.get("peak_memory_mb") or 0,
                         m.get("device") or "?", _fmt_params(m.get("params"))]],
            hovertemplate=("<b>%{text}</b> (%{customdata[0]})<br>parameters: %{customdata[4]}"
                           "<br>latency: %{y:.2f} ms per image<br>GFLOPs per image: %{customdata[1]}"
                           "<br>peak memory: %{customdata[2]:.1f} MB<br>device: %{customdata[3]}<extra></extra>"),
        ))
    if log_x:
        fig.update_xaxes(type="log", range=list(xr), **_log_ticks(10 ** xr[0], 10 ** xr[1]))
    else:
        fig.update_xaxes(range=list(xr))
    if log_y:
        fig.update_yaxes(type="log", range=list(yr), **_log_ticks(10 ** yr[0], 10 ** yr[1]))
    else:
        fig.update_yaxes(range=list(yr))
    device = rows[0].get("device") or "?"
    fig = style(fig, title=f"Latency vs size · bubble area = GFLOPs per image · {device}",
                x="parameters (millions)", y="latency (ms per image)", height=height, legend=positions is None)
    if positions is None:  # names in a legend under the chart, markers drawn the same size there
        fig.update_layout(legend={"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0, "itemsizing": "constant"},
                          margin={"b": 96})
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
            # the label inside a bar long enough for it, else just past the bar's end (never shrunk to 7 px)
            y=names, x=scores, name=image, orientation="h", text=labels, textposition="auto", constraintext="none",
            insidetextanchor="start", insidetextfont={"color": "#FFFFFF"}, outsidetextfont={"color": TEXT},
            cliponaxis=False,
            marker_color=_color(j + 1 if len(images) > 1 else 0),
            hovertemplate=f"<b>%{{y}}</b> on {image}<br>top-1: %{{text}}<br>confidence: %{{x:.1f}}%<extra></extra>",
        ))
    fig.update_layout(barmode="group", bargap=0.22, bargroupgap=0.05, uniformtext={"minsize": 11, "mode": "show"},
                      legend={"orientation": "h", "y": 1.0, "yanchor": "bottom", "x": 1, "xanchor": "right",
                              "title": {"text": "image "}, "traceorder": "normal"})
    fig.update_xaxes(range=[0, min(100.0, max(top * 1.15, 5.0))], ticksuffix="%")
    fig.update_yaxes(autorange="reversed", automargin=True, title_standoff=8, ticklabelstandoff=6)
    height = height or max(380, 70 + len(rows) * (18 * len(images) + 22) + 60)
    # a short title, so it fits beside the legend when presenter mode enlarges the text
    fig = style(fig, title="Top-1 confidence per model", x="top-1 confidence (%) · bar text: the top-1 label",
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
        z=z, x=names, y=names, text=text, zmin=0, zmax=100, colorscale=HEAT_SCALE,  # (text: heat_labels)
        colorbar={"title": {"text": "agree (%)"}, "ticksuffix": "%", "thickness": 14},
        hovertemplate="%{y} vs %{x}: same top-1 on %{z:.0f}% of images<extra></extra>", xgap=2, ygap=2,
    ))
    heat_labels(fig, names, names, z, text)
    fig.update_yaxes(autorange="reversed", automargin=True, title_standoff=8, ticklabelstandoff=6)
    fig.update_xaxes(automargin=True, tickangle=-30 if len(names) > 3 else 0)
    what = f"{n_images} images" if n_images != 1 else "1 image"
    fig = style(fig, title=f"Top-1 agreement between models (% of {what})", x="model", y="model",
                height=height, legend=False)
    fig.update_layout(margin={"l": _left_margin(names)})
    return fig
