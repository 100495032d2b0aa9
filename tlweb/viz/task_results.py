"""Fine-tune figures for segmentation and detection runs: the data preview (masks over images, boxes on
images), live curves of the loss (and its parts) and the validation mIoU / mAP, per-class IoU / AP bars,
the worst test images (truth beside prediction), before / after pictures and the result cards.

Pure functions over plain data (dicts, paths, PIL images, engine results' attributes); nothing here runs
a model or imports gradio. Fractions arrive 0..1 and are shown as %.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Mapping
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tlweb.viz.common import PALETTE, style

SEGMENTATION = "image-segmentation"
DETECTION = "object-detection"
METRIC_LABELS = {"miou": "mIoU", "map": "mAP@[.5:.95]", "accuracy": "accuracy"}
PART_NAMES = {"loss_ce": "class", "loss_vfl": "class (VFL)", "loss_focal": "class (focal)", "loss_bbox": "box L1",
              "loss_giou": "box GIoU", "loss_fgl": "box FGL", "loss_ddf": "box DDF"}
PREVIEW_SIDE = 192  # preview and worst-image panels are drawn at least this large (small scenes enlarged)


def _num(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None


def metric_label(metric: str | None) -> str:
    return METRIC_LABELS.get(str(metric or ""), str(metric or "metric"))


# --------------------------------------------------------------------------- live curves


def task_curves(events: Iterable, metric: str = "miou", title: str | None = "Training curves",
                height: int = 360) -> go.Figure:
    """Loss (train per step, its named parts dashed, validation per epoch) and the validation metric (%) per
    epoch, against epochs. ``events`` are TrainEvent dicts of one run (``val_metric``, ``loss_parts``)."""
    from tlweb.viz.training import as_dict

    evs = [as_dict(e) for e in events]
    label = metric_label(metric)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1,
                        subplot_titles=("Loss (lower is better)", f"Validation {label} (higher is better)"))
    steps = [e for e in evs if e.get("kind") == "step" and _num(e.get("train_loss")) is not None]
    evals = {}
    for e in evs:
        if e.get("kind") == "eval" and (_num(e.get("val_metric")) is not None or _num(e.get("val_loss")) is not None):
            evals[round(_num(e.get("epoch")) or 0.0, 4)] = e
    evals = [evals[k] for k in sorted(evals)]
    on_test = bool(evals) and all(e.get("eval_split") == "test" for e in evals)
    split = "test (monitoring only)" if on_test else "validation"
    if steps:
        fig.add_trace(go.Scatter(x=[_num(e.get("epoch")) for e in steps], y=[_num(e.get("train_loss")) for e in steps],
                                 mode="lines", name="train loss (per step)", line={"color": PALETTE[0], "width": 1.8},
                                 hovertemplate="epoch %{x:.2f}<br>train loss %{y:.4f}<extra></extra>"), row=1, col=1)
        parts = sorted({k for e in steps for k in (e.get("loss_parts") or {})})
        for i, part in enumerate(parts):
            pts = [e for e in steps if _num((e.get("loss_parts") or {}).get(part)) is not None]
            name = PART_NAMES.get(part, part)
            fig.add_trace(go.Scatter(x=[_num(e.get("epoch")) for e in pts],
                                     y=[_num(e["loss_parts"][part]) for e in pts], mode="lines",
                                     name=f"loss part: {name}", line={"color": PALETTE[(i + 3) % len(PALETTE)],
                                                                      "width": 1.2, "dash": "dot"},
                                     hovertemplate="epoch %{x:.2f}<br>" + name + " %{y:.4f}<extra></extra>"),
                          row=1, col=1)
    val_loss = [e for e in evals if _num(e.get("val_loss")) is not None]
    if val_loss:
        fig.add_trace(go.Scatter(x=[_num(e.get("epoch")) for e in val_loss], y=[_num(e["val_loss"]) for e in val_loss],
                                 mode="lines+markers", name=f"{split} loss (per epoch)",
                                 line={"color": PALETTE[1], "width": 2.4}, marker={"size": 7},
                                 hovertemplate="epoch %{x:.2f}<br>" + split + " loss %{y:.4f}<extra></extra>"),
                      row=1, col=1)
    val_metric = [e for e in evals if _num(e.get("val_metric")) is not None]
    if val_metric:
        fig.add_trace(go.Scatter(x=[_num(e.get("epoch")) for e in val_metric],
                                 y=[_num(e["val_metric"]) * 100 for e in val_metric], mode="lines+markers",
                                 name=f"{split} {label}", line={"color": PALETTE[2], "width": 2.4}, marker={"size": 8},
                                 hovertemplate="epoch %{x:.2f}<br>" + split + " " + label
                                               + " %{y:.1f}%<extra></extra>"), row=1, col=2)
    fig.update_xaxes(title_text="epoch", rangemode="tozero")
    fig.update_yaxes(title_text="loss (the model's own)", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text=f"{label} (%)", range=[0, 102], ticksuffix="%", row=1, col=2)
    style(fig, title=title, height=height)
    fig.update_layout(legend={"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0, "xanchor": "left"},
                      margin={"b": 90})
    if not steps and not evals:
        fig.add_annotation(text="Curves appear here while training runs", showarrow=False, xref="paper",
                           yref="paper", x=0.5, y=0.5, font={"size": 14, "color": "#64748B"})
    return fig


# --------------------------------------------------------------------------- per-class bars


def per_class_metric_bars(values: Mapping[str, float | None], metric: str = "miou", title: str | None = None,
                          counts: Mapping[str, int] | None = None, height: int = 320,
                          recall: Mapping[str, float | None] | None = None) -> go.Figure:
    """One bar per class: its IoU (segmentation) or AP (detection) on the test images, in %. A class with no
    score (absent from the test images) shows "n/a" instead of a bar. ``counts``: its test images (hover).
    ``recall`` (detection: per-class AR@[.5:.95], up to 100 detections): a second, paler bar beside each AP."""
    word = "IoU" if metric == "miou" else "AP@[.5:.95]" if metric == "map" else metric_label(metric)
    names = [str(k) for k in values]
    ys = [(_num(v) or 0.0) * 100 if _num(v) is not None else 0.0 for v in values.values()]
    texts = [f"{_num(v) * 100:.1f}%" if _num(v) is not None else "n/a" for v in values.values()]
    extra = [f"<br>{int(counts.get(n, 0))} test images hold it" if counts else "" for n in names]
    fig = go.Figure(go.Bar(x=names, y=ys, text=texts, textposition="outside", cliponaxis=False,
                           marker_color=[PALETTE[i % len(PALETTE)] for i in range(len(names))], customdata=extra,
                           hovertemplate="%{x}<br>" + word + " %{text}%{customdata}<extra></extra>"))
    if recall:
        rs = [recall.get(n) for n in names]
        fig.data[0].name = word
        fig.data[0].marker.color = PALETTE[0]
        fig.add_trace(go.Bar(x=names, y=[(_num(v) or 0.0) * 100 for v in rs], name="AR@[.5:.95]",
                             text=[f"{_num(v) * 100:.1f}%" if _num(v) is not None else "n/a" for v in rs],
                             textposition="outside", cliponaxis=False, marker_color=PALETTE[0], opacity=0.45,
                             hovertemplate="%{x}<br>AR@[.5:.95] %{text} (share of its boxes found, up to 100 "
                                           "detections a picture)<extra></extra>"))
        fig.update_layout(barmode="group")
    fig.update_layout(uniformtext={"minsize": 11, "mode": "show"})
    fig.update_xaxes(type="category", automargin=True)
    fig.update_yaxes(range=[0, 112], tickvals=[0, 20, 40, 60, 80, 100], ticksuffix="%")
    both = f"{word} and AR" if recall else word
    fig = style(fig, title=title or f"Per-class {both} on the test images", x="class", y=f"{both} (%)",
                height=height, legend=bool(recall))
    fig.update_layout(showlegend=bool(recall))
    return fig


# --------------------------------------------------------------------------- pictures


def _colors(class_names: list[str]) -> dict[int, tuple[int, int, int]]:
    """Class id → colour, by NAME as :func:`segment_picture` and :func:`classes_line` give them with
    ``names=class_names`` (so a class has one colour in the previews, the worst images and before/after);
    background left uncoloured."""
    from tlweb.viz.segment import assign_colors

    palette = assign_colors([n for n in class_names if n.lower() not in ("background", "bg")])
    return {i: palette[n] for i, n in enumerate(class_names) if n in palette}


def _enlarge(img, side: int = PREVIEW_SIDE):
    from PIL import Image

    w, h = img.size
    if max(w, h) >= side:
        return img
    s = side / max(w, h)
    return img.resize((round(w * s), round(h * s)), Image.Resampling.NEAREST)


def mask_overlay(image, mask, class_names: list[str], opacity: float = 0.5):
    """A picture with its mask blended on (background, class 0, when named so, left as the photo)."""
    import numpy as np

    from tlweb.viz.segment import overlay

    colors = _colors(class_names)
    visible = {i for i, n in enumerate(class_names) if not (i == 0 and n.lower() in ("background", "bg"))}
    ids = np.asarray(mask).astype(np.int64)
    ids = np.where(ids == 255, -1, ids)
    img = image.convert("RGB")
    if img.size != (ids.shape[1], ids.shape[0]):
        img = img.resize((ids.shape[1], ids.shape[0]))
    return _enlarge(overlay(img, ids, colors, opacity=opacity, visible=visible))


def side_by_side(left, right, gap: int = 6):
    """Two pictures beside each other on a white strip (the same height)."""
    from PIL import Image

    h = max(left.height, right.height)
    out = Image.new("RGB", (left.width + right.width + gap, h), (255, 255, 255))
    out.paste(left, (0, 0))
    out.paste(right, (left.width + gap, 0))
    return out


def mask_preview(data, limit: int = 8, settings=None) -> list[tuple[object, str]]:
    """The first training images of segmentation data with their masks over them: (PIL, caption) each."""
    from tlweb.engine.data.masks import read_mask
    from tlweb.engine.images import load_image
    from tlweb.errors import TlwebError

    out = []
    names = list(data.class_names)
    split = data.train
    for i in range(min(limit, len(split))):
        try:
            img = load_image(split.images[i], settings, name=split.names[i])
            mask = split.masks[i] if hasattr(split.masks[i], "shape") else read_mask(split.masks[i], settings,
                                                                                      name=split.names[i])
        except (TlwebError, OSError, TypeError):
            continue
        held = [names[k] for k in range(len(names)) if bool(split.present[i][k])]
        out.append((mask_overlay(img, mask, names), f"{split.names[i]}: {', '.join(held)}"))
    return out


def box_preview(data, limit: int = 8, settings=None) -> list[tuple[object, str]]:
    """The first training pictures of detection data with their boxes drawn: (PIL, caption) each."""
    from tlweb.engine.images import load_image
    from tlweb.errors import TlwebError
    from tlweb.viz.detect import draw_boxes

    out = []
    names = list(data.class_names)
    for item in list(data.train)[:limit]:
        try:
            img = load_image(item.source, settings, name=item.name)
        except TlwebError:
            continue
        f = img.width / max(1, item.width)
        boxes = [{"xyxy": (x * f, y * f, (x + w) * f, (y + h) * f), "label": names[c], "score": 1.0, "label_id": c}
                 for (x, y, w, h), c in zip(item.boxes, item.labels)]
        shown = draw_boxes(img, boxes, show_scores=False, min_side=PREVIEW_SIDE)
        out.append((shown, f"{item.name}: {len(boxes)} box{'es' if len(boxes) != 1 else ''}"))
    return out


def seg_worst_gallery(worst: Iterable[Mapping], class_names: list[str], run_dir: Path | None = None
                      ) -> list[tuple[object, str]]:
    """The worst test images of a segmentation run (``metrics["worst"]``): truth beside prediction over the
    picture, captioned with the image's mIoU."""
    from PIL import Image

    out = []
    for w in worst or []:
        paths = {}
        for key in ("image", "prediction", "truth"):
            p = Path(str(w.get(key) or ""))
            if not p.is_file() and run_dir is not None:
                p = Path(run_dir) / "worst" / p.name
            paths[key] = p
        if not all(p.is_file() for p in paths.values()):
            continue
        with Image.open(paths["image"]) as im, Image.open(paths["truth"]) as t, Image.open(paths["prediction"]) as p:
            img = im.convert("RGB")
            truth, pred = mask_overlay(img, t, class_names), mask_overlay(img, p, class_names)
        out.append((side_by_side(truth, pred), f"{w.get('name', '')}: truth | prediction · image mIoU "
                                               f"{(_num(w.get('miou')) or 0) * 100:.0f}%"))
    return out


