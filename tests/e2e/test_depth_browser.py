"""The Depth tab in a real browser with the shipped demo depth model: click a generated-scene example, estimate,
see the depth picture and the 3-D surface; saves a screenshot (docs/screenshots/depth.png when asked)."""

from __future__ import annotations

import pytest

from tests.conftest import SCREENSHOTS
from tests.e2e.browser import bottom, idle, set_dropdown, text_in

pytestmark = pytest.mark.browser


def test_depth_in_browser(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Depth").click()
    page.wait_for_selector("#depth-btn")
    set_dropdown(page, "depth-model", "demo-dpt-scenes")
    page.locator("#depth-scene-examples img").first.click()  # the first generated scene
    page.wait_for_selector("#depth-image img")
    page.click("#depth-btn")
    text_in(page, "depth-facts", "latency")
    idle(page, "depth-facts")
    page.wait_for_selector("#depth-output img")
    page.wait_for_selector("#depth-plot .js-plotly-plot canvas", state="attached")
    traces = page.locator("#depth-plot .js-plotly-plot").first.evaluate("e => e.data.map(t => t.type)")
    assert traces == ["surface"]
    width = page.locator("#depth-plot .js-plotly-plot canvas").first.evaluate("c => c.width")
    assert width > 200  # the WebGL scene was drawn at the plot's size
    facts = page.inner_text("#depth-facts")
    assert "inverse depth" in facts and "256×256" in facts
    src = page.locator("#depth-output img").first.get_attribute("src") or ""
    assert src
    assert "Traceback" not in page.content()
    page.mouse.move(0, 0)
    page.wait_for_timeout(1500)  # the WebGL surface draws after the layout settles
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "depth.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1400, "height": bottom(page, "#depth-facts") + 24})
