"""HTML reports: one self-contained file per result (plotly.js once, pictures as data URLs, no network).

The browser side (every chart drawn with the network blocked) is in tests/e2e/test_report_browser.py.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import plotly.offline
import pytest

from tests.viz import report_fixtures
from tlweb.errors import DataError
from tlweb.viz import report, report_base
from tlweb.viz.report_inference import (
    compare_report_html,
    detect_report_html,
    explain_report_html,
    segment_report_html,
)
from tlweb.viz.report_training import efficiency_report_html, ladder_report_html, run_report_html

two_runs = report_fixtures.two_runs  # shared fixtures (session-scoped)
inference_results = report_fixtures.inference_results

PLOTLY_JS = plotly.offline.get_plotlyjs()


def _check_self_contained(markup: str, figures: int) -> None:
    assert markup.startswith("<!DOCTYPE html>") and markup.rstrip().endswith("</html>")
    assert markup.count(PLOTLY_JS[:2000]) == 1  # plotly.js inlined exactly once
    assert markup.count("Plotly.newPlot(") == figures
    # Nothing is fetched: every src / href is inline (data:) or an in-page anchor.
    for attr, url in re.findall(r"""\b(src|href)\s*=\s*["']([^"']*)["']""", markup.replace(PLOTLY_JS, "")):
        assert url.startswith(("data:", "#")), (attr, url[:80])
    assert "cdn.plot.ly" not in markup.replace(PLOTLY_JS, "")
    for lib in ("torch", "transformers", "plotly", "tlweb", "python"):
        assert f">{lib}</div>" in markup, lib


def test_wilson_interval():
    lo, hi = report_base.wilson(8, 16)
    assert round(lo, 3) == 0.28 and round(hi, 3) == 0.72
    assert report_base.wilson(0, 0) == (0.0, 1.0)
    assert report_base.wilson(10, 10)[1] == 1.0 and report_base.wilson(10, 10)[0] > 0.65
    assert "8 of 16 test images" in report_base.accuracy_sentence(0.5, 16)


def test_run_report_carries_metrics_curves_data_mistakes_and_config(two_runs):
    run = two_runs[0]
    markup = run_report_html(run.run_dir)
    _check_self_contained(markup, figures=4)  # curves, confusion, per class, class counts
    assert f"{run.test_accuracy * 100:.1f}%" in markup
    assert f"of {run.test_images} test images right" in markup
    for name in ("circle", "square", "triangle", "cross"):
        assert name in markup
    for needle in ("Training curves", "Confusion matrix", "Images per class", "Hyper-parameters", "Environment",
                   "fingerprint", run.run_id, "&quot;strategy&quot;: &quot;full&quot;"):
        assert needle in markup, needle
    n_mistakes = len(run.mistakes)
    assert markup.count("<img ") == n_mistakes > 0
    assert markup.replace(PLOTLY_JS, "").count("data:image/png;base64,") == n_mistakes


def test_paths_in_reports(settings, tmp_path):
    """Shared mode: a folder's own name only, never where it lives on the server. Local: relative to the home
    (~ or the tlweb home), else as it is (the user's own machine). Strings that are not paths stay."""
    shared, local = settings.replace(mode="shared"), settings.replace(mode="local")
    demo = settings.home / "demo-models" / "demo-vit"
    assert report_base.shown_path(demo, shared) == "demo-vit"
    home = Path.home().resolve()
    assert report_base.shown_path(demo, local) == ("~/" + str(demo.resolve().relative_to(home))
                                              if demo.resolve().is_relative_to(home) else "$TLWEB_HOME/demo-models/demo-vit")
    assert report_base.shown_path(Path.home() / "models" / "mine", local) == "~/models/mine"
    assert report_base.shown_paths({"out_dir": str(tmp_path / "run"), "lr": 0.001, "data": "sample",
                               "runs": [str(demo)]}, shared) == {"out_dir": "run", "lr": 0.001, "data": "sample",
                                                                 "runs": ["demo-vit"]}


def test_run_report_names_no_server_path_in_shared_mode(two_runs, settings):
    run = two_runs[0]
    shared = settings.replace(mode="shared")
    text = run_report_html(run.run_dir, shared).replace(PLOTLY_JS, "")
    config = json.loads((Path(run.run_dir) / "config.json").read_text())
    folders = {str(Path(run.run_dir)), str(Path(run.run_dir).parent), config.get("base_model_path") or "",
               str(Path(config["train_config"]["data"])) if isinstance(config["train_config"].get("data"), str) else ""}
    for folder in filter(None, folders):
        assert folder not in text, folder
    assert "weights from" in text and "&quot;out_dir&quot;: &quot;run-full&quot;" in text  # the folder's name only


def test_downloads_are_named_after_the_run_or_the_experiment(two_runs, settings):
    from tlweb.engine.runs import run_title

    path = report.report_for_run(two_runs[0].run_dir, settings)
    title = run_title(Path(two_runs[0].run_dir))
    assert path.name.endswith("-report.html") and path.name != "report.html"
    assert path.name.startswith(title.split(" · ")[0]) and "linear" not in path.name and "full" in path.name
    assert path.parent != Path(two_runs[0].run_dir)  # a temporary folder gradio may serve, not the run folder


def test_a_run_without_metrics_still_reports_what_it_logged(two_runs, tmp_path):
    import shutil

    copy = tmp_path / "unfinished"
    shutil.copytree(two_runs[0].run_dir, copy)
    (copy / "metrics.json").unlink()
    markup = run_report_html(copy)
    assert "no final metrics" in markup and "Training curves" in markup
    _check_self_contained(markup, figures=2)  # curves and class counts only


def test_ladder_and_efficiency_reports(two_runs):
    markup = ladder_report_html(two_runs)
    _check_self_contained(markup, figures=2)
    for r in two_runs:
        assert r.run_id in markup and f"{r.test_accuracy * 100:.1f}%" in markup
    rows = [{"strategy": r.strategy, "per_class": 5, "train_images": r.train_images, "test_accuracy": r.test_accuracy,
             "test_macro_f1": r.test_macro_f1, "run_id": r.run_id} for r in two_runs]
    rows.append({**rows[1], "per_class": 2, "test_accuracy": 0.25})
    markup = efficiency_report_html(rows, chance=0.25)
    _check_self_contained(markup, figures=1)
    assert "images per class" in markup and "25.0%" in markup


def test_compare_segment_detect_reports(inference_results):
    r = inference_results
    markup = compare_report_html(r["compare"], r["images"])
    _check_self_contained(markup, figures=3)  # latency vs parameters, confidence, agreement
    for name in ("demo-resnet-shapes", "demo-vit", "demo-convnext", "cat.jpg", "coffee.jpg", "GFLOPs"):
        assert name in markup
    assert markup.count("<img ") == 2  # the two photos
    # The dict form (what a tab keeps in gr.State) gives the same tables and charts.
    as_dict = compare_report_html(r["compare"].as_dict())
    assert as_dict.count("Plotly.newPlot(") == 3 and "demo-convnext" in as_dict

    markup = segment_report_html(r["segment"], r["images"][0])
    _check_self_contained(markup, figures=1)
    assert markup.count("<img ") == 2 and "demo-segformer" in markup and "demo-upernet" in markup
    top = r["segment"][0].classes[0]
    assert top.name in markup and f"{top.share * 100:.2f}%" in markup

    det = r["detect"]
    markup = detect_report_html(det, r["images"][0])
    _check_self_contained(markup, figures=1)
    assert "zero-shot: cat, remote control" in markup and markup.count("<img ") == 1
    kept = det.kept()
    assert f"{len(kept)} boxes with score ≥ {det.threshold:.2f}" in markup
    higher = detect_report_html(det, r["images"][0], threshold=0.99)
    assert f"{len(det.kept(0.99))} boxes with score ≥ 0.99" in higher


def test_explain_reports(inference_results):
    r = inference_results
    res = r["explain"]
    markup = explain_report_html(res, r["images"][0])
    _check_self_contained(markup, figures=1)  # the top-5
    assert markup.count("<img ") == 2  # the map over the photo, the layer strip
    for needle in ("Grad-CAM", res.target, f"x {res.map.peak[0]}, y {res.map.peak[1]}", "Layer by layer",
                   "demo-vit-shapes", res.layers[-1].name):
        assert needle in markup, needle
    feats = r["features"]
    markup = explain_report_html(feats, r["images"][0])
    _check_self_contained(markup, figures=1)
    assert markup.count("<img ") == 4 and "PCA of the features" in markup  # map, strip, channels, PCA


def test_embeddings_reports(inference_results):
    from tlweb.viz.report_embeddings import leaderboard_report_html, projector_report_html

    board = inference_results["leaderboard"]
    markup = leaderboard_report_html(board)
    _check_self_contained(markup, figures=1)
    for row in board.rows:
        assert row.name in markup
    best = max((r for r in board.rows if r.kind == "backbone"), key=lambda r: r.linear_accuracy)
    assert f"{best.linear_accuracy * 100:.1f}%" in markup and "Pareto" in markup and "Wilson" in markup
    pair = inference_results["projections"]
    markup = projector_report_html(pair)
    _check_self_contained(markup, figures=1)
    assert "pretrained" in markup and "random init" in markup
    assert f"{pair[0].knn_accuracy * 100:.1f}%" in markup


def test_report_for_functions_write_where_gradio_may_serve_them(two_runs, inference_results):
    import tempfile

    r = inference_results
    tmp = Path(tempfile.gettempdir()).resolve()
    path = report.report_for_run(two_runs[0])  # named after the run, in a temporary folder (not the run folder)
    assert path.name.endswith("-report.html") and path.resolve().is_relative_to(tmp)
    assert path.stat().st_size > len(PLOTLY_JS)
    for path, stem in ((report.report_for_ladder(two_runs), "ladder"),
                       (report.report_for_compare(r["compare"], r["images"]), "compare"),
                       (report.report_for_segment(r["segment"][0], r["images"][0]), "segment"),
                       (report.report_for_detect(r["detect"], r["images"][0]), "detect"),
                       (report.report_for_explain(r["explain"], r["images"][0]), "explain"),
                       (report.report_for_leaderboard(r["leaderboard"]), "leaderboard"),
                       (report.report_for_projector(r["projections"]), "projector"),
                       (report.report_for_efficiency([]), "data-efficiency")):
        assert path.resolve().is_relative_to(tmp) and path.name.startswith(stem + "-") and path.suffix == ".html"
        assert "<!DOCTYPE html>" in path.read_text(encoding="utf-8")[:100]


def test_cli_report(two_runs, tmp_path, capsys):
    from tlweb.cli import main

    out = tmp_path / "r.html"
    assert main(["report", str(two_runs[0].run_dir), "--out", str(out), "--json"]) == 0
    info = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert Path(info["report"]) == out.resolve() and out.read_text(encoding="utf-8").count("Plotly.newPlot(") == 4
    assert main(["report", *[str(x.run_dir) for x in two_runs], "--out", str(tmp_path / "l.html")]) == 0
    assert "Strategy ladder" in (tmp_path / "l.html").read_text(encoding="utf-8")
    assert main(["report", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(DataError):
        report.report_for_run(tmp_path)  # a folder without config.json