def det_worst_gallery(worst: Iterable[Mapping], run_dir: Path | None = None) -> list[tuple[str, str]]:
    """The worst test pictures of a detection run (the plug-in saved truth | prediction PNGs)."""
    out = []
    for w in worst or []:
        p = Path(str(w.get("image") or ""))
        if not p.is_file() and run_dir is not None:
            p = Path(run_dir) / "mistakes" / p.name
        if p.is_file():
            out.append((str(p), f"{w.get('source', '')}: {w.get('true', '')} · {w.get('pred', '')}"))
    return out


def segment_picture(image, result, names: list[str] | None = None, opacity: float = 0.7):
    """A SegmentResult's label map drawn over its picture, each class in the colour of its NAME among ``names``
    (so the base model's and the fine-tuned model's classes keep one colour each side by side); background
    left as the photo."""
    from tlweb.viz.segment import assign_colors, overlay

    palette = assign_colors([n for n in (names or sorted(result.class_names.values()))
                             if n.lower() not in ("background", "bg")])
    colors = {i: palette[n] for i, n in result.class_names.items() if n in palette}
    return _enlarge(overlay(image.convert("RGB"), result.label_map, colors, opacity=opacity), 320)


def detection_picture(image, result):
    """A DetectResult's kept boxes drawn on its picture (small pictures enlarged), for before / after."""
    from tlweb.viz.detect import draw_boxes

    return draw_boxes(image, result.kept(), min_side=320)


