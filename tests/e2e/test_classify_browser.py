"""Classify in a real browser: upload, click, wait for the chart, save the screenshot."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES, SCREENSHOTS
from tests.e2e.browser import set_dropdown, text_in

pytestmark = pytest.mark.browser


def test_classify_in_browser(page, app_url):
    page.goto(app_url)
    page.wait_for_selector("#classify-btn")
    # runs fine-tuned by earlier tests are listed first: pick a demo backbone explicitly
    set_dropdown(page, "classify-model", "demo-vit")
    page.locator("#classify-image input[type=file]").set_input_files(str(EXAMPLES / "cat.jpg"))
    page.wait_for_selector("#classify-facts :text('latency')", timeout=60_000)
    page.click("#classify-btn")
    page.wait_for_selector("#classify-plot .js-plotly-plot .bars", timeout=60_000)
    page.wait_for_selector("#classify-facts :text('latency')", timeout=60_000)
    page.wait_for_timeout(800)
    facts = page.inner_text("#classify-facts")
    assert "ms" in facts and "parameters" in facts and "demo-vit" in facts
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "classify.png"), full_page=True)


def test_bad_upload_shows_a_sentence_in_browser(page, app_url, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    page.goto(app_url)
    page.wait_for_selector("#classify-btn")
    page.locator("#classify-image input[type=file]").set_input_files(str(bad))
    page.wait_for_timeout(1500)
    page.click("#classify-btn")
    text_in(page, "classify-facts", "No result", timeout=30_000)  # the sentence in place of the result
    text = page.inner_text("#classify-facts")
    assert "Traceback" not in text and len(text) > 30
