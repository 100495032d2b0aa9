"""The queue in the page: while one visitor trains, a second visitor's fine-tune shows its place in line
(gradio's status tracker: "queue: 1/1 | …s"); the screenshot goes to docs/screenshots/queue.png."""

from __future__ import annotations

import pytest

from tests.conftest import SCREENSHOTS
from tests.e2e.browser import bottom, set_dropdown, text_in

pytestmark = pytest.mark.browser


def _finetune_page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    page.set_default_timeout(60_000)
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_role("tab", name="3 · Train").click()  # the tab's steps: Start is in step 3
    page.wait_for_selector("#ft-start-btn")
    return ctx, page


def test_a_waiting_visitor_sees_their_position(browser, app_url, slow_steps):
    ctx_a, first = _finetune_page(browser, app_url)
    ctx_b, second = _finetune_page(browser, app_url)
    try:
        first.get_by_role("tab", name="2 · Backbone").click()  # epochs and batch size are set with the backbone
        set_dropdown(first, "ft-epochs", "20")
        set_dropdown(first, "ft-batch-size", "8")
        first.get_by_role("tab", name="3 · Train").click()
        first.click("#ft-start-btn")
        text_in(first, "ft-status", "step", timeout=120_000)  # the first visitor is training
        second.click("#ft-start-btn")
        second.wait_for_function(
            "() => /queue: 1\\/\\d+/.test(document.getElementById('ft-status').parentElement.innerText)",
            timeout=60_000)
        tracker = second.locator("#ft-status").locator("xpath=..").inner_text()
        assert "queue: 1/" in tracker
        second.mouse.move(0, 0)
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        top = max(0.0, bottom(second, "#ft-start-btn") - 260)
        second.screenshot(path=str(SCREENSHOTS / "queue.png"), full_page=True,
                          clip={"x": 0, "y": top, "width": 1400, "height": bottom(second, "#ft-curves-plot") - top + 16})
        text_in(first, "ft-status", "Done", timeout=300_000)
        text_in(second, "ft-status", "Done", timeout=300_000)  # then the second one trains and finishes
    finally:
        ctx_a.close()
        ctx_b.close()