def boxes_line(result, top: int = 4) -> str:
    """"2 boxes: circle 0.91, square 0.77" — what a DetectResult kept."""
    kept = result.kept()
    shown = ", ".join(f"{html.escape(str(b.label))} {b.score:.2f}" for b in kept[:top])
    return f"{len(kept)} box{'es' if len(kept) != 1 else ''}" + (f": {shown}" if shown else "")


def classes_line(result, top: int = 4, names: list[str] | None = None) -> str:
    """"circle 21% · square 9%" (HTML) — the largest classes of a SegmentResult, each after a chip of its colour
    in :func:`segment_picture` with the same ``names``."""
    from tlweb.viz.segment import assign_colors, to_hex

    palette = assign_colors([n for n in (names or sorted(result.class_names.values()))
                             if n.lower() not in ("background", "bg")])
    parts = []
    for c in list(result.classes)[:top]:
        chip = (f"<span style='display:inline-block;width:.8em;height:.8em;border-radius:2px;margin-right:3px;"
                f"background:{to_hex(palette[c.name])}'></span>") if c.name in palette else ""
        parts.append(f"{chip}{html.escape(c.name)} {c.share * 100:.0f}%")
    return " · ".join(parts)


# --------------------------------------------------------------------------- numbers


def result_cards(metrics: Mapping, task: str) -> str:
    """Big numbers of a finished segmentation or detection run, with the honest counts under them."""
    from tlweb.viz.cards import score_cards

    def pct(key):
        v = _num(metrics.get(key))
        return f"{v * 100:.1f}%" if v is not None else "n/a"

    if task == DETECTION:
        cards = [(pct("test_map"), "test mAP@[.5:.95]", PALETTE[0]), (pct("test_map50"), "mAP50", PALETTE[2]),
                 (pct("test_map75"), "mAP75", PALETTE[1])]
    else:
        cards = [(pct("test_miou"), "test mIoU", PALETTE[0]), (pct("test_pixel_accuracy"), "pixel accuracy",
                                                               PALETTE[2])]
    n_test, n_train, n_val = (metrics.get(k) for k in ("test_images", "train_images", "val_images"))
    counts = (f"{n_test} test images (never trained on) · {n_train} training images"
              + (f" · {n_val} held out to pick the epoch" if n_val else " · last epoch kept (too few images to "
                 "hold some out)"))
    small = ""
    if isinstance(n_test, int) and n_test < 20:
        small = (f"<br>⚠️ Only {n_test} test images: these numbers can move by several points with another "
                 "draw of the data.")
    return score_cards(cards) + f"<div class='ft-notes'>{html.escape(counts)}{small}</div>"


