"""Reports of the Embeddings tab: the backbone leaderboard and the projector (see :mod:`tlweb.viz.report`)."""

from __future__ import annotations

import math

from tlweb.engine.metrics import percent
from tlweb.viz.report_base import Report, shown_paths, wilson
from tlweb.viz.training import as_dict


def _interval(accuracy, n) -> str:
    try:
        n = int(n or 0)
        lo, hi = wilson(round(float(accuracy) * n), n)
    except (TypeError, ValueError):
        return "–"
    return f"{lo * 100:.0f}–{hi * 100:.0f}%" if n else "–"


def leaderboard_report_html(result) -> str:
    """A LeaderboardResult (or its dict): the accuracy-vs-latency chart, the table, the data and the device."""
    from tlweb.viz.embeddings import LEADERBOARD_COLUMNS, leaderboard_chart, leaderboard_rows

    d = shown_paths(as_dict(result))  # a local backbone folder or data folder: ~/… (never a server path)
    rows = d.get("rows") or []
    ok = [r for r in rows if not r.get("error")]
    rep = Report("Backbone leaderboard", f"{len(ok)} of {len(rows)} models · {len(d.get('classes') or [])} classes · "
                 f"{d.get('test_images')} test images", kind="leaderboard")
    rep.section("Accuracy vs cost", "Linear probe and k-NN on each backbone's frozen features (error bars: ±1 "
                "standard error on the test images); the dashed line is the Pareto front, the ring the best "
                "trade-off; a diamond is the zero-shot row (no training image).")
    if d.get("best_sentence"):
        rep.text(d["best_sentence"], cls="")
    rep.figure(leaderboard_chart(d))
    rep.table(LEADERBOARD_COLUMNS, leaderboard_rows(d), numeric=(1, 2, 4, 5, 6, 7, 8))
    n_test = d.get("test_images")
    rep.heading("Test accuracy with its 95% interval (Wilson)")
    accuracy = {id(r): r.get("zero_shot_accuracy") if r.get("kind") == "zero-shot" else r.get("linear_accuracy")
                for r in ok}
    rep.table(["model", "row", "test accuracy", "95% interval"],
              [[r.get("name") or r.get("model"), "zero-shot" if r.get("kind") == "zero-shot" else "linear probe",
                percent(accuracy[id(r)], sep=""), _interval(accuracy[id(r)], n_test)] for r in ok], numeric=(2,))
    rep.section("Data")
    rep.facts([("source", d.get("data")), ("classes", ", ".join(map(str, (d.get("classes") or [])[:40]))),
               ("training images", d.get("train_images")), ("test images", d.get("test_images")),
               ("test split", d.get("test_from")), ("wall time", f"{d.get('elapsed_s') or 0:.1f} s")])
    rep.environment(d.get("device"), d.get("precision"))
    return rep.render()


def projector_report_html(projections) -> str:
    """One or two Projections: the 2-D map (SVG points, so it prints), k-NN accuracy and silhouette."""
    from tlweb.viz.embeddings import projector_figure

    projections = list(projections)
    title = " vs ".join(p.title() for p in projections)
    rep = Report("Embeddings projector", f"{title} · {projections[0].method}", kind="projector")
    rep.section("Every image as a point", "Images the backbone finds alike end up close; one colour per class. "
                "k-NN accuracy: each test image labelled by its nearest training images in the full feature space.")
    fig = projector_figure(projections, webgl=False)
    title_text = str(fig.layout.title.text or "")
    fig.update_layout(title_text=title_text.split(" · hover")[0])  # no hover pictures here (no app script)
    rep.figure(fig)
    rep.table(["panel", "points", "images", "k-NN accuracy", "95% interval", "k", "silhouette", "explained variance"],
              [[p.title(), p.points, p.total_images, percent(p.knn_accuracy, sep=""),
                _interval(p.knn_accuracy, p.knn.get("test_images")), p.knn.get("k"),
                "n/a" if math.isnan(p.silhouette) else f"{p.silhouette:.3f}",
                ", ".join(f"{v * 100:.1f}%" for v in p.explained) if p.explained else "–"] for p in projections],
              numeric=(1, 2, 3, 6))
    rep.facts([("classes", ", ".join(projections[0].class_names[:40])), ("projection", projections[0].method),
               ("features from the cache", "yes" if all(p.cached for p in projections) else "no"),
               ("time", f"{sum(p.seconds for p in projections):.1f} s")])
    rep.environment()
    return rep.render()
