"""Fine-tuning figures: class counts, live curves, confusion matrix, per-class bars, the strategy
ladder, data-efficiency curves and the runs table.

Every function takes plain data (dicts, or engine objects with ``as_dict()`` / attributes) and returns
a plotly figure or table rows; nothing here imports gradio or touches the engine's heavy modules.
Accuracies and F1 arrive as fractions (0..1) and are shown as percentages.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from tlweb.engine.runs import ExperimentInfo, short_model
from tlweb.engine.train.baseline import ZERO_SHOT_KIND
from tlweb.engine.train.strategies import all_strategies, get_strategy
from tlweb.errors import TlwebError
from tlweb.viz.cards import facts_card as facts_html  # noqa: F401 - the Fine-tune tab calls these names
from tlweb.viz.cards import score_cards as score_cards_html
from tlweb.viz.common import HEAT_SCALE, PALETTE, TEXT, heat_labels, style
from tlweb.viz.uncertainty import SMALL_TEST, small_sample_note, wilson_interval

# One colour and one name per strategy, the same in every chart: read from the strategy registry.
STRATEGY_COLORS = {s.name: s.color for s in all_strategies()}
STRATEGY_LABELS = {s.name: s.legend for s in all_strategies()}
STRATEGY_SHORT = {s.name: s.short for s in all_strategies()}
TRAIN_COLOR = PALETTE[0]
VAL_COLOR = PALETTE[1]
ACC_COLOR = PALETTE[2]
LIGHT = "#A5B4FC"
PCT_TICKS = [0, 20, 40, 60, 80, 100]
PCT_TEXT = [f"{t}%" for t in PCT_TICKS]
ZERO_SHOT_COLOR = "#DB2777"  # pink: no strategy's colour (scratch is orange), and not the chance line's grey


def as_dict(obj) -> dict:
    """A plain dict from a dict, an object with ``as_dict()``, a dataclass, or any object's attributes."""
    if obj is None:
        return {}
    if isinstance(obj, Mapping):
        return dict(obj)
    if hasattr(obj, "as_dict") and callable(obj.as_dict):
        d = dict(obj.as_dict())
        # as_dict() may drop fields that the charts want (wall time, metrics); take them from attributes.
        for name in ("wall_s", "strategy", "run_id", "test_accuracy", "test_macro_f1", "train_images",
                     "test_images", "val_images", "selection", "stopped", "metrics", "base_model"):
            if name not in d and hasattr(obj, name):
                d[name] = getattr(obj, name)
        return d
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: getattr(obj, f.name) for f in dataclasses.fields(obj)}
    return dict(vars(obj))


def _num(value) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if math.isfinite(out) else None


def _percent_value(value) -> float | None:
    v = _num(value)
    return None if v is None else v * 100.0


def _strategy(name: str):
    try:
        return get_strategy(name)
    except Exception:  # noqa: BLE001 - an old run's strategy that is no longer registered
        return None


def strategy_color(strategy: str, i: int = 0) -> str:
    s = _strategy(strategy)
    return s.color if s else PALETTE[(i + 6) % len(PALETTE)]


def strategy_short(strategy: str) -> str:
    s = _strategy(strategy)
    return s.short if s else str(strategy)


def strategy_legend(strategy: str) -> str:
    s = _strategy(strategy)
    return s.legend if s else str(strategy)


def _empty_axes_note(fig: go.Figure, text: str) -> None:
    fig.add_annotation(text=text, x=0.5, y=0.5, xref="paper", yref="paper", showarrow=False,
                       font={"size": 14, "color": "#64748B"})


# --------------------------------------------------------------------------------------------
# Data


def class_counts_bar(counts: Mapping[str, Mapping[str, int]], title: str | None = "Images per class",
                     height: int | None = None) -> go.Figure:
    """Grouped bars of train / test images per class (``PreparedData.counts()``), before training."""
    splits = [s for s in ("train", "validation", "test") if s in counts] + \
             [s for s in counts if s not in ("train", "validation", "test")]
    classes: list[str] = []
    for split in splits:
        for name in counts[split]:
            if name not in classes:
                classes.append(name)
    colors = {"train": PALETTE[0], "test": PALETTE[1], "validation": PALETTE[2]}
    fig = go.Figure()
    for i, split in enumerate(splits):
        values = [int(counts[split].get(c, 0)) for c in classes]
        total = sum(values)
        fig.add_trace(go.Bar(
            x=classes, y=values, name=f"{split} ({total:,})",
            marker_color=colors.get(split, PALETTE[(i + 3) % len(PALETTE)]),
            text=[f"{v:,}" for v in values], textposition="outside", cliponaxis=False,
            hovertemplate="%{x}<br>" + split + ": %{y:,} images<extra></extra>",
        ))
    if not classes:
        _empty_axes_note(fig, "No classes yet")
    fig.update_layout(barmode="group", bargap=0.25, legend={"orientation": "h", "y": 1.02, "yanchor": "bottom",
                                                             "x": 1, "xanchor": "right"})
    fig.update_xaxes(type="category", automargin=True, tickangle=-30 if len(classes) > 8 else 0)
    fig.update_yaxes(rangemode="tozero")
    return style(fig, title=title, x="class", y="images", height=height or 320)