# --------------------------------------------------------------------------- the run's report


def report_sections(rep, path: Path, cfg: Mapping, metrics: Mapping, events: list[dict]) -> None:
    """A segmentation or detection run's sections of its report (:mod:`tlweb.viz.report_training`): the
    result cards, the curves, per-class IoU / AP (chart and table) and the worst test images."""
    task = metrics.get("task") or cfg.get("task")
    metric = "miou" if task == SEGMENTATION else "map"
    data = cfg.get("data") or {}
    if metrics:
        rep.section("Result")
        rep.raw(result_cards(metrics, task))
    else:
        rep.section("Result").raw("<p class='warn'>This run has no final metrics (it is still running, was "
                                  "interrupted or failed); what it logged so far is shown.</p>")
    rep.section("Training curves", f"Loss per step{' (and its parts)' if task == DETECTION else ''} and per epoch, "
                                   f"validation {metric_label(metric)} per epoch.")
    rep.figure(task_curves(events, metric))
    key = "per_class_iou" if task == SEGMENTATION else "per_class_ap"
    if metrics.get(key):
        counts = (data.get("counts") or {}).get("test") or {}
        rep.section("Per class on the test set", f"{metrics.get('test_images', '?')} test images the model never "
                                                 "trained on.")
        recall = metrics.get("per_class_ar") if task == DETECTION else None
        rep.figure(per_class_metric_bars(metrics[key], metric, counts=counts, recall=recall))
        word = "IoU" if task == SEGMENTATION else "AP@[.5:.95]"
        from tlweb.engine.metrics import percent

        def pct(v):
            return percent(v, sep="", missing="n/a")

        if recall:
            rep.table(["class", word, "AR@[.5:.95]", "test images holding it"],
                      [[c, pct(v), pct(recall.get(c)), counts.get(c)] for c, v in metrics[key].items()],
                      numeric=(1, 2, 3))
        else:
            rep.table(["class", word, "test images holding it"],
                      [[c, pct(v), counts.get(c)] for c, v in metrics[key].items()], numeric=(1, 2))
    if task == SEGMENTATION:
        worst = seg_worst_gallery(metrics.get("worst") or [], list(cfg.get("class_names") or []), path)
    else:
        worst = det_worst_gallery(metrics.get("worst_images") or [], path)
    if worst:
        rep.section("Worst test images", "Truth on the left, the fine-tuned model's prediction on the right.")
        rep.images(worst)
