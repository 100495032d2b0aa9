"""Explain views: heat maps blended on the photo, a layer-by-layer strip, channel grids, the PCA picture,
and the before/after chart.

Pure functions over :class:`tlweb.engine.explain.ExplainMap` (a small grid covering the whole picture)
and PIL images; plotly only inside the chart functions, so the headless CLI can draw overlays where
plotly is missing. Photos are drawn at most ``DISPLAY_SIDE`` pixels on their longer side; maps are
resampled bilinearly to whatever size they are drawn at.
"""

from __future__ import annotations

from html import escape

import numpy as np
from PIL import Image, ImageDraw

from tlweb.viz.detect import _font

DISPLAY_SIDE = 1600
# matplotlib's "turbo" sampled at 11 points (blue = low, red = high), interpolated linearly
TURBO = np.array([(48, 18, 59), (69, 89, 203), (62, 155, 254), (25, 213, 205), (70, 248, 132), (164, 252, 60),
                  (225, 221, 55), (254, 164, 49), (240, 91, 18), (195, 37, 3), (122, 4, 3)], dtype=np.float32)


def colormap(values: np.ndarray) -> np.ndarray:
    """Values in [0, 1] (any shape) → uint8 RGB of the same shape + 3 (turbo)."""
    v = np.clip(np.nan_to_num(np.asarray(values, dtype=np.float32)), 0.0, 1.0) * (len(TURBO) - 1)
    i0 = np.minimum(np.floor(v).astype(np.int64), len(TURBO) - 2)
    f = (v - i0)[..., None]
    return np.clip(TURBO[i0] * (1 - f) + TURBO[i0 + 1] * f, 0, 255).round().astype(np.uint8)


def _display(image: Image.Image, max_side: int) -> Image.Image:
    img = image.convert("RGB")
    w, h = img.size
    s = min(1.0, max_side / max(w, h))
    if s < 1.0:
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR, reducing_gap=3.0)
    return img


def _values(emap, width: int, height: int) -> np.ndarray:
    """The map normalised to [0, 1] (see ExplainMap.normalized) at ``width×height``."""
    from tlweb.engine.explain.maps import ExplainMap

    norm = ExplainMap(emap.normalized(), emap.width, emap.height)
    return np.clip(norm.resized(width, height), 0.0, 1.0)


