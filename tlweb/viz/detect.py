"""Detection views: boxes drawn on the photo with readable labels, a count table, a chart.

Pure functions (PIL / plotly; plotly only inside :func:`counts_figure`, so the headless CLI
can draw boxes where plotly is missing). Boxes are anything with ``label``, ``score``, ``xyxy`` and
``label_id`` (``tlweb.engine.detect.Box``) or dicts with those keys, in original pixels.
"""

from __future__ import annotations

from html import escape

from PIL import Image, ImageDraw, ImageFont

from tlweb.viz.segment import color_list, to_hex

DISPLAY_SIDE = 1600


def _get(box, key):
    return box[key] if isinstance(box, dict) else getattr(box, key)


def box_colors(boxes) -> dict[str, tuple[int, int, int]]:
    """A stable colour per label: by the model's class id (or query index), so a label keeps
    its colour while the threshold slider moves."""
    ids: dict[str, int] = {}
    for b in boxes:
        label = _get(b, "label")
        lid = _get(b, "label_id") if (isinstance(b, dict) and "label_id" in b) or hasattr(b, "label_id") else -1
        ids.setdefault(label, lid if lid is not None and lid >= 0 else len(ids))
    palette = color_list(max([i for i in ids.values()] + [0]) + 1)
    return {label: palette[i % len(palette)] for label, i in ids.items()}


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def _text_color(rgb) -> tuple[int, int, int]:
    r, g, b = rgb
    return (17, 24, 39) if (0.299 * r + 0.587 * g + 0.114 * b) > 160 else (255, 255, 255)


