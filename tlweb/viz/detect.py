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


def _rects_overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def tag_layout(boxes_xyxy, tag_sizes, width: int, height: int) -> list[tuple[float, float, float, float] | None]:
    """Where each box's label tag goes so that no two tags overlap: above the box's top-left
    corner, else inside it at the top, below it, inside at the bottom, or the same at the right.
    ``boxes_xyxy`` in display pixels, best box first (it gets the first pick); ``tag_sizes``
    (w, h) per box. A box whose tag fits nowhere gets None (its colour still names it)."""
    placed: list[tuple[float, float, float, float]] = []
    out: list[tuple[float, float, float, float] | None] = []
    for (x0, y0, x1, y1), (tw, th) in zip(boxes_xyxy, tag_sizes):
        spots = [(x0, y0 - th), (x0, y0), (x0, y1), (x0, y1 - th),
                 (x1 - tw, y0 - th), (x1 - tw, y0), (x1 - tw, y1), (x1 - tw, y1 - th)]
        choice = None
        for tx, ty in spots:
            tx = min(max(0.0, tx), max(0.0, width - tw))
            if ty < 0 or ty + th > height:
                continue
            rect = (tx, ty, tx + tw, ty + th)
            if not any(_rects_overlap(rect, other) for other in placed):
                choice = rect
                break
        if choice is not None:
            placed.append(choice)
        out.append(choice)
    return out


def draw_boxes(image: Image.Image, boxes, colors: dict[str, tuple[int, int, int]] | None = None,
               max_side: int = DISPLAY_SIDE, show_scores: bool = True, min_side: int = 0) -> Image.Image:
    """Draw boxes (original pixel coordinates) with a filled label tag on each.

    The picture is downscaled to ``max_side`` for display, or upscaled to ``min_side`` (a small
    photo then fills the panel and its labels stay sharp); line width and font size follow the
    displayed size. Tags never overlap: a box whose tag has no free place keeps its coloured
    outline only, and ``result.info["hidden_labels"]`` counts those.
    """
    img = image.convert("RGB")
    w, h = img.size
    s = min(1.0, max_side / max(w, h))
    if min_side and max(w, h) * s < min_side:
        s = min_side / max(w, h)
    if s != 1.0:
        resample = Image.Resampling.BILINEAR if s < 1.0 else Image.Resampling.BICUBIC
        img = img.resize((max(1, round(w * s)), max(1, round(h * s))), resample, reducing_gap=3.0 if s < 1 else None)
    dw, dh = img.size
    colors = colors or box_colors(boxes)
    short = max(1, min(dw, dh))
    longest = max(dw, dh)
    line = max(2, round(longest / 320))
    font_px = int(min(max(12, longest / 48), max(12, short * 0.9)))
    font = _font(font_px)
    pad = max(2, font_px // 5)
    canvas = img.convert("RGBA")
    layer = Image.new("RGBA", canvas.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(layer)
    best_first = sorted(boxes, key=lambda b: -_get(b, "score"))
    xyxy = [tuple(v * s for v in _get(b, "xyxy")) for b in best_first]
    texts = [f"{_get(b, 'label')} {_get(b, 'score'):.2f}" if show_scores else str(_get(b, "label")) for b in best_first]
    bboxes = [draw.textbbox((0, 0), t, font=font) for t in texts]
    tags = tag_layout(xyxy, [(r - lft + 2 * pad, btm - top + 2 * pad) for lft, top, r, btm in bboxes], dw, dh)
    for i in reversed(range(len(best_first))):  # best drawn last, on top
        x0, y0, x1, y1 = xyxy[i]
        rgb = colors.get(_get(best_first[i], "label"), (79, 70, 229))
        draw.rectangle([x0, y0, max(x0, x1), max(y0, y1)], outline=rgb + (255,), width=line)
    for i, tag in enumerate(tags):  # tags over every outline
        if tag is None:
            continue
        rgb = colors.get(_get(best_first[i], "label"), (79, 70, 229))
        left, top_ = bboxes[i][:2]
        draw.rectangle(list(tag), fill=rgb + (235,))
        draw.text((tag[0] + pad - left, tag[1] + pad - top_), texts[i], font=font, fill=_text_color(rgb) + (255,))
    out = Image.alpha_composite(canvas, layer).convert("RGB")
    out.info["hidden_labels"] = sum(1 for t in tags if t is None)
    return out


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
