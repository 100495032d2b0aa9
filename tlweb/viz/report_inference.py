"""Reports of inference results: Compare, Segment, Detect (see :mod:`tlweb.viz.report`)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tlweb.viz.report_base import Report, _params, spec_facts
from tlweb.viz.training import as_dict


def _load(image, settings=None):
    """The picture as the engine saw it (EXIF orientation applied), from a path, bytes or PIL image."""
    from tlweb.engine.images import load_image

    return load_image(image, settings)


def _device(rows: Sequence[dict]) -> tuple[str | None, str | None]:
    for r in rows:
        if r.get("device"):
            return r.get("device"), r.get("dtype")
    return None, None


# --------------------------------------------------------------------------- compare


def _compare_table(result: dict) -> tuple[list[str], list[list]]:
    headers = ["model", "family", "parameters", "GFLOPs / image", "latency ms / image", "batch ms",
               "preprocess ms / image", "peak MB", "input px", "timed runs", "top-1 per image", "error"]
    rows = []
    images = result.get("images") or []
    for m in result.get("models") or []:
        tops = [f"{img}: {p[0]['label']} {p[0]['score'] * 100:.0f}%" for img, p in zip(images, m.get("predictions") or [])
                if p]
        rows.append([m.get("name") or m.get("model"), m.get("family"), _params(m.get("params")) if m.get("params") else "",
                     m.get("gflops"), m.get("latency_ms"), m.get("batch_ms"), m.get("preprocess_ms"),
                     m.get("peak_memory_mb"), m.get("input_size"),
                     f"{m.get('runs', 0)}{'' if m.get('latency_warm', True) else ' (one cold pass)'}",
                     "; ".join(tops), m.get("error") or ""])
    return headers, rows


def compare_report_html(result, images: Sequence | None = None, settings=None) -> str:
    """A Compare result (CompareResult or its dict); ``images``: the pictures, to show thumbnails."""
    from tlweb.viz.compare import agreement_heatmap, confidence_bars, latency_vs_params

    d = as_dict(result)
    models = d.get("models") or []
    ok = [m for m in models if not m.get("error")]
    rep = Report("Compare backbones", f"{len(models)} models on {len(d.get('images') or [])} image(s)", kind="compare")
    rep.section("Summary")
    rep.facts([("models compared", f"{len(ok)} of {len(models)}"), ("images", ", ".join(d.get("images") or [])),
               ("top-k", d.get("top_k")), ("decoding all images", f"{d.get('decode_ms') or 0:.1f} ms"),
               ("wall time", f"{d.get('elapsed_s') or 0:.2f} s"),
               ("unloaded to stay in the memory budget", ", ".join(d.get("evicted") or []))])
    if any(m.get("source") == "demo" for m in models):
        rep.raw("<p class='warn'>Demo models are tiny and most carry random weights: their labels say nothing about "
                "the images; the costs are real.</p>")
    headers, rows = _compare_table(d)
    rep.section("Results", "Latency: forward pass only, median of warm batch passes divided by the number of "
                "images; GFLOPs and peak memory for one image (a multiply-add counts as 2 FLOPs).")
    rep.table(headers, rows, numeric=(3, 4, 5, 6, 7, 8))
    rep.section("Cost and confidence")
    rep.figure(latency_vs_params(d))
    rep.figure(confidence_bars(d))
    if len(ok) >= 2:
        rep.section("Agreement", "How often two models give the same top-1 label.")
        rep.figure(agreement_heatmap(d))
        lines = []
        for item in (d.get("agreement") or {}).get("per_image") or []:
            groups = "; ".join(f"{g['label']} ({', '.join(g['models'])})" for g in item.get("groups") or [])
            lines.append([item.get("image"), "yes" if item.get("all_agree") else "no", groups])
        rep.table(["image", "all agree", "top-1 labels (models)"], lines)
    if images:
        names = d.get("images") or []
        rep.section("Images")
        rep.images([(_load(img, settings), name) for img, name in zip(images, names or [Path(str(i)).name
                                                                                          for i in images])])
    specs = [m for m in models if m.get("source")]
    if specs:
        rep.section("Models")
        rep.table(["model", "given as", "family", "source", "parameters", "load s", "device", "dtype"],
                  [[m.get("name"), m.get("model"), m.get("family"), m.get("source"), _params(m.get("params")),
                    m.get("load_s"), m.get("device"), m.get("dtype")] for m in specs], numeric=(5,))
    rep.environment(*_device(models))
    return rep.render()


# --------------------------------------------------------------------------- segment


def segment_report_html(results, image, settings=None, opacity: float = 0.55) -> str:
    """One or two SegmentResults on the same image, overlays side by side."""
    from tlweb.viz.segment import assign_colors, legend_html, overlay, share_bar

    results = list(results) if isinstance(results, (list, tuple)) else [results]
    img = _load(image, settings)
    order: dict[str, float] = {}
    for r in results:
        for c in r.classes:
            order[c.name] = max(order.get(c.name, 0.0), c.share)
    colors = assign_colors(sorted(order, key=lambda n: -order[n]))
    name = [r.spec.hub_id if r.spec.source == "hub" else r.spec.key for r in results]
    rep = Report("Segmentation", " vs ".join(name) + f" · {img.width}×{img.height} px", kind="segment")
    rep.section("Masks", "Every pixel gets one of the classes the model learned; colours match across models.")
    rep.raw("<div class='grid'>")
    for n, r in zip(name, results):
        ids = {c.id: colors[c.name] for c in r.classes}
        rep.raw("<div style='flex:1 1 420px;min-width:0'>")
        rep.image(overlay(img, r.label_map, ids, opacity), n)
        rep.raw(legend_html([(c.name, colors[c.name], c.share, True) for c in r.classes], title=n))
        rep.raw("</div>")
    rep.raw("</div>")
    rep.section("Area per class")
    rep.figure(share_bar([(n, [(c.name, c.share) for c in r.classes]) for n, r in zip(name, results)], colors,
                         title="Share of the image per class"))
    for n, r in zip(name, results):
        rep.heading(n)
        rep.table(["class", "share of pixels", "pixels"], [[c.name, f"{c.share * 100:.2f}%", c.pixels]
                                                          for c in r.classes], numeric=(1, 2))
        if r.segments:
            rep.table(["panoptic segment", "score", "share"], [[s.label, f"{s.score:.3f}", f"{s.share * 100:.2f}%"]
                                                               for s in r.segments], numeric=(1, 2))
    _model_sections(rep, results, name)
    rep.environment(results[0].device, results[0].dtype)
    return rep.render()


def _model_sections(rep: Report, results, names) -> None:
    rep.section("Models")
    for n, r in zip(names, results):
        rep.heading(n)
        rep.facts([*spec_facts(r.spec), ("parameters (loaded)", _params(r.params)),
                   ("latency", f"{r.latency_ms:,.0f} ms on {r.device} ({r.dtype})")])
        if r.spec.random_weights:
            rep.raw("<p class='warn'>Random weights (UI demo): the output is noise.</p>")


# --------------------------------------------------------------------------- detect


def detect_report_html(result, image, threshold: float | None = None, settings=None) -> str:
    """A DetectResult on its image, at ``threshold`` (default: the one it was run with)."""
    from tlweb.engine.detect import count_by_label
    from tlweb.viz.detect import COUNT_HEADERS, box_colors, count_rows, counts_figure, draw_boxes, summary_html

    t = result.threshold if threshold is None else float(threshold)
    img = _load(image, settings)
    kept = result.kept(t)
    colors = box_colors(result.boxes)
    name = result.spec.hub_id if result.spec.source == "hub" else result.spec.key
    kind = "zero-shot: " + ", ".join(result.queries) if result.zero_shot else "closed set"
    rep = Report("Object detection", f"{name} · {kind} · threshold {t:.2f}", kind="detect")
    rep.section("Detections")
    rep.raw(summary_html(result.boxes, t))
    rep.image(draw_boxes(img, kept, colors=colors), f"{len(kept)} boxes with score ≥ {t:.2f}")
    rep.section("Counts and scores")
    rep.figure(counts_figure(result.boxes, t, colors=colors, title=f"{len(kept)} of {len(result.boxes)} candidate "
                             "boxes kept"))
    rep.table(COUNT_HEADERS, count_rows(count_by_label(kept)), numeric=(1, 2, 3))
    rep.heading("Boxes (original image pixels)")
    rep.table(["label", "score", "x0", "y0", "x1", "y1"],
              [[b.label, f"{b.score:.3f}", *(f"{v:.1f}" for v in b.xyxy)] for b in kept[:200]], numeric=(1, 2, 3, 4, 5))
    _model_sections(rep, [result], [name])
    rep.environment(result.device, result.dtype)
    return rep.render()


# --------------------------------------------------------------------------- explain


def explain_report_html(result, image, settings=None, opacity: float = 0.55) -> str:
    """An ExplainResult on its picture: the map, one map per layer, the channels, the model's top-5."""
    from tlweb.engine.explain import method_name
    from tlweb.viz.classify import topk_bar
    from tlweb.viz.explain import channel_grid, layer_strip, overlay, pca_image

    img = _load(image, settings)
    name = result.spec.hub_id if result.spec.source in ("catalog", "hub") else result.spec.key
    method = method_name(result.method)
    info = result.layer_info
    rep = Report("Explain", f"{name} · {method} · class “{result.target}”"
                 + (" · random weights (sanity check)" if result.random_weights else ""), kind="explain")
    rep.section("Where the model looks", "Red = important for the explained class (class-agnostic methods: for the "
                "model's top-1); the ring marks the peak.")
    rep.image(overlay(img, result.map, opacity), f"{method}" + (f" · {info.label}" if info else ""))
    rep.facts([("method", method + ("" if result.method != "attention" else
                                    f" · head {result.head}" if result.head is not None
                                    else f" · mean of {result.num_heads} heads")),
               ("class", result.target + (" (the model's top-1)" if result.class_agnostic else "")),
               ("layer", f"{info.label} ({info.name}) · output {'×'.join(map(str, info.shape))}" if info else "—"),
               ("peak", f"x {result.map.peak[0]}, y {result.map.peak[1]} of {result.width}×{result.height} px"),
               ("map grid", "×".join(map(str, result.map.grid.shape[::-1])) + " cells")])
    for note in result.notes:
        rep.text(note)
    if result.strip:
        rep.section("Layer by layer", "One small map per layer, the layer nearest the pixels first.")
        rep.image(layer_strip(img, result.strip, opacity))
    if result.channels or result.pca is not None:
        rep.section("Features", "The most active channels of the layer, and its features' first three principal "
                    "components as red, green and blue.")
        rep.raw("<div class='grid'>")
        if result.channels:
            rep.image(channel_grid(result.channels), "most active channels")
        if result.pca is not None:
            rep.image(pca_image(result.pca, img.width, img.height), "PCA of the features as RGB")
        rep.raw("</div>")
    rep.section("The model's top-5")
    rep.figure(topk_bar(result.predictions, title=f"Top-{len(result.predictions)} · {name}"))
    if result.layers:
        rep.heading("Layers")
        rep.table(["#", "layer", "module", "output (one image)"],
                  [[i.index, i.label, i.name, "×".join(map(str, i.shape))] for i in result.layers], numeric=(0,))
    _model_sections(rep, [result], [name])
    rep.environment(result.device, result.dtype)
    return rep.render()
