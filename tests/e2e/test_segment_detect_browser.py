"""Segment and Detect in a real browser with demo models; saves docs/screenshots/segment.png and detect.png."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES, SCREENSHOTS
from tests.e2e.browser import bottom, idle, set_dropdown, text_in

pytestmark = pytest.mark.browser





def _image_src(page, elem_id: str) -> str:
    return page.locator(f"#{elem_id} img").first.get_attribute("src") or ""


def test_segment_in_browser(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Segment").click()
    page.wait_for_selector("#segment-btn")
    set_dropdown(page, "segment-model", "demo-segformer")
    set_dropdown(page, "segment-model-b", "demo-upernet")
    page.locator("#segment-image input[type=file]").set_input_files(str(EXAMPLES / "astronaut.jpg"))
    text_in(page, "segment-facts", "latency")  # the upload runs both models
    idle(page, "segment-facts")
    page.click("#segment-btn")
    idle(page, "segment-facts", started_within=3_000)  # then the button runs them again
    text_in(page, "segment-facts", "demo-upernet")
    text_in(page, "segment-legend", "demo-upernet")  # the second model has finished (not just "running…")
    page.wait_for_selector("#segment-output img")
    page.wait_for_selector("#segment-output-b img")
    page.wait_for_selector("#segment-plot .js-plotly-plot .bars")
    legend = page.inner_text("#segment-legend")
    assert "%" in legend and "demo-segformer" in legend and "demo-upernet" in legend

    # opacity re-draws from the stored result (no new facts / latency)
    facts_before = page.inner_text("#segment-facts")
    src_before = _image_src(page, "segment-output")
    slider = page.locator("#segment-opacity input[type=number]")
    slider.fill("0.8")
    slider.press("Enter")
    page.wait_for_function("([id, s]) => { const i = document.querySelector('#' + id + ' img'); "
                           "return i && i.getAttribute('src') !== s; }", arg=["segment-output", src_before],
                           timeout=30_000)
    assert page.inner_text("#segment-facts") == facts_before
    assert "Traceback" not in page.content()
    page.mouse.move(0, 0)
    page.wait_for_timeout(800)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "segment.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1400, "height": bottom(page, "#segment-facts") + 24})


def test_detect_in_browser(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Detect").click()
    page.wait_for_selector("#detect-btn")
    set_dropdown(page, "detect-model", "demo-owlv2")
    queries = page.locator("#detect-queries textarea, #detect-queries input").first
    queries.fill("cat, remote control, sofa")
    page.locator("#detect-image input[type=file]").set_input_files(str(EXAMPLES / "cat.jpg"))
    text_in(page, "detect-facts", "latency")
    page.click("#detect-btn")
    text_in(page, "detect-facts", "remote control")
    page.wait_for_selector("#detect-output img")
    page.wait_for_selector("#detect-plot .js-plotly-plot .bars")
    table = page.inner_text("#detect-table")
    assert "count" in table

    # threshold re-filters from the stored result
    summary_before = page.inner_text("#detect-summary")
    box = page.locator("#detect-threshold input[type=number]")
    box.fill("0.99")
    box.press("Enter")
    page.wait_for_function("([id, s]) => { const el = document.getElementById(id); "
                           "return el && el.innerText !== s; }", arg=["detect-summary", summary_before],
                           timeout=30_000)
    box.fill("0.3")
    box.press("Enter")
    page.wait_for_function("id => { const el = document.getElementById(id); "
                           "return el && el.innerText.includes('box'); }", arg="detect-summary", timeout=30_000)
    assert "Traceback" not in page.content()
    page.mouse.move(0, 0)
    page.wait_for_timeout(800)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "detect.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1400, "height": bottom(page, "#detect-facts") + 24})


def test_bad_upload_shows_a_sentence_in_browser(page, app_url, tmp_path):
    bad = tmp_path / "broken.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 40)
    page.goto(app_url)
    page.get_by_role("tab", name="Detect").click()
    page.wait_for_selector("#detect-btn")
    page.locator("#detect-image input[type=file]").set_input_files(str(bad))
    text_in(page, "detect-summary", "No result", timeout=30_000)  # the sentence in place of the result
    text = page.inner_text("#detect-summary")
    assert "Traceback" not in text and len(text) > 30