def draw_boxes(image: Image.Image, boxes, colors: dict[str, tuple[int, int, int]] | None = None,
               max_side: int = DISPLAY_SIDE, show_scores: bool = True) -> Image.Image:
    """Draw boxes (original pixel coordinates) with a filled label tag on each.

    The picture is downscaled to ``max_side`` for display; line width and font size follow
    the displayed size so labels stay readable on small and huge photos alike.
    """
    img = image.convert("RGB")
    w, h = img.size
    s = min(1.0, max_side / max(w, h))
    if s < 1.0:
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.BILINEAR, reducing_gap=3.0)
    dw, dh = img.size
    colors = colors or box_colors(boxes)
    short = max(1, min(dw, dh))
    longest = max(dw, dh)
    line = max(2, round(longest / 320))
    font_px = int(min(max(12, longest / 38), max(12, short * 0.9)))
    font = _font(font_px)
    canvas = img.convert("RGBA")
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    ordered = sorted(boxes, key=lambda b: _get(b, "score"))  # best drawn last, on top
    for b in ordered:
        x0, y0, x1, y1 = (v * s for v in _get(b, "xyxy"))
        rgb = colors.get(_get(b, "label"), (79, 70, 229))
        draw.rectangle([x0, y0, max(x0, x1), max(y0, y1)], outline=rgb + (255,), width=line)
        text = f"{_get(b, 'label')} {_get(b, 'score'):.2f}" if show_scores else str(_get(b, "label"))
        left, top_, right, bottom = draw.textbbox((0, 0), text, font=font)
        tw, th = right - left, bottom - top_
        pad = max(2, font_px // 5)
        tag_h = th + 2 * pad
        ty = y0 - tag_h if y0 - tag_h >= 0 else y0  # above the box, or inside when at the top edge
        tx = min(max(0, x0), max(0, dw - tw - 2 * pad))
        draw.rectangle([tx, ty, tx + tw + 2 * pad, ty + tag_h], fill=rgb + (235,))
        draw.text((tx + pad - left, ty + pad - top_), text, font=font, fill=_text_color(rgb) + (255,))
    return Image.alpha_composite(canvas, layer).convert("RGB")


def count_rows(counts) -> list[list]:
    """Rows for a table: label, count, best score, mean score (``ClassCount`` or dicts)."""
    return [[_get(c, "label"), int(_get(c, "count")), round(float(_get(c, "max_score")), 3),
             round(float(_get(c, "mean_score")), 3)] for c in counts]


COUNT_HEADERS = ["label", "count", "best score", "mean score"]


def counts_figure(boxes, threshold: float, colors: dict[str, tuple[int, int, int]] | None = None,
                  title: str | None = None, top: int = 15):
    """Left: boxes per label at this threshold. Right: every candidate box's score by label,
    with the threshold as a line (kept in colour, dropped in grey)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    from tlweb.viz.common import message_figure, style

    if not boxes:
        return message_figure("No boxes: nothing scored above the model's floor")
    colors = colors or box_colors(boxes)
    kept = [b for b in boxes if _get(b, "score") >= threshold]
    best: dict[str, float] = {}
    for b in boxes:
        best[_get(b, "label")] = max(best.get(_get(b, "label"), 0.0), _get(b, "score"))
    labels = sorted(best, key=lambda k: -best[k])[:top][::-1]
    counts = {k: 0 for k in labels}
    for b in kept:
        if _get(b, "label") in counts:
            counts[_get(b, "label")] += 1
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, column_widths=[0.42, 0.58], horizontal_spacing=0.04,
                        subplot_titles=(f"boxes with score ≥ {threshold:.2f}",
                                        "score of every candidate box (grey: below the threshold)"))
    fig.add_trace(go.Bar(x=[counts[k] for k in labels], y=labels, orientation="h",
                         marker_color=[to_hex(colors.get(k, (79, 70, 229))) for k in labels],
                         text=[str(counts[k]) for k in labels], textposition="auto", showlegend=False,
                         hovertemplate="%{y}: %{x} boxes<extra></extra>"), row=1, col=1)
    for keep in (False, True):
        pts = [b for b in boxes if (_get(b, "score") >= threshold) == keep and _get(b, "label") in counts]
        fig.add_trace(go.Scatter(
            x=[_get(b, "score") for b in pts], y=[_get(b, "label") for b in pts], mode="markers",
            marker={"size": 9, "opacity": 0.85 if keep else 0.45, "line": {"width": 0.5, "color": "white"},
                    "color": [to_hex(colors.get(_get(b, "label"), (79, 70, 229))) if keep else "#94A3B8" for b in pts]},
            name="kept" if keep else "below threshold", showlegend=False,
            hovertemplate="%{y}: score %{x:.3f}<extra>" + ("kept" if keep else "dropped") + "</extra>"),
            row=1, col=2)
    fig.add_vline(x=threshold, line_dash="dash", line_color="#EF4444", row=1, col=2)
    fig.update_xaxes(title_text="boxes (count)", rangemode="tozero", row=1, col=1)
    fig.update_xaxes(title_text="score (0–1)", range=[0, 1.02], row=1, col=2)
    fig.update_yaxes(title_text="label", automargin=True, row=1, col=1)
    fig.update_yaxes(showticklabels=False, row=1, col=2)
    fig = style(fig, title=title, height=max(280, 30 * len(labels) + 150), legend=False)
    fig.update_annotations(font_size=12)
    return fig


def summary_html(boxes, threshold: float) -> str:
    """One line of what was found at this threshold (``boxes``: every candidate box)."""
    kept = [b for b in boxes if _get(b, "score") >= threshold]
    if not kept:
        return (f"<div class='tl-top1'>No boxes scored ≥ {threshold:.2f}"
                f"{' — lower the threshold' if boxes else ''}</div>")
    counts: dict[str, int] = {}
    for b in kept:
        counts[_get(b, "label")] = counts.get(_get(b, "label"), 0) + 1
    parts = ", ".join(f"{n} × {escape(k)}" for k, n in sorted(counts.items(), key=lambda kv: -kv[1])[:6])
    more = "" if len(counts) <= 6 else f" and {len(counts) - 6} more labels"
    return f"<div class='tl-top1'>{len(kept)} box{'es' if len(kept) != 1 else ''}: {parts}{more}</div>"