# --------------------------------------------------------------------------------------------
# Live curves


def _run_key(ev: dict) -> str:
    return str(ev.get("run_id") or ev.get("strategy") or "run")


def _add_eval_trace(fig, evals: list[dict], metric: str, col: int, unit: str, name: str, key: str,
                    color: str | None, several: bool, on_test: bool, by_c: bool = False) -> bool:
    """One per-epoch line (validation loss, or accuracy in %) of one run; False when it has no point.
    ``by_c``: a linear probe's sweep drawn against its regularization strength C."""
    field = f"val_{metric}"
    points = [e for e in evals if _num(e.get(field)) is not None]
    if not points:
        return False
    cv = any(e.get("eval_split") == "cross-validation" for e in points)
    split_word = "test (monitoring)" if on_test else "cross-val" if cv else "val"
    sweep = by_c or _is_sweep(points)
    per = " (per C)" if sweep else " (per epoch)" if metric == "loss" else ""
    single = (f"test {metric} (monitoring only)" if on_test
              else f"{'cross-validation' if cv else 'validation'} {metric}{per}")
    accuracy = metric == "accuracy"
    fig.add_trace(go.Scatter(
        x=[_x(e, by_c) for e in points],
        y=[_percent_value(e.get(field)) if accuracy else _num(e.get(field)) for e in points],
        mode="lines+markers", name=f"{name} · {split_word} {metric}" if several else single,
        line={"color": color or (ACC_COLOR if accuracy else VAL_COLOR), "width": 2.4,
              "dash": "dot" if several and not accuracy else "solid"},
        marker={"size": 8 if accuracy else 7}, legendgroup=key,
        hovertemplate=_x_hover(points, by_c) + "<br>" + split_word
                      + f" {metric} %{{y:{'.1f' if accuracy else '.4f'}}}{unit}<extra>" + name + "</extra>",
    ), row=1, col=col)
    return True


def _is_sweep(events: list[dict]) -> bool:
    """A linear probe's regularization sweep (its events carry C) rather than epochs of training."""
    return any(_num(e.get("C")) is not None for e in events)


def _x(ev: dict, by_c: bool) -> float | None:
    return _num(ev.get("C")) if by_c else _num(ev.get("epoch"))


def _x_hover(events: list[dict], by_c: bool) -> str:
    if by_c:
        return "C = %{x:.3g}"
    return "point %{x:.0f} of the C sweep" if _is_sweep(events) else "epoch %{x:.2f}"


def training_curves(events: Iterable, title: str | None = "Training curves", height: int = 360) -> go.Figure:
    """Loss (train per step, validation per epoch) and validation accuracy against epochs; a linear
    probe reports its regularization sweep instead (events with ``C``), drawn against C.

    ``events`` are TrainEvent objects or their dicts, in the order they happened, from one run or
    several (a ladder): each run gets its own colour, labelled by strategy.
    """
    evs = [as_dict(e) for e in events]
    runs: dict[str, list[dict]] = {}
    for ev in evs:
        runs.setdefault(_run_key(ev), []).append(ev)
    # linear probes report a sweep over the regularization C, not epochs: alone, they are drawn
    # against C; beside networks, against the number of the sweep's point (the x title says so)
    sweeps = [key for key, items in runs.items() if _is_sweep(items)]
    by_c = bool(runs) and len(sweeps) == len(runs)
    fig = make_subplots(rows=1, cols=2, horizontal_spacing=0.1, subplot_titles=(
        "Loss (lower is better)", "Held-out accuracy per C (higher is better)" if by_c
        else "Validation accuracy (higher is better)"))
    several = len(runs) > 1
    any_point = False
    for i, (key, items) in enumerate(runs.items()):
        strategy = str(items[0].get("strategy") or key)
        name = strategy_short(strategy)
        color = strategy_color(strategy, i) if several else None
        steps = [e for e in items if _num(e.get("train_loss")) is not None and e.get("kind") in ("step", None)]
        evals = [e for e in items if _num(e.get("val_loss")) is not None or _num(e.get("val_accuracy")) is not None]
        evals = [e for e in evals if e.get("kind") in ("eval", "done", "stopped", None)]
        # one point per epoch mark: the last eval wins when the same epoch is reported twice
        by_epoch: dict[float, dict] = {}
        for e in evals:
            by_epoch[round(_num(e.get("epoch")) or 0.0, 4)] = e
        evals = [by_epoch[k] for k in sorted(by_epoch)]
        if steps:
            any_point = True
            sweep = key in sweeps
            fig.add_trace(go.Scatter(
                x=[_x(e, by_c) for e in steps], y=[_num(e.get("train_loss")) for e in steps],
                mode="lines+markers" if sweep else "lines",
                name=f"{name} · train loss" if several else
                "train loss + L2 term (per C)" if sweep else "train loss (per step)",
                line={"color": color or TRAIN_COLOR, "width": 1.6}, opacity=0.75 if several else 0.9,
                legendgroup=key,
                hovertemplate=_x_hover(steps, by_c) + "<br>train loss %{y:.4f}<extra>" + name + "</extra>",
            ), row=1, col=1)
        # without a validation hold-out (tiny data) the per-epoch evals ran on the test split,
        # for monitoring only: say so in the legend
        on_test = bool(evals) and all(e.get("eval_split") == "test" for e in evals)
        for metric, col, unit in (("loss", 1, ""), ("accuracy", 2, "%")):
            any_point |= _add_eval_trace(fig, evals, metric, col, unit, name, key, color, several, on_test, by_c)
    if by_c:  # a short title on each of the two axes (a long one ran into its neighbour in a narrow column)
        fig.update_xaxes(title_text="regularization C (log scale)", type="log")
    else:
        x_title = "epoch (linear probe: point of its C sweep)" if sweeps else "epoch"
        fig.update_xaxes(title_text=x_title, rangemode="tozero", row=1, col=1)
        fig.update_xaxes(title_text=x_title, rangemode="tozero", row=1, col=2)
    fig.update_yaxes(title_text="cross-entropy loss", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title_text="accuracy (%)", range=[0, 102], ticksuffix="%", row=1, col=2)
    style(fig, title=title, height=height)
    fig.update_layout(legend={"orientation": "h", "y": -0.22, "yanchor": "top", "x": 0, "xanchor": "left"},
                      margin={"b": 90})
    if by_c and title:
        fig.update_layout(title={"subtitle": {"text": "linear probe: a regularization sweep over C (a smaller C "
                                                      "regularizes more)", "font": {"size": 12}}}, margin={"t": 78})
    if not any_point:
        _empty_axes_note(fig, "Curves appear here while training runs")
    return fig


