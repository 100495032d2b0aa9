"""Figures of the Embeddings tab: the leaderboard chart and table, the projector.

- :func:`leaderboard_chart`: accuracy vs latency per image, ±1 standard error bars, the Pareto
  front as a dashed step line, the best trade-off ringed, the zero-shot row as a diamond;
- :func:`leaderboard_rows`: the table;
- :func:`projector_figure`: 2-D embeddings side by side (one panel per projection), one colour per
  class, WebGL (``Scattergl``) or SVG (``Scatter``) points, each panel titled with its k-NN
  accuracy and silhouette. Thumbnails come from one sprite image per panel carried in
  ``layout.meta`` and are shown on hover by :data:`PROJECTOR_JS` (no image travels per point);
- :func:`projector_html`: a self-contained page (plotly.js inline, works offline) with the same
  hover thumbnails and, on click, the point's nearest neighbours.
"""

from __future__ import annotations

import base64
import json
import math

import plotly.graph_objects as go

from tlweb.engine.metrics import percent
from tlweb.viz.common import PALETTE, message_figure, style

ZERO_SHOT_COLOR = "#F97316"
FRONT_COLOR = "#64748B"


def _se(acc: float, n: int) -> float:
    return math.sqrt(max(acc * (1 - acc), 0.0) / max(n, 1))


# --------------------------------------------------------------------------- leaderboard


