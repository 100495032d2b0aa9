"""Compare in a real browser: 4 demo models on 2 images, wait for the three charts, screenshot."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES, SCREENSHOTS

pytestmark = pytest.mark.browser


def _open_tab(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Compare").click()
    page.wait_for_selector("#compare-btn")


def test_compare_in_browser(page, app_url):
    _open_tab(page, app_url)
    page.click("#compare-preset-large-accurate")  # four demo models of matching families
    page.wait_for_function(
        "document.querySelectorAll('#compare-models .token').length === 4"
        " && document.querySelector('#compare-models').innerText.includes('demo-beit')", timeout=30_000)
    page.locator("#compare-images input[type=file]").set_input_files(
        [str(EXAMPLES / "cat.jpg"), str(EXAMPLES / "coffee.jpg")])
    page.wait_for_selector("#compare-preview img", timeout=30_000)
    page.click("#compare-btn")
    page.wait_for_selector("#compare-status :text('Compared 4 of 4 models on 2 image(s)')", timeout=120_000)
    page.wait_for_selector("#compare-latency-plot .js-plotly-plot .scatterlayer .point", timeout=30_000)
    page.wait_for_selector("#compare-confidence-plot .js-plotly-plot .bars .point", timeout=30_000)
    page.wait_for_selector("#compare-agreement-plot .js-plotly-plot .heatmaplayer", timeout=30_000)
    assert page.locator("#compare-latency-plot .scatterlayer .point").count() == 4
    assert page.locator("#compare-confidence-plot .bars .point").count() == 8  # 4 models × 2 images
    table = page.inner_text("#compare-table")
    for name in ("demo-vit", "demo-beit", "demo-convnext", "demo-swin"):
        assert name in table
    assert "cat.jpg" in table and "coffee.jpg" in table
    assert "Traceback" not in page.inner_text("body")
    page.wait_for_timeout(800)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#tab-compare").screenshot(path=str(SCREENSHOTS / "compare.png"))


def test_bad_model_in_browser_keeps_its_row(page, app_url):
    _open_tab(page, app_url)
    page.click("#compare-examples-btn")
    page.wait_for_selector("#compare-preview img", timeout=30_000)
    page.fill("#compare-custom-models textarea, #compare-custom-models input", "nobody/no-such-model")
    page.click("#compare-btn")
    page.wait_for_selector("#compare-status :text('could not run')", timeout=120_000)
    assert "nobody/no-such-model" in page.inner_text("#compare-table")
    page.wait_for_selector("#compare-latency-plot .js-plotly-plot .scatterlayer .point", timeout=30_000)
