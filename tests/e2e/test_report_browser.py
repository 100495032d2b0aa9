"""Reports in a real browser with every network request blocked: each chart must draw.

A request to anything but the file itself is aborted (Playwright route), and the page must not
even try one. Every plotly div must hold a drawn SVG with data in it (no empty plot divs).
Screenshots land in docs/screenshots/report-*.png.
"""

from __future__ import annotations

import pytest

from tests.conftest import SCREENSHOTS
from tests.viz import report_fixtures
from tlweb.viz import report

two_runs = report_fixtures.two_runs  # shared fixtures (session-scoped)
inference_results = report_fixtures.inference_results

pytestmark = pytest.mark.browser

CHECK = """() => Array.from(document.querySelectorAll('.js-plotly-plot')).map(div => ({
    id: div.id,
    svg: div.querySelectorAll('.main-svg').length,
    traces: (div._fullData || []).length,
    marks: div.querySelectorAll('.trace, .point, .hm, .heatmaplayer image').length,
}))"""


def _open_offline(browser, path, shot: str | None = None, height: int = 1700):
    ctx = browser.new_context(viewport={"width": 1280, "height": height})
    attempted: list[str] = []

    def block(route):
        url = route.request.url
        if url.startswith(("file:", "data:")):
            return route.continue_()
        attempted.append(url)
        return route.abort()

    ctx.route("**/*", block)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri(), wait_until="load")
    page.wait_for_function("() => document.querySelectorAll('.js-plotly-plot .main-svg').length > 0", timeout=30_000)
    page.wait_for_timeout(500)
    plots = page.evaluate(CHECK)
    images = page.evaluate("() => Array.from(document.images).map(i => [i.complete, i.naturalWidth])")
    if shot:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / f"report-{shot}.png"))
    ctx.close()
    return plots, images, attempted, errors


def _assert_drawn(markup_path, plots, images, attempted, errors):
    expected = markup_path.read_text(encoding="utf-8").count("Plotly.newPlot(")
    assert attempted == [] and errors == []
    assert len(plots) == expected > 0
    for p in plots:
        assert p["svg"] >= 1 and p["traces"] >= 1 and p["marks"] >= 1, p  # drawn, with data
    assert all(done and width > 0 for done, width in images), images


def test_run_and_ladder_reports_draw_offline(browser, two_runs):
    path = report.report_for_run(two_runs[0])
    _assert_drawn(path, *_open_offline(browser, path, shot="run"))
    path = report.report_for_ladder(two_runs)
    _assert_drawn(path, *_open_offline(browser, path, shot="ladder", height=1100))


def test_inference_reports_draw_offline(browser, inference_results):
    r = inference_results
    for name, path, height in (
        ("compare", report.report_for_compare(r["compare"], r["images"]), 1700),
        ("segment", report.report_for_segment(r["segment"], r["images"][0]), 1500),
        ("detect", report.report_for_detect(r["detect"], r["images"][0]), 1500),
        ("explain", report.report_for_explain(r["features"], r["images"][0]), 1900),
        ("leaderboard", report.report_for_leaderboard(r["leaderboard"]), 1400),
        ("projector", report.report_for_projector(r["projections"]), 1100),
    ):
        _assert_drawn(path, *_open_offline(browser, path, shot=name, height=height))