def leaderboard_chart(result: dict, height: int = 420) -> go.Figure:
    """Accuracy (%) vs latency (ms per image) of each row of ``LeaderboardResult.as_dict()``."""
    rows = [r for r in result.get("rows", []) if not r.get("error") and r.get("latency_ms") is not None
            and (r.get("zero_shot_accuracy") if r.get("kind") == "zero-shot" else r.get("linear_accuracy")) is not None]
    if not rows:
        return message_figure("No model finished: nothing to plot yet", height=height)
    from tlweb.viz.compare import _fraction, _log_ticks, label_positions

    fig = go.Figure()
    best = result.get("best")
    pareto = result.get("pareto") or []
    pts = {}
    lat = [r["latency_ms"] for r in rows]
    log_x = min(lat) > 0 and max(lat) / min(lat) > 5
    accs = [(r["zero_shot_accuracy"] if r.get("kind") == "zero-shot" else r["linear_accuracy"]) * 100 for r in rows]
    x_range = (math.log10(min(lat) / 1.6), math.log10(max(lat) * 1.6)) if log_x else (0.0, max(lat) * 1.15 or 1.0)
    sizes = [16 if r["model"] == best else 12 for r in rows]
    positions = label_positions([_fraction(x, x_range, log_x) for x in lat], [a / 105 for a in accs], sizes,
                                [r["name"] for r in rows])  # None: no free place for every label → a legend
    for i, r in enumerate(rows):
        zs = r.get("kind") == "zero-shot"
        acc = r["zero_shot_accuracy"] if zs else r["linear_accuracy"]
        n = r.get("test_images") or 0
        pts[r["name"]] = (r["latency_ms"], acc * 100)
        kind = "zero-shot" if zs else "linear probe"
        extra = "" if zs else f"<br>k-NN: {percent(r.get('knn_accuracy'), sep='')} (k={r.get('knn_k')})"
        fig.add_trace(go.Scatter(
            x=[r["latency_ms"]], y=[acc * 100], mode="markers+text" if positions else "markers", name=r["name"],
            text=[r["name"]], textposition=positions[i] if positions else None, cliponaxis=False,
            error_y={"type": "data", "array": [_se(acc, n) * 100], "visible": True, "thickness": 1.2, "width": 4},
            marker={"size": sizes[i], "symbol": "diamond" if zs else "circle",
                    "color": ZERO_SHOT_COLOR if zs else PALETTE[i % len(PALETTE)],
                    "line": {"width": 3 if r["model"] == best else 1, "color": "#111827" if r["model"] == best
                             else "white"}},
            customdata=[[kind, round(acc * n), n, r.get("params") or 0, r.get("gflops") or 0.0]],
            hovertemplate=(f"<b>%{{text}}</b> ({kind})<br>accuracy: %{{y:.1f}}% (%{{customdata[1]}}/%{{customdata[2]}} "
                           f"test images, bar = ±1 standard error){extra}<br>latency: %{{x:.3g}} ms per image"
                           "<br>parameters: %{customdata[3]:,}<br>GFLOPs per image: %{customdata[4]:.3g}<extra></extra>"),
        ))
    front = [pts[name] for name in pareto if name in pts]
    if len(front) >= 1:
        xs, ys = [], []
        for j, (x, y) in enumerate(front):
            if j:
                xs.append(x)
                ys.append(front[j - 1][1])
            xs.append(x)
            ys.append(y)
        fig.add_trace(go.Scatter(x=xs, y=ys, mode="lines", name="Pareto front", hoverinfo="skip",
                                 line={"dash": "dash", "color": FRONT_COLOR, "width": 1.5}))
    if log_x:
        fig.update_xaxes(type="log", range=list(x_range), **_log_ticks(10 ** x_range[0], 10 ** x_range[1]))
    else:
        fig.update_xaxes(range=list(x_range))
    fig.update_yaxes(range=[0, 105], ticksuffix="%")
    device = result.get("device") or "?"
    fig = style(fig, title=f"Accuracy vs latency · {result.get('test_images', 0)} test images · {device} "
                f"{result.get('precision', '')}".rstrip(),
                x="latency (ms per image, one image at a time)", y="test accuracy (%)", height=height,
                legend=positions is None)
    if positions is None:  # names in a legend under the chart
        fig.update_layout(legend={"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0, "itemsizing": "constant"})
    return fig


LEADERBOARD_COLUMNS = ["model", "linear probe %", "macro-F1 %", "k-NN % (k)", "zero-shot %", "latency ms / image",
                       "params (M)", "GFLOPs / image", "feature s", "head C (chosen by)", "note"]
LEADERBOARD_WIDTHS = ["16%", "8%", "8%", "8%", "8%", "8%", "7%", "8%", "7%", "11%", "11%"]


def leaderboard_rows(result: dict) -> list[list]:
    """One row per model for the table (failed ones keep their row with the reason)."""
    out = []
    best = result.get("best")
    for r in result.get("rows", []):
        knn = None if r.get("knn_accuracy") is None else f"{r['knn_accuracy'] * 100:.1f}% ({r.get('knn_k')})"
        notes = []
        if r["model"] == best:
            notes.append("★ best trade-off")
        if r.get("cached"):
            notes.append("features from cache")
        if r.get("error"):
            notes.append(r["error"])
        params = r.get("params")
        out.append([
            r.get("name") or r["model"],
            None if r.get("linear_accuracy") is None else round(r["linear_accuracy"] * 100, 1),
            None if r.get("linear_macro_f1") is None else round(r["linear_macro_f1"] * 100, 1),
            knn,
            None if r.get("zero_shot_accuracy") is None else round(r["zero_shot_accuracy"] * 100, 1),
            None if r.get("latency_ms") is None else float(f"{r['latency_ms']:.3g}"),
            None if params is None else float(f"{params / 1e6:.3g}"),
            None if r.get("gflops") is None else float(f"{r['gflops']:.3g}"),
            None if r.get("feature_s") is None else round(r["feature_s"], 2),
            "" if r.get("linear_C") is None else f"{r['linear_C']:.2g} ({r.get('linear_how', '')})",
            " · ".join(notes),
        ])
    return out


# --------------------------------------------------------------------------- projector


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode() if jpeg else ""


def _subtitle(p) -> str:
    sil = "–" if p.silhouette != p.silhouette else f"{p.silhouette:.2f}"
    knn = p.knn or {}
    return (f"<b>{p.title()}</b><br>k-NN accuracy {p.knn_accuracy * 100:.1f}% (k={knn.get('k')}, "
            f"{knn.get('test_images')} test images) · silhouette {sil}")


def projector_figure(projections, webgl: bool = True, height: int = 520) -> go.Figure:
    """Panels side by side, one per projection (same class colours); points carry their index
    (``customdata``) and each trace its panel (``meta``) for the hover and click script."""
    from plotly.subplots import make_subplots

    projections = [p for p in projections if p is not None]
    if not projections:
        return message_figure("Nothing to project yet", height=height)
    n = len(projections)
    fig = make_subplots(rows=1, cols=n, subplot_titles=[_subtitle(p) for p in projections], horizontal_spacing=0.06)
    trace = go.Scattergl if webgl else go.Scatter
    names = projections[0].class_names
    size = 7 if max(p.points for p in projections) <= 1500 else 4
    for k, p in enumerate(projections):
        for c, cname in enumerate(names):
            idx = [i for i, lab in enumerate(p.labels) if lab == c]
            if not idx:
                continue
            fig.add_trace(trace(
                x=[float(p.xy[i][0]) for i in idx], y=[float(p.xy[i][1]) for i in idx], mode="markers", name=cname,
                legendgroup=cname, showlegend=k == 0, meta={"panel": k},
                marker={"size": size, "color": PALETTE[c % len(PALETTE)], "opacity": 0.8,
                        "symbol": "circle"},
                customdata=[[i, p.splits[i]] for i in idx],
                hovertemplate=f"<b>{cname}</b> · %{{customdata[1]}} image · point %{{customdata[0]}}<extra></extra>",
            ), row=1, col=k + 1)
        # PCA: each axis with its share of the variance; t-SNE: say that its distances carry no scale
        ex = p.explained or []
        if p.method == "PCA":
            xt = "PC1" + (f" ({ex[0] * 100:.0f}% of variance)" if len(ex) > 0 else "")
            yt = "PC2" + (f" ({ex[1] * 100:.0f}% of variance)" if len(ex) > 1 else "")
        else:
            xt, yt = "t-SNE 1 (no scale: only neighbours count)", "t-SNE 2"
        fig.update_xaxes(title_text=xt, row=1, col=k + 1, zeroline=False)
        fig.update_yaxes(title_text=yt, row=1, col=k + 1, zeroline=False)
    for ann in fig.layout.annotations:
        ann.font = {"size": 12}
    total = projections[0].total_images
    shown = projections[0].points
    title = (f"{projections[0].method} of the embeddings · {shown:,} points"
             + (f" (a sample of {total:,} images)" if total > shown else "") + " · hover for the picture, click for its "
             "nearest neighbours")
    fig = style(fig, title=title, height=height, legend=True)
    fig.update_layout(margin={"t": 110}, legend={"title": {"text": "class"}},
                      meta={"tl_sprites": [_data_uri(p.sprite) for p in projections],
                            "tl_cols": [p.sprite_cols for p in projections], "tl_thumb": [p.thumb for p in projections],
                            "tl_titles": [p.title() for p in projections], "tl_renderer": "webgl" if webgl else "svg"})
    return fig


# The hover/click script: a floating thumbnail cut from the panel's sprite; a click writes
# "panel:index" into the text box #emb-point (the tab's neighbour view) or, in a standalone page,
# shows the neighbours from layout.meta.tl_neighbours. Installed once per page; polls for plots.
PROJECTOR_JS = r"""
(function(){
  if (window.tlProjector) return;
  window.tlProjector = true;
  function tip(){
    let t = document.getElementById('tl-thumb-tip');
    if (!t) {
      t = document.createElement('div'); t.id = 'tl-thumb-tip';
      t.style.cssText = 'position:fixed;z-index:10000;pointer-events:none;display:none;background:#fff;' +
        'border:1px solid #CBD5E1;border-radius:8px;padding:4px;box-shadow:0 4px 14px rgba(0,0,0,.18);' +
        'font:12px system-ui,sans-serif;color:#111827';
      t.innerHTML = '<div class="img" style="image-rendering:auto"></div><div class="cap"></div>';
      document.body.appendChild(t);
    }
    return t;
  }
  function tile(meta, panel, idx, scale){
    const cols = meta.tl_cols[panel], side = meta.tl_thumb[panel], s = scale || 2;
    const r = Math.floor(idx / cols), c = idx % cols;
    return 'width:' + side*s + 'px;height:' + side*s + 'px;background-image:url(' + meta.tl_sprites[panel] +
      ');background-size:' + cols*side*s + 'px auto;background-position:-' + c*side*s + 'px -' + r*side*s + 'px';
  }
  function attach(gd){
    // Plotly re-creates gd._ev when the app redraws the figure from scratch: attach again then
    if (!gd || typeof gd.on !== 'function' || (gd._ev && gd.__tlEv === gd._ev)) return;
    gd.__tlEv = gd._ev;
    gd.on('plotly_hover', function(ev){
      const meta = (gd.layout && gd.layout.meta) || {}; if (!meta.tl_sprites) return;
      const p = ev.points[0], panel = (p.data.meta && p.data.meta.panel) || 0, idx = p.customdata[0];
      const t = tip(); t.querySelector('.img').style.cssText = tile(meta, panel, idx, 2);
      t.querySelector('.cap').textContent = p.data.name + ' · point ' + idx;
      const e = ev.event || {}; t.style.left = ((e.clientX || 0) + 16) + 'px'; t.style.top = ((e.clientY || 0) + 16) + 'px';
      t.style.display = 'block';
    });
    gd.on('plotly_unhover', function(){ tip().style.display = 'none'; });
    gd.on('plotly_click', function(ev){
      const p = ev.points[0], panel = (p.data.meta && p.data.meta.panel) || 0, idx = p.customdata[0];
      const box = document.querySelector('#emb-point textarea, #emb-point input');
      if (box) {
        box.value = panel + ':' + idx;
        box.dispatchEvent(new Event('input', {bubbles: true}));
        setTimeout(function(){ const b = document.getElementById('emb-point-btn'); if (b) b.click(); }, 80);
        return;
      }
      const meta = (gd.layout && gd.layout.meta) || {}, out = document.getElementById('tl-neighbours');
      if (!out || !meta.tl_neighbours) return;
      const ids = [idx].concat(meta.tl_neighbours[panel][idx] || []);
      out.innerHTML = '<b>' + meta.tl_titles[panel] + '</b>: point ' + idx + ' and its nearest neighbours<br>' +
        ids.map(function(j, k){ return '<span style="display:inline-block;margin:4px;text-align:center">' +
          '<span style="display:block;' + tile(meta, panel, j, 2) + '"></span>' + (k ? 'neighbour ' + k : 'selected') +
          '<br>' + meta.tl_labels[panel][j] + '</span>'; }).join('');
    });
  }
  setInterval(function(){ document.querySelectorAll('.js-plotly-plot').forEach(attach); }, 500);
})();
"""


def projector_html(projections, webgl: bool = True, title: str = "tlweb projector") -> str:
    """A self-contained HTML page: the projector figure (plotly.js inline, no network), hover
    thumbnails and, on click, the nearest neighbours of the clicked point."""
    fig = projector_figure(projections, webgl=webgl, height=620)
    meta = dict(fig.layout.meta or {})
    meta["tl_neighbours"] = [[[int(v) for v in row] for row in p.neighbours] for p in projections]
    meta["tl_labels"] = [[p.class_names[lab] for lab in p.labels] for p in projections]
    fig.update_layout(meta=meta)
    body = fig.to_html(include_plotlyjs=True, full_html=False, div_id="tl-projector",
                      config={"displaylogo": False, "responsive": True})
    facts = json.dumps([p.as_dict() for p in projections], indent=1)
    return ("<!doctype html><html><head><meta charset='utf-8'><title>" + title + "</title></head>"
            "<body style='font-family:system-ui,sans-serif;margin:16px'>" + body +
            "<div id='tl-neighbours' style='margin-top:10px'>Click a point to see its nearest neighbours.</div>"
            "<details><summary>Numbers</summary><pre>" + facts.replace("<", "&lt;") + "</pre></details>"
            "<script>" + PROJECTOR_JS + "</script></body></html>")