# --------------------------------------------------------------------------------------------
# Evaluation


def confusion_heatmap(matrix, class_names: list[str], title: str | None = "Confusion matrix (test set)",
                      height: int | None = None) -> go.Figure:
    """Rows are true classes, columns predicted; colour and text show row-normalised % and counts."""
    counts = [[int(v) for v in row] for row in (matrix or [])]
    n = len(counts)
    names = [str(c) for c in class_names][:n] if class_names else [f"class {i}" for i in range(n)]
    names += [f"class {i}" for i in range(len(names), n)]
    pct = []
    for row in counts:
        total = sum(row)
        pct.append([100.0 * v / total if total else 0.0 for v in row])
    text = [[f"{c}<br>{p:.0f}%" for c, p in zip(crow, prow)] for crow, prow in zip(counts, pct)]
    fig = go.Figure(go.Heatmap(
        z=pct, x=names, y=names, customdata=counts, text=text if n <= 20 else None,  # (drawn by heat_labels)
        colorscale=HEAT_SCALE, zmin=0, zmax=100, xgap=2, ygap=2,
        colorbar={"title": {"text": "% of row"}, "ticksuffix": "%", "thickness": 12},
        hovertemplate="true %{y} → predicted %{x}<br>%{customdata} images (%{z:.1f}% of true %{y})<extra></extra>",
    ))
    if n <= 20:
        heat_labels(fig, names, names, pct, text, size=13 if n <= 8 else 11)
    fig.update_yaxes(autorange="reversed", type="category", automargin=True)
    fig.update_xaxes(type="category", automargin=True, side="bottom", tickangle=-30 if n > 6 else 0)
    side = max(320, min(720, 60 * n + 160))
    return style(fig, title=title, x="predicted class", y="true class", height=height or side, legend=False)