def overlay(image: Image.Image, emap, opacity: float = 0.5, max_side: int = DISPLAY_SIDE,
            mark_peak: bool = True) -> Image.Image:
    """The map in colour over the photo. Strong values are drawn at ``opacity``, weak ones fainter
    (a quarter of it), so the photo stays visible where the model does not look; a ring marks the peak."""
    img = _display(image, max_side)
    w, h = img.size
    v = _values(emap, w, h)
    alpha = (float(np.clip(opacity, 0.0, 1.0)) * (0.25 + 0.75 * v))[..., None]
    out = np.asarray(img, dtype=np.float32) * (1 - alpha) + colormap(v).astype(np.float32) * alpha
    result = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8))
    if mark_peak and not emap.is_flat and opacity > 0:
        px, py = emap.peak
        cx, cy = (px + 0.5) * w / emap.width, (py + 0.5) * h / emap.height
        r = max(4, round(max(w, h) / 60))
        draw = ImageDraw.Draw(result)
        width = max(2, r // 3)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(17, 24, 39), width=width + 2)
        draw.ellipse([cx - r, cy - r, cx + r, cy + r], outline=(255, 255, 255), width=width)
    return result


def heatmap(emap, width: int, height: int) -> Image.Image:
    """The map alone in colour at ``width×height``."""
    return Image.fromarray(colormap(_values(emap, width, height)))


def pca_image(pca: np.ndarray, width: int, height: int, max_side: int = DISPLAY_SIDE) -> Image.Image:
    """The h×w×3 PCA picture at the photo's aspect (longer side ≤ ``max_side``), pixels kept square-cut."""
    s = min(1.0, max_side / max(width, height))
    size = (max(1, round(width * s)), max(1, round(height * s)))
    return Image.fromarray(np.asarray(pca, dtype=np.uint8)).resize(size, Image.Resampling.NEAREST)


def _tile(tiles: list[tuple[Image.Image, str]], cols: int, pad: int = 6, caption_px: int = 13,
          background=(255, 255, 255), marked: int | None = None) -> Image.Image:
    """Tiles of equal size in a grid, each with a caption under it (tile ``marked`` framed and in bold colour)."""
    if not tiles:
        return Image.new("RGB", (1, 1), background)
    tw, th = tiles[0][0].size
    cols = max(1, min(cols, len(tiles)))
    rows = -(-len(tiles) // cols)
    font = _font(caption_px)
    cell_h = th + caption_px + 2 * pad
    sheet = Image.new("RGB", (cols * (tw + pad) + pad, rows * cell_h + pad), background)
    draw = ImageDraw.Draw(sheet)
    for k, (tile, caption) in enumerate(tiles):
        r, c = divmod(k, cols)
        x, y = pad + c * (tw + pad), pad + r * cell_h
        sheet.paste(tile, (x, y))
        color = (51, 65, 85)
        if k == marked:
            color = (79, 70, 229)
            draw.rectangle([x - 3, y - 3, x + tw + 2, y + th + 2], outline=color, width=3)
        caption = _fit(draw, caption, font, tw)
        left, _, right, _ = draw.textbbox((0, 0), caption, font=font)
        draw.text((x + max(0, (tw - (right - left)) // 2), y + th + pad // 2), caption, fill=color, font=font)
    return sheet


def _fit(draw, text: str, font, width: int) -> str:
    """``text`` cut with an ellipsis to fit ``width`` pixels."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength(text + "…", font=font) > width:
        text = text[:-1]
    return text + "…"


def _thumb_size(width: int, height: int, side: int) -> tuple[int, int]:
    s = side / max(width, height)
    return max(1, round(width * s)), max(1, round(height * s))


def layer_strip(image: Image.Image, maps: list, opacity: float = 0.5, thumb: int = 170, cols: int = 8,
                selected: int | None = None) -> Image.Image:
    """One small overlay per layer, input side first, captioned with the layer (the selected one framed)."""
    if not maps:
        return Image.new("RGB", (1, 1), (255, 255, 255))
    tw, th = _thumb_size(maps[0].width, maps[0].height, thumb)
    small = _display(image, thumb).resize((tw, th), Image.Resampling.BILINEAR)
    tiles = [(overlay(small, m, opacity, max_side=thumb, mark_peak=False).resize((tw, th)), m.label) for m in maps]
    marked = next((k for k, m in enumerate(maps) if selected is not None and m.layer == selected), None)
    return _tile(tiles, cols, pad=8, marked=marked)


def channel_grid(maps: list, thumb: int = 110, cols: int = 4) -> Image.Image:
    """The most active channels of a layer, each as a heat map (blue = low, red = high)."""
    if not maps:
        return Image.new("RGB", (1, 1), (255, 255, 255))
    tw, th = _thumb_size(maps[0].width, maps[0].height, thumb)
    return _tile([(heatmap(m, tw, th), m.label) for m in maps], cols)


def side_by_side(left: Image.Image, right: Image.Image, captions: tuple[str, str], gap: int = 10) -> Image.Image:
    """Two pictures of the same size next to each other with captions (the before/after view)."""
    h = max(left.size[1], right.size[1])
    return _tile([(left.resize((left.size[0], h)), captions[0]), (right.resize((left.size[0], h)), captions[1])],
                 cols=2, pad=gap, caption_px=max(13, h // 22))


def legend_html(low: str = "low", high: str = "high") -> str:
    """A small colour bar for the maps."""
    stops = ", ".join(f"rgb({r},{g},{b}) {k * 10}%" for k, (r, g, b) in enumerate(TURBO.astype(int)))
    return (f"<div class='tl-cbar' style='display:flex;align-items:center;gap:8px;font-size:0.85em'>"
            f"<span>{escape(low)}</span><span style='flex:0 0 180px;height:10px;border-radius:5px;"
            f"background:linear-gradient(90deg, {stops})'></span><span>{escape(high)}</span></div>")


def facts_html(result) -> str:
    """What was explained: method, layer, class, peak, model facts (a card like the other tabs')."""
    from tlweb.engine.explain import method_name

    spec = result.spec
    params = f"{result.params / 1e6:,.2f} M" if result.params >= 1e5 else f"{result.params:,}"
    info = result.layer_info
    layer = (f"{escape(info.label)} <code>{escape(info.name)}</code> · output {'×'.join(map(str, info.shape))}"
             if info else "— (reads only the model's output)")
    head = "" if result.method != "attention" else (
        f" · head {result.head}" if result.head is not None else f" · mean of {result.num_heads} heads")
    what = ("the model's top-1 (class-agnostic method)" if result.class_agnostic else "explained class")
    rows = [
        ("method", escape(method_name(result.method)) + escape(head)),
        ("class", f"<b>{escape(result.target)}</b> <span style='opacity:.7'>({what})</span>"),
        ("layer", layer),
        ("peak", f"x {result.map.peak[0]}, y {result.map.peak[1]} of {result.width}×{result.height} px"),
        ("map grid", "×".join(map(str, result.map.grid.shape[::-1])) + " cells over the whole picture"),
        ("time", f"{result.latency_ms:,.0f} ms on {escape(result.device)} ({escape(result.dtype)})"),
        ("model", f"<code>{escape(spec.hub_id if spec.source in ('catalog', 'hub') else spec.key)}</code> · "
                  f"{escape(spec.family)} · {params} parameters"),
        ("pretrained on", escape(spec.pretrained_on or "see the model card")),
    ]
    cells = "".join(f"<div class='k'>{k}</div><div class='v'>{v}</div>" for k, v in rows)
    notes = "".join(f"<p class='tl-note'>ℹ️ {escape(n)}</p>" for n in result.notes)
    if spec.random_weights and not result.random_weights:
        notes += "<p class='tl-note'>⚠️ Random weights (UI demo): this model learned nothing, so its maps show no learned structure.</p>"
    return f"<div class='tl-facts'>{cells}</div>{legend_html()}{notes}{layers_html(result.layers, result.layer)}"


def layers_html(layers, selected: int | None = None) -> str:
    """The backbone's layers with their output shapes (one image), as a collapsible table."""
    if not layers:
        return ""
    rows = "".join(
        f"<tr style='{'font-weight:600' if info.index == selected else ''}'><td>{info.index}</td>"
        f"<td>{escape(info.label)}</td><td><code>{escape(info.name)}</code></td>"
        f"<td>{'×'.join(map(str, info.shape))}</td><td>{'×'.join(map(str, info.grid))}</td></tr>"
        for info in layers)
    head = "<tr><th>#</th><th>layer</th><th>module</th><th>output (one image)</th><th>map grid</th></tr>"
    return (f"<details class='tl-note' id='explain-layers'><summary>All {len(layers)} layers and their output "
            f"shapes</summary><table style='font-size:0.9em;border-collapse:collapse'>{head}{rows}</table></details>")


def before_after_figure(ba):
    """Both models' top-3 as horizontal bars, side by side (their classes differ)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from tlweb.viz.common import PALETTE, style

    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.28,
                        subplot_titles=(f"before: {ba.base_model}", f"after: {ba.run}"))
    for col, (res, color) in enumerate(((ba.base, "#94A3B8"), (ba.tuned, PALETTE[0])), start=1):
        rows = res.predictions[:3][::-1]
        fig.add_trace(go.Bar(x=[p.score * 100 for p in rows], y=[p.label for p in rows], orientation="h",
                             marker_color=color, text=[f"{p.score * 100:.1f}%" for p in rows], textposition="auto",
                             hovertemplate="%{y}: %{x:.1f}%<extra></extra>", showlegend=False), row=1, col=col)
        fig.update_xaxes(range=[0, 100], ticksuffix="%", title_text="probability (%)", row=1, col=col)
        fig.update_yaxes(title_text="class", automargin=True, row=1, col=col)
    return style(fig, height=260, legend=False)
