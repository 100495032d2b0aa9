"""Depth maps as pictures: a colour-mapped depth picture (near = bright) and a 3-D surface.

:func:`depth_picture` and :func:`colorize` need only numpy and PIL (the CLI writes pictures with them);
:func:`depth_surface` draws a plotly figure. Both paint the *nearest* pixels brightest whatever the
model's convention (relative inverse depth, larger = nearer; or metres, larger = farther), so two
models' pictures read the same way.
"""

from __future__ import annotations

import numpy as np

# plotly's "Inferno" (matplotlib's inferno, sampled at 10 points): dark = far, bright = near.
INFERNO = ("#000004", "#1b0c41", "#4a0c6b", "#781c6d", "#a52c60", "#cf4446", "#ed6925", "#fb9b06", "#f7d13d",
           "#fcffa4")
SURFACE_GRID = 96  # the 3-D surface is drawn on at most this many points per side


def _lut(colors=INFERNO, n: int = 256) -> np.ndarray:
    """An n×3 uint8 colour table interpolated linearly between ``colors``."""
    anchors = np.array([[int(c[i:i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.float64)
    pos = np.linspace(0.0, 1.0, len(anchors))
    t = np.linspace(0.0, 1.0, n)
    return np.stack([np.interp(t, pos, anchors[:, k]) for k in range(3)], axis=1).round().astype(np.uint8)


LUT = _lut()


def colorize(nearness: np.ndarray) -> np.ndarray:
    """H×W values in 0…1 (1 = nearest) → H×W×3 uint8 colours (NaN counts as the farthest)."""
    idx = np.nan_to_num(np.clip(nearness, 0.0, 1.0), nan=0.0) * (len(LUT) - 1)
    return LUT[idx.round().astype(np.int64)]


def _shrink(values: np.ndarray, max_side: int | None) -> np.ndarray:
    """A float map downscaled (bilinear, PIL) so its longer side is at most ``max_side``."""
    from PIL import Image

    h, w = values.shape
    if not max_side or max(h, w) <= max_side:
        return values
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(values.astype(np.float32), mode="F").resize(size, Image.Resampling.BILINEAR))


def depth_picture(result, max_side: int | None = None):
    """The depth map as an RGB PIL picture, near = bright: at the image's size, or with its longer side
    shrunk to ``max_side`` for display."""
    from PIL import Image

    return Image.fromarray(colorize(_shrink(result.nearness(), max_side)), mode="RGB")


def surface_grid(result, grid: int = SURFACE_GRID) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x pixel centres, y pixel centres, depth values) of the map on at most ``grid`` points per side,
    each value the mean of its block of pixels (x and y in the original image's pixels)."""
    h, w = result.depth.shape
    s = max(h, w) / grid if max(h, w) > grid else 1.0
    gw, gh = max(1, round(w / s)), max(1, round(h / s))
    rows = np.linspace(0, h, gh + 1).round().astype(int)
    cols = np.linspace(0, w, gw + 1).round().astype(int)
    z = np.add.reduceat(np.add.reduceat(result.depth.astype(np.float64), rows[:-1], axis=0), cols[:-1], axis=1)
    z /= np.outer(np.diff(rows), np.diff(cols))
    return (cols[:-1] + cols[1:]) / 2, (rows[:-1] + rows[1:]) / 2, z


def depth_surface(result, title: str | None = None, height: int = 460):
    """The depth map as a plotly 3-D surface: x and y are the picture's pixels (the top row at the back),
    z the model's values (:attr:`DepthKind.axis_title` says which), coloured like :func:`depth_picture`."""
    import plotly.graph_objects as go

    from tlweb.viz.common import style

    x, y, z = surface_grid(result)
    lo, hi = float(np.nanmin(z)), float(np.nanmax(z))
    near = (z - lo) / (hi - lo) if hi > lo else np.zeros_like(z)
    if not result.output.nearer_is_larger:
        near = 1.0 - near
    scale = [[i / (len(INFERNO) - 1), c] for i, c in enumerate(INFERNO)]
    fig = go.Figure(go.Surface(
        x=x, y=y, z=z, surfacecolor=near, colorscale=scale, cmin=0.0, cmax=1.0,
        colorbar={"title": {"text": "nearness", "side": "right"}, "tickvals": [0, 1], "ticktext": ["far", "near"],
                  "len": 0.7},
        hovertemplate="x %{x:.0f} px, y %{y:.0f} px<br>value %{z:.3g}<extra></extra>"))
    style(fig, title or f"Depth as a surface · {result.width}×{result.height} px", height=height, legend=False)
    fig.update_layout(
        margin={"l": 0, "r": 0, "t": 48, "b": 0},
        # short axis titles (the unit is in the facts card and the hover): long ones are cut at the scene's edge
        scene={"xaxis": {"title": {"text": "x (px)"}},
               "yaxis": {"title": {"text": "y (px)"}, "autorange": "reversed"},
               "zaxis": {"title": {"text": result.output.axis_title.split(" (")[0]}},
               "aspectmode": "manual", "aspectratio": {"x": 1.0, "y": result.height / max(1, result.width), "z": 0.6},
               "domain": {"x": [0.0, 0.9], "y": [0.0, 1.0]},
               "camera": {"eye": {"x": 1.1, "y": -1.5, "z": 0.8}, "center": {"x": 0, "y": 0, "z": -0.1}}})
    return fig