def per_class_bars(per_class: Mapping[str, Mapping[str, float]], title: str | None = "Per-class precision and recall",
                   height: int | None = None) -> go.Figure:
    """Grouped bars of precision and recall (%) per class, support in the hover."""
    names = list(per_class)
    prec = [_percent_value(per_class[c].get("precision")) or 0.0 for c in names]
    rec = [_percent_value(per_class[c].get("recall")) or 0.0 for c in names]
    support = [int(per_class[c].get("support") or 0) for c in names]
    fig = go.Figure()
    fig.add_trace(go.Bar(x=names, y=prec, name="precision", marker_color=PALETTE[0], customdata=support,
                         text=[f"{v:.0f}%" for v in prec], textposition="outside", cliponaxis=False,
                         hovertemplate="%{x}<br>precision %{y:.1f}%<br>%{customdata} test images<extra></extra>"))
    fig.add_trace(go.Bar(x=names, y=rec, name="recall", marker_color=PALETTE[1], customdata=support,
                         text=[f"{v:.0f}%" for v in rec], textposition="outside", cliponaxis=False,
                         hovertemplate="%{x}<br>recall %{y:.1f}%<br>%{customdata} test images<extra></extra>"))
    fig.update_layout(barmode="group", bargap=0.25,
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"})
    fig.update_xaxes(type="category", automargin=True, tickangle=-30 if len(names) > 8 else 0)
    fig.update_yaxes(range=[0, 112], tickvals=PCT_TICKS, ticktext=PCT_TEXT)
    return style(fig, title=title, x="class", y="score on the test set (%)", height=height or 340)


def metrics_html(result, elapsed_s: float | None = None) -> str:
    """Summary of a finished run (RunResult or its dict): score cards and the run's facts."""
    d = as_dict(result)
    acc, f1 = _percent_value(d.get("test_accuracy")), _percent_value(d.get("test_macro_f1"))
    strategy = str(d.get("strategy", ""))
    wall = _num(d.get("wall_s")) if elapsed_s is None else elapsed_s
    n_test = int(d.get("test_images") or 0)
    small = acc is not None and 0 < n_test < SMALL_TEST
    if small:  # a few test images: the count and a 95 % Wilson interval go with the number
        k = round(acc / 100 * n_test)
        lo, hi = wilson_interval(k, n_test)
        acc_card = (f"{acc:.0f}%", f"test accuracy · {k} of {n_test} test images · 95% interval "
                                   f"{lo * 100:.0f}–{hi * 100:.0f}%")
    else:
        acc_card = (f"{acc:.1f}%" if acc is not None else "–", "test accuracy")
    cards = [
        (*acc_card, PALETTE[0]),
        (f"{f1:.1f}%" if f1 is not None else "–", "macro-F1", PALETTE[2]),
    ]
    if wall is not None:
        cards.append((f"{wall:,.1f} s", "wall time", PALETTE[1]))
    rows = [
        ("strategy", strategy_legend(strategy)),
        ("base model", short_model(d.get("base_model", "?"))),
        ("images", f"{int(d.get('train_images') or 0):,} train · "
                   + (f"{int(d['val_images']):,} validation · " if d.get("val_images") else "")
                   + f"{int(d.get('test_images') or 0):,} test"),
    ]
    if d.get("selection"):
        rows.append(("model kept", str(d["selection"])))
    if d.get("run_id"):
        rows.append(("run", d["run_id"]))
    out = score_cards_html(cards) + facts_html(rows, code=("run", "base model"),
                                               notes=[small_sample_note(n_test)] if small else ())
    if d.get("stopped"):
        kept = "the best model so far" if d.get("selection") == "best validation epoch" else "the model so far"
        out += f"<p style='font-size:0.9em; opacity:0.8'>Stopped early: {kept} was kept.</p>"
    return out


def mistake_captions(mistakes: Iterable) -> list[tuple[str, str]]:
    """(image path, "true → predicted (confidence)") pairs for a gallery."""
    out = []
    for m in mistakes or []:
        d = as_dict(m)
        conf = _percent_value(d.get("confidence"))
        cap = f"{d.get('true', '?')} → {d.get('pred', '?')}" + (f" ({conf:.0f}%)" if conf is not None else "")
        out.append((str(d.get("image")), cap))
    return out


# --------------------------------------------------------------------------------------------
# Comparisons: the strategy ladder and data efficiency


def _spread(rows: list[dict], key) -> list[dict]:
    """Rows grouped by ``key(row)`` (in first-seen order): the mean, min and max of test accuracy
    and macro-F1 over the group's runs (seeds), how many ran, and the group's first row's fields."""
    groups: dict = {}
    for r in rows:
        if _num(r.get("test_accuracy")) is None:
            continue
        groups.setdefault(key(r), []).append(r)
    out = []
    for k, items in groups.items():
        acc = [_num(r["test_accuracy"]) for r in items]
        f1 = [_num(r.get("test_macro_f1")) for r in items if _num(r.get("test_macro_f1")) is not None]
        walls = [_num(r.get("wall_s")) for r in items if _num(r.get("wall_s")) is not None]
        tests = [int(r["test_images"]) for r in items if _num(r.get("test_images"))]
        out.append({**items[0], "key": k, "n": len(items), "acc": sum(acc) / len(acc), "acc_min": min(acc),
                    "acc_max": max(acc), "f1": sum(f1) / len(f1) if f1 else None,
                    "f1_min": min(f1) if f1 else None, "f1_max": max(f1) if f1 else None,
                    "wall_s": sum(walls) / len(walls) if walls else None, "test_images": min(tests) if tests else None,
                    "stopped": any(r.get("stopped") for r in items)})
    return out


def _error_bars(groups: list[dict], field: str, color: str = "#334155") -> dict | None:
    """Min–max error bars (in %) around each group's mean, when some group ran more than once."""
    if not any(g["n"] > 1 for g in groups):
        return None
    mean = [(g[field] or 0) * 100 for g in groups]
    return {"type": "data", "symmetric": False, "thickness": 1.6, "width": 6, "color": color,
            "array": [((g[f"{field}_max"] or 0) * 100 - m) for g, m in zip(groups, mean)],
            "arrayminus": [(m - (g[f"{field}_min"] or 0) * 100) for g, m in zip(groups, mean)]}


def _subtitle(fig: go.Figure, groups: list[dict], spread: str) -> go.Figure:
    """A subtitle under the title when each point is a mean over seeds (``spread``: how the min–max
    is drawn), and when the scores come from fewer than 20 test images (how wide a 95 % interval is)."""
    notes = []
    n = max((g["n"] for g in groups), default=1)
    if n > 1:
        notes.append(f"mean of {n} seeds; {spread}: min–max")
    tests = [g["test_images"] for g in groups if g.get("test_images")]
    if tests and min(tests) < SMALL_TEST:
        k = min(tests)
        lo, hi = wilson_interval(round(0.5 * k), k)
        notes.append(f"only {k} test images: a score near 50 % has a 95 % interval of {lo * 100:.0f}–{hi * 100:.0f} %")
    if notes and fig.layout.title.text:
        fig.update_layout(title={"subtitle": {"text": " · ".join(notes), "font": {"size": 12}}}, margin={"t": 78})
    return fig


def ladder_chart(results: Iterable, title: str | None = "Strategy ladder: same data, same budget",
                 height: int = 400, chance: float | None = None) -> go.Figure:
    """Test accuracy and macro-F1 (%) per strategy as grouped bars; wall time and images on hover.

    ``results`` are RunResult objects or dicts with strategy, test_accuracy, test_macro_f1 and
    optionally wall_s, train_images, test_images. A strategy run with several seeds is one bar at
    the mean with min–max error bars. ``chance`` (0..1) draws the 1/classes guessing line.
    """
    groups = _spread([as_dict(r) for r in results], lambda r: str(r.get("strategy")))
    names = [strategy_short(str(g["strategy"])) for g in groups]
    acc = [g["acc"] * 100 for g in groups]
    f1 = [g["f1"] * 100 if g["f1"] is not None else None for g in groups]
    custom = [[f"{g['wall_s']:,.1f} s" if g["wall_s"] is not None else "?",
               f"{int(g['train_images']):,}" if g.get("train_images") is not None else "?",
               strategy_legend(str(g["strategy"])), " (stopped early)" if g["stopped"] else "",
               (f"<br>{g['n']} seeds: min {g['acc_min'] * 100:.1f}%, max {g['acc_max'] * 100:.1f}%"
                if g["n"] > 1 else "")]
              for g in groups]
    colors = [strategy_color(str(g["strategy"]), i) for i, g in enumerate(groups)]
    hover = ("<b>%{customdata[2]}</b>%{customdata[3]}<br>%{fullData.name}: %{y:.1f}%%{customdata[4]}"
             "<br>wall time %{customdata[0]} per run<br>%{customdata[1]} training images<extra></extra>")
    fig = go.Figure()
    # values written up the bars (vertical text keeps its size in a narrow bar; plotly shrank "96.9%" above a
    # 30 px bar to 7 px), white on the accuracy bar, in the chart's text colour on the lighter macro-F1 bar
    values = {"textposition": "inside", "insidetextanchor": "end", "textangle": -90, "cliponaxis": False}
    fig.add_trace(go.Bar(x=names, y=acc, name="test accuracy", marker={"color": colors}, customdata=custom,
                         error_y=_error_bars(groups, "acc"), text=[f"{v:.1f}%" for v in acc],
                         insidetextfont={"color": "#FFFFFF"}, hovertemplate=hover, offsetgroup="acc", **values))
    fig.add_trace(go.Bar(x=names, y=f1, name="macro-F1", marker={"color": colors, "opacity": 0.55,
                                                                 "pattern": {"shape": "/", "fgcolor": "white",
                                                                             "solidity": 0.3},
                                                                 "line": {"color": colors, "width": 1.5}},
                         error_y=_error_bars(groups, "f1"),
                         customdata=custom, text=[f"{v:.1f}%" if v is not None else "" for v in f1],
                         insidetextfont={"color": TEXT}, hovertemplate=hover, offsetgroup="f1", **values))
    # wall time under each strategy name
    fig.update_xaxes(type="category", tickmode="array", tickvals=names,
                     ticktext=[f"<b>{n}</b><br><span style='font-size:11px;color:#64748B'>{c[0]}</span>"
                               for n, c in zip(names, custom)])
    if chance is not None and groups:
        fig.add_hline(y=chance * 100, line_dash="dash", line_color="#94A3B8",
                      annotation_text=f"chance {chance * 100:.0f}%", annotation_position="top left",
                      annotation_font_color="#64748B", annotation_bgcolor="rgba(255,255,255,0.85)")
    if not groups:
        _empty_axes_note(fig, "Run the ladder to compare strategies")
    fig.update_layout(barmode="group", bargap=0.3, bargroupgap=0.06, uniformtext={"minsize": 11, "mode": "show"},
                      legend={"orientation": "h", "y": 1.02, "yanchor": "bottom", "x": 1, "xanchor": "right"})
    fig.update_yaxes(range=[0, 112], tickvals=PCT_TICKS, ticktext=PCT_TEXT)
    fig = style(fig, title=title, x="strategy (wall time per run below)", y="score on the test set (%)",
                height=height)
    return _subtitle(fig, groups, "error bars")


def _rgba(color: str, alpha: float) -> str:
    c = color.lstrip("#")
    return f"rgba({int(c[0:2], 16)}, {int(c[2:4], 16)}, {int(c[4:6], 16)}, {alpha})" if len(c) == 6 else color


def efficiency_curves(rows: Iterable, title: str | None = "Data efficiency: accuracy vs images per class",
                      height: int = 400, chance: float | None = None, zero_shot: Mapping | None = None) -> go.Figure:
    """Test accuracy (%) against images per class (log x), one line per strategy through the mean
    over seeds, in a band from the worst to the best seed.

    ``rows`` are ``data_efficiency()`` rows: {"strategy", "per_class", "seed", "train_images", "test_accuracy", …}.
    ``zero_shot`` (or a ``{"kind": "zero-shot", …}`` row among ``rows``): the CLIP/SigLIP baseline
    from the class names alone, drawn as a dashed horizontal line of its own colour.
    """
    rows = [as_dict(r) for r in rows]
    zero_shot = as_dict(zero_shot) or next((r for r in rows if r.get("kind") == ZERO_SHOT_KIND), None)
    groups = _spread([r for r in rows if r.get("kind") != ZERO_SHOT_KIND and _num(r.get("per_class")) is not None],
                     lambda r: (str(r.get("strategy")), _num(r.get("per_class"))))
    by_strategy: dict[str, list[dict]] = {}
    for g in groups:
        by_strategy.setdefault(str(g["strategy"]), []).append(g)
    fig = go.Figure()
    xs_all: set[float] = set()
    for i, (strategy, items) in enumerate(by_strategy.items()):
        items = sorted(items, key=lambda g: _num(g["per_class"]))
        xs = [_num(g["per_class"]) for g in items]
        xs_all.update(xs)
        color = strategy_color(strategy, i)
        known = _strategy(strategy)
        label = (known.curve_label or known.legend) if known else strategy
        if any(g["n"] > 1 for g in items):  # the band: best seed on top, worst below, filled between
            fig.add_trace(go.Scatter(x=xs, y=[g["acc_max"] * 100 for g in items], mode="lines",
                                     line={"width": 0, "color": color}, hoverinfo="skip", showlegend=False,
                                     legendgroup=strategy))
            fig.add_trace(go.Scatter(x=xs, y=[g["acc_min"] * 100 for g in items], mode="lines",
                                     line={"width": 0, "color": color}, fill="tonexty",
                                     fillcolor=_rgba(color, 0.18), hoverinfo="skip", showlegend=False,
                                     legendgroup=strategy))
        custom = [[int(g.get("train_images") or 0), (g["f1"] or 0) * 100, g["n"], g["acc_min"] * 100,
                   g["acc_max"] * 100] for g in items]
        spread = "<br>%{customdata[2]} seeds: min %{customdata[3]:.1f}%, max %{customdata[4]:.1f}%" \
            if any(g["n"] > 1 for g in items) else ""
        fig.add_trace(go.Scatter(
            x=xs, y=[g["acc"] * 100 for g in items], mode="lines+markers+text", name=label, legendgroup=strategy,
            line={"color": color, "width": 3}, marker={"size": 10, "color": color, "line": {"color": "white", "width": 1.5}},
            text=[f"{g['acc'] * 100:.0f}%" for g in items],
            textposition="top center" if i == 0 else "bottom center",  # labels of two close lines don't collide
            textfont={"color": color, "size": 11}, customdata=custom,
            hovertemplate=("<b>" + label + "</b><br>%{x} images per class (%{customdata[0]} total)"
                           "<br>test accuracy %{y:.1f}% (mean)" + spread +
                           "<br>macro-F1 %{customdata[1]:.1f}%<extra></extra>"),
        ))
    if chance is not None and by_strategy:
        fig.add_hline(y=chance * 100, line_dash="dash", line_color="#94A3B8",
                      annotation_text=f"chance {chance * 100:.0f}%", annotation_position="bottom right",
                      annotation_font_color="#64748B")
    if not by_strategy:
        _empty_axes_note(fig, "Run the data-efficiency curve to see accuracy vs images per class")
    ticks = sorted(xs_all)
    fig.update_xaxes(type="log", tickvals=ticks or None, ticktext=[f"{t:g}" for t in ticks] or None)
    if ticks or zero_shot:
        lo, hi = math.log10(min(ticks or [1])), math.log10(max(ticks or [10]))
        pad = max(0.08, (hi - lo) * 0.06)
        fig.update_xaxes(range=[lo - pad, hi + pad])
        if zero_shot and _num(zero_shot.get("test_accuracy")) is not None:
            def at(x):  # the points' accuracies (%) at one end of the x axis
                return [g["acc"] * 100 for g in groups if ticks and _num(g["per_class"]) == x]

            right = at(max(ticks or [0])) + ([chance * 100] if chance is not None else [])
            _zero_shot_line(fig, zero_shot, lo - pad, hi + pad, at(min(ticks or [0])), right)
    fig.update_yaxes(range=[0, 108], tickvals=PCT_TICKS, ticktext=PCT_TEXT)
    fig = style(fig, title=title, x="training images per class (log scale)", y="test accuracy (%)", height=height)
    # the legend under the x axis: above the plot it would run into the title and its subtitle
    fig.update_layout(legend={"orientation": "h", "y": -0.2, "yanchor": "top", "x": 0, "xanchor": "left"},
                      margin={"b": 96})
    return _subtitle(fig, groups, "shaded band")


def zero_shot_label(zs: Mapping) -> str:
    """"zero-shot demo-clip (random weights): 0 images · 25%" — the baseline's legend entry."""
    note = " (random weights)" if zs.get("random_weights") else ""
    return f"zero-shot {short_model(str(zs.get('model') or '?'))}{note}: 0 images · {zs['test_accuracy'] * 100:.0f}%"


def zero_shot_sentence(rows: Iterable, zs: Mapping | None = None) -> str:
    """"zero-shot demo-clip (random weights): 25.0% (3 of 12 test images); linear probe first beats it at 2
    images per class; from scratch never beats it (up to 5 per class)" — where each strategy's mean
    (over seeds) first overtakes the baseline."""
    rows = [as_dict(r) for r in rows]
    zs = as_dict(zs) or next((r for r in rows if r.get("kind") == ZERO_SHOT_KIND), {})
    if _num(zs.get("test_accuracy")) is None:
        return ""
    acc, n, correct = float(zs["test_accuracy"]), int(zs.get("test_images") or 0), zs.get("correct")
    count = f"{int(correct)} of {n} test images" if correct is not None and n else f"{n} test images"
    note = " (random weights)" if zs.get("random_weights") else ""
    parts = [f"zero-shot {short_model(str(zs.get('model') or '?'))}{note}: {acc * 100:.1f}% ({count})"]
    groups = _spread([r for r in rows if r.get("kind") != ZERO_SHOT_KIND and _num(r.get("per_class")) is not None],
                     lambda r: (str(r.get("strategy")), _num(r.get("per_class"))))
    for strategy in dict.fromkeys(str(g["strategy"]) for g in groups):
        points = sorted((_num(g["per_class"]), g["acc"]) for g in groups if str(g["strategy"]) == strategy)
        above = next((k for k, a in points if a > acc), None)
        name = strategy_short(strategy)
        parts.append(f"{name} first beats it at {above:g} image{'s' if above != 1 else ''} per class" if above is not None
                     else f"{name} never beats it (up to {points[-1][0]:g} per class)")
    return "; ".join(parts)


def _zero_shot_line(fig: go.Figure, zs: Mapping, x0: float, x1: float, left=(), right=()) -> None:
    """The dashed baseline across the whole x range (points along it, so hovering anywhere answers),
    labelled above its left end, or its right end when points' labels (``left``/``right``: their
    y at each end, %) crowd the left one; the legend names it when both ends are crowded (the chance
    line's label, below its right end, counts in ``right``)."""
    acc = float(zs["test_accuracy"]) * 100
    n, correct = int(zs.get("test_images") or 0), zs.get("correct")
    count = f"{int(correct)} of {n} test images right" if correct is not None and n else f"{n} test images"
    f1 = _num(zs.get("test_macro_f1"))
    prompts = len(zs.get("templates") or []) or 1
    xs = [10 ** (x0 + (x1 - x0) * i / 40) for i in range(41)]
    hover = (f"<b>{zero_shot_label(zs)}</b><br>no training image: the class names alone, {prompts} prompt "
             f"template{'s' if prompts > 1 else ''} averaged<br>test accuracy {acc:.1f}% ({count})"
             + (f"<br>macro-F1 {f1 * 100:.1f}%" if f1 is not None else "") + "<extra></extra>")
    fig.add_trace(go.Scatter(x=xs, y=[acc] * len(xs), mode="lines", name=zero_shot_label(zs), legendgroup="zero-shot",
                             line={"color": ZERO_SHOT_COLOR, "width": 2.5, "dash": "dash"}, hovertemplate=hover,
                             meta={"kind": ZERO_SHOT_KIND}, legendrank=2000))  # last in the legend …
    fig.data = (fig.data[-1], *fig.data[:-1])  # … but drawn first: the points' labels stay on top of it
    side = next((s for s, ys in (("left", left), ("right", right)) if all(abs(y - acc) > 9 for y in ys)), None)
    if side is not None:
        fig.add_annotation(x=x0 if side == "left" else x1, y=acc, xref="x", yref="y", text=f"zero-shot {acc:.0f}%",
                           showarrow=False, xanchor=side, yanchor="bottom", font={"color": ZERO_SHOT_COLOR, "size": 11})


# --------------------------------------------------------------------------------------------
# Runs


RUNS_HEADERS = ["name", "status", "test acc. (%)", "macro-F1 (%)", "classes", "id"]


def _task_score(d: dict) -> str:
    """" · test mIoU 31.5 %" for a run scored by another metric than accuracy (segmentation, detection), whose
    accuracy and macro-F1 cells stay empty; "" otherwise."""
    from tlweb.engine.metrics import percent

    if _num(d.get("test_accuracy")) is not None or _num(d.get("test_metric")) is None:
        return ""
    word = str(d.get("metric") or "score")
    try:
        from tlweb.engine.train.tasks import train_task

        word = train_task(d.get("task") or None).metric_label or word
    except TlwebError:  # a task this install cannot fine-tune: the metric's own name
        pass
    return f" · test {word} {percent(d.get('test_metric'))}"


def _score_cells(d: dict) -> list:
    acc, f1 = _percent_value(d.get("test_accuracy")), _percent_value(d.get("test_macro_f1"))
    return [round(acc, 1) if acc is not None else None, round(f1, 1) if f1 is not None else None]


def _entry_text(d: dict) -> str:
    runs = d.get("runs") or []
    parts = [d.get("title"), d.get("run_id"), d.get("experiment_id"), d.get("status"), d.get("base_model"),
             d.get("strategy"), d.get("kind"), *[(r.get("strategy"), r.get("run_id")) for r in map(as_dict, runs)]]
    return " ".join(str(p) for p in parts if p).lower()


def filter_entries(entries: Iterable, query: str | None) -> list:
    """The entries (runs and experiments) whose title, id, status, base model or strategies contain
    every word of ``query`` (case-insensitive); all of them for an empty query."""
    words = (query or "").lower().split()
    entries = list(entries)
    if not words:
        return entries
    return [e for e in entries if all(w in _entry_text(as_dict(e)) for w in words)]


def runs_table(entries: Iterable, expanded: Iterable[str] = ()) -> list[list]:
    """Rows for a Dataframe with :data:`RUNS_HEADERS` from ``list_entries()`` (or ``list_runs()``).

    An experiment is one row (▸, its best run's scores and how many runs it holds); the experiments
    named in ``expanded`` (▾) are followed by one indented row per run (with its seed when each run
    was repeated). Single runs have one row. Names are short titles (base model · strategy · time);
    ids come last."""
    expanded = set(expanded or ())
    out = []
    for entry in entries:
        d = as_dict(entry)
        if isinstance(entry, ExperimentInfo) or "experiment_id" in d and "runs" in d:
            runs = [as_dict(r) for r in d.get("runs") or []]
            scored = [r for r in runs if _num(r.get("test_accuracy")) is not None]
            best = max(scored, key=lambda r: r["test_accuracy"], default={})
            classes = len((d.get("data") or {}).get("class_names") or best.get("class_names") or [])
            is_open = str(d["experiment_id"]) in expanded
            out.append([f"{'▾' if is_open else '▸'} {d.get('title', d['experiment_id'])} ({len(runs)} runs)",
                        str(d.get("status", "")), *_score_cells(best), classes, str(d["experiment_id"])])
            if not is_open:
                continue
            parts = [str(r.get("strategy", "")) + (f" · {r['per_class']}/class" if r.get("per_class") else "")
                     for r in runs]
            for r, part in zip(runs, parts):
                if parts.count(part) > 1 and r.get("seed") is not None:
                    part += f" · seed {r['seed']}"
                out.append([f"  └ {part}{_task_score(r)}", str(r.get("status", "")), *_score_cells(r),
                            len(r.get("class_names") or []), str(r.get("run_id", ""))])
            continue
        title = (d.get("title") or run_title_of(d)) + _task_score(d)
        out.append([title, str(d.get("status", "")), *_score_cells(d), len(d.get("class_names") or []),
                    str(d.get("run_id", ""))])
    return out


def run_title_of(d: dict) -> str:
    """The short title of a run given as a dict (what ``RunInfo.title`` says)."""
    from tlweb.engine.runs import RunInfo

    return RunInfo(run_id=str(d.get("run_id", "")), run_dir=None, model_dir=None,
                   base_model=str(d.get("base_model", "")), strategy=str(d.get("strategy", "")),
                   created=str(d.get("created", "")), status="", test_accuracy=None, test_macro_f1=None,
                   per_class=d.get("per_class")).title
