"""Segmentation views: colour masks blended on the photo, a legend with area shares, charts.

Pure functions over numpy / PIL / plotly; nothing here runs a model. Only :func:`share_bar`
needs plotly (imported there), so the headless CLI can draw masks where plotly is missing. Colours are assigned
per view from the classes present (largest first), so the same class gets the same colour
in two models' overlays side by side and a legend never shows two classes in one colour
while there are colours left.
"""

from __future__ import annotations

import colorsys
from html import escape

import numpy as np
from PIL import Image

DISPLAY_SIDE = 1600  # overlays are drawn at most this large (the engine keeps full size)

# 20 distinct, saturated colours first (readable over photos), then golden-angle hues.
BASE_COLORS = [
    "#E6194B", "#3CB44B", "#4363D8", "#F58231", "#911EB4", "#42D4F4", "#F032E6", "#BFEF45",
    "#FABED4", "#469990", "#DCBEFF", "#9A6324", "#FFE119", "#800000", "#AAFFC3", "#808000",
    "#FFD8B1", "#000075", "#A9A9A9", "#00A5A5",
]


def _hex(c: str) -> tuple[int, int, int]:
    c = c.lstrip("#")
    return int(c[0:2], 16), int(c[2:4], 16), int(c[4:6], 16)


def color_list(n: int) -> list[tuple[int, int, int]]:
    """``n`` distinct RGB colours, the first 20 hand-picked."""
    out = [_hex(c) for c in BASE_COLORS[:n]]
    i = 0
    while len(out) < n:
        h = (i * 0.618033988749895) % 1.0
        s = 0.55 + 0.35 * ((i // 7) % 2)
        v = 0.95 - 0.25 * ((i // 3) % 2)
        r, g, b = colorsys.hsv_to_rgb(h, s, v)
        out.append((round(r * 255), round(g * 255), round(b * 255)))
        i += 1
    return out


def to_hex(rgb) -> str:
    return "#{:02X}{:02X}{:02X}".format(*[int(v) for v in rgb])


def assign_colors(names: list[str]) -> dict[str, tuple[int, int, int]]:
    """A colour per class name, in the order given (put the largest classes first)."""
    unique = list(dict.fromkeys(names))
    return dict(zip(unique, color_list(len(unique))))


def downscale_pair(image: Image.Image, label_map: np.ndarray, max_side: int = DISPLAY_SIDE, min_side: int = 0):
    """The photo and its label map, nearest-neighbour resized so the longer side ≤ ``max_side``
    (and ≥ ``min_side``: a small picture is enlarged to fill the panel, its mask edges stay sharp)."""
    h, w = label_map.shape
    if max(w, h) <= max_side and (not min_side or max(w, h) >= min_side):
        img = image if image.size == (w, h) else image.resize((w, h))
        return img, label_map
    s = max_side / max(w, h) if max(w, h) > max_side else min_side / max(w, h)
    nw, nh = max(1, round(w * s)), max(1, round(h * s))
    rows = np.minimum(((np.arange(nh) + 0.5) * h / nh).astype(np.int64), h - 1)
    cols = np.minimum(((np.arange(nw) + 0.5) * w / nw).astype(np.int64), w - 1)
    resample = Image.Resampling.BILINEAR if s < 1 else Image.Resampling.BICUBIC
    photo = image.resize((nw, nh), resample, reducing_gap=3.0 if s < 1 else None)
    return photo, label_map[rows[:, None], cols[None, :]]


def _boundaries(ids: np.ndarray) -> np.ndarray:
    edge = np.zeros(ids.shape, dtype=bool)
    if ids.shape[1] > 1:
        d = ids[:, 1:] != ids[:, :-1]
        edge[:, 1:] |= d
        edge[:, :-1] |= d
    if ids.shape[0] > 1:
        d = ids[1:, :] != ids[:-1, :]
        edge[1:, :] |= d
        edge[:-1, :] |= d
    return edge


def overlay(image: Image.Image, label_map: np.ndarray, colors: dict[int, tuple[int, int, int]],
            opacity: float = 0.55, visible: set[int] | None = None, outlines: bool = True,
            max_side: int = DISPLAY_SIDE) -> Image.Image:
    """Blend class colours onto the photo; classes not in ``visible`` show the photo as is.

    ``colors`` maps class id → RGB; ``opacity`` in [0, 1]; ``outlines`` draws thin white
    borders between visible regions so neighbouring classes stay apart (they fade out with
    the mask, so opacity 0 shows the photo untouched).
    """
    img, ids = downscale_pair(image.convert("RGB"), label_map, max_side)
    ids = ids.astype(np.int64)
    top = int(ids.max()) + 1 if ids.size else 1
    lut = np.zeros((max(top, 1), 3), dtype=np.float32)
    show = np.zeros(max(top, 1), dtype=bool)
    for cid, rgb in colors.items():
        if 0 <= cid < top:
            lut[cid] = rgb
            show[cid] = visible is None or cid in visible
    safe = np.clip(ids, 0, top - 1)
    base = np.asarray(img, dtype=np.float32)
    alpha = np.where(show[safe] & (ids >= 0), float(np.clip(opacity, 0.0, 1.0)), 0.0)[..., None]
    out = base * (1 - alpha) + lut[safe] * alpha
    strength = 0.75 * min(1.0, 2 * float(opacity))  # outlines fade out with the mask
    if outlines and ids.size and strength > 0:
        edge = _boundaries(np.where(show[safe] & (ids >= 0), ids, -1)) & (show[safe] & (ids >= 0))
        if edge.any():
            out[edge] = out[edge] * (1 - strength) + 255 * strength
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))


def colorize(label_map: np.ndarray, colors: dict[int, tuple[int, int, int]], max_side: int = DISPLAY_SIDE) -> Image.Image:
    """The mask alone: each class in its colour (unknown ids black)."""
    blank = Image.new("RGB", (label_map.shape[1], label_map.shape[0]))
    return overlay(blank, label_map, colors, opacity=1.0, outlines=False, max_side=max_side)


def legend_html(rows, title: str | None = None, note: str | None = None) -> str:
    """Colour chips with class names and area shares.

    ``rows``: dicts or tuples ``(name, rgb, share, visible)``; share in [0, 1].
    """
    chips = []
    for row in rows:
        name, rgb, share, visible = (row["name"], row["color"], row["share"], row.get("visible", True)) \
            if isinstance(row, dict) else row
        faded = "" if visible else "opacity:0.38;text-decoration:line-through;"
        chips.append(
            f"<span class='tl-chip' style='display:inline-flex;align-items:center;gap:6px;margin:3px 10px 3px 0;"
            f"font-size:0.9em;{faded}'><span style='width:14px;height:14px;border-radius:3px;"
            f"background:{to_hex(rgb)};border:1px solid rgba(0,0,0,0.25);display:inline-block'></span>"
            f"<span>{escape(str(name))}</span><b style='font-variant-numeric:tabular-nums'>{share * 100:.1f}%</b></span>"
        )
    head = f"<div style='font-weight:600;margin:2px 0 4px 0'>{escape(title)}</div>" if title else ""
    tail = f"<div style='font-size:0.85em;opacity:0.75;margin-top:4px'>{escape(note)}</div>" if note else ""
    body = "".join(chips) or "<span style='opacity:0.7'>No classes to show.</span>"
    return f"<div class='tl-legend'>{head}<div style='display:flex;flex-wrap:wrap'>{body}</div>{tail}</div>"


def share_bar(series, colors: dict[str, tuple[int, int, int]] | None = None, top: int = 12,
              title: str | None = None):
    """Horizontal bars of each class's share of the image (%).

    ``series``: list of ``(model_name, [(class_name, share), …])``. One model: bars in the
    class colours. Two or more: grouped bars, one colour per model.
    """
    import plotly.graph_objects as go

    from tlweb.viz.common import PALETTE, style

    totals: dict[str, float] = {}
    for _, rows in series:
        for name, share in rows:
            totals[name] = max(totals.get(name, 0.0), share)
    names = sorted(totals, key=lambda n: -totals[n])[:top][::-1]  # largest on top
    fig = go.Figure()
    for i, (model, rows) in enumerate(series):
        lookup = dict(rows)
        values = [lookup.get(n, 0.0) * 100 for n in names]
        if len(series) == 1 and colors:
            marker = [to_hex(colors.get(n, (100, 116, 139))) for n in names]
        else:
            marker = PALETTE[i % len(PALETTE)]
        fig.add_trace(go.Bar(x=values, y=names, orientation="h", name=model, marker_color=marker,
                             text=[f"{v:.1f}%" if n in lookup else "" for n, v in zip(names, values)], textposition="outside", cliponaxis=False,
                             textfont={"size": 11},
                             hovertemplate="%{y}: %{x:.2f}% of the pixels<extra>" + escape(model) + "</extra>"))
    fig.update_layout(barmode="group", legend={"orientation": "h", "y": -0.18})
    longest = max([v for _, rows in series for _, v in rows] or [0]) * 100
    fig.update_xaxes(range=[0, min(105.0, max(5.0, longest * 1.18))], ticksuffix="%")
    fig.update_yaxes(automargin=True)
    height = max(240, (32 if len(series) == 1 else 14 * len(series) + 10) * len(names) + 120)
    return style(fig, title=title, x="share of the image's pixels (%)", y="class", height=height,
                 legend=len(series) > 1)
