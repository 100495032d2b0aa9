"""Cross-tab links in a real browser: each button switches the tab, carries the picture / model /
run across, and (for Explain) presses the target's button. Screenshots: links-*.png."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES, SCREENSHOTS
from tests.e2e.browser import bottom, idle, set_dropdown, text_in

pytestmark = pytest.mark.browser

SELECTED = "[role=tab][aria-selected=true]"


def _selected(page, title: str) -> None:
    page.wait_for_function("([sel, t]) => { const el = document.querySelector(sel); return el && "
                           "el.innerText.trim() === t; }", arg=[SELECTED, title], timeout=60_000)


def _shot(page, name: str, first: str, last: str) -> None:
    page.mouse.move(0, 0)
    page.wait_for_timeout(600)
    top = page.locator(first).first.evaluate("e => e.getBoundingClientRect().top + window.scrollY")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True,
                    clip={"x": 0, "y": max(0, top - 12), "width": 1400, "height": bottom(page, last) - top + 28})


def _explained(page) -> None:
    """Explain ran by itself once the preset arrived: a map over the picture."""
    idle(page, "explain-overlay", timeout=120_000, started_within=10_000)
    text_in(page, "explain-facts", "peak", timeout=120_000)
    assert page.locator("#explain-overlay img").first.evaluate("e => e.complete && e.naturalWidth") >= 96  # the picture's own size


def test_classify_then_explain_this_image(page, app_url):
    page.goto(app_url, wait_until="load")
    page.locator("#classify-image input[type=file]").set_input_files(str(EXAMPLES / "cat.jpg"))
    set_dropdown(page, "classify-model", "demo-resnet-shapes (pretrained")
    page.click("#classify-btn")
    page.wait_for_selector("#classify-plot .js-plotly-plot .bars", timeout=60_000)
    _shot(page, "links-classify-explain-button.png", "#classify-image", "#classify-facts")
    page.click("#classify-explain-btn")
    _selected(page, "Explain")
    assert page.locator("#explain-model input").input_value().startswith("demo-resnet-shapes")
    _explained(page)
    text_in(page, "explain-facts", "demo-resnet-shapes")
    _shot(page, "links-classify-to-explain.png", "#explain-image", "#explain-facts")


def test_a_fine_tune_mistake_then_explain_and_open_in_classify(page, app_url):
    page.goto(app_url, wait_until="load")
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_role("tab", name="2 · Backbone").click()
    set_dropdown(page, "ft-model", "demo-vit")  # random weights: it makes mistakes to explain
    page.click("#ft-model-next")  # on to step 3
    page.click("#ft-start-btn")
    text_in(page, "ft-status", "Done", timeout=240_000)
    text_in(page, "ft-curves-plot", "regularization sweep")  # the linear probe's curve is its C sweep
    page.get_by_role("tab", name="4 · Results").click()
    run_id = page.inner_text("#ft-hint code").strip()
    page.locator("#ft-mistakes .thumbnail-item, #ft-mistakes button.thumbnail-item, #ft-mistakes .grid-wrap img"
                 ).first.click()
    text_in(page, "ft-mistake-picked", "Picked:", timeout=30_000)
    assert "→" in page.inner_text("#ft-mistake-picked")  # its caption: true → predicted (confidence)
    _shot(page, "links-finetune-mistake.png", "#ft-metrics", "#ft-explain-mistake-btn")
    page.keyboard.press("Escape")  # close the gallery's preview
    page.click("#ft-explain-mistake-btn")
    _selected(page, "Explain")
    _explained(page)
    text_in(page, "explain-facts", run_id)
    page.locator("#explain-ba button.label-wrap").first.click()
    from tlweb.engine.listing import resolve

    assert resolve(run_id).label in page.locator("#explain-run input").input_value()  # preselected
    _shot(page, "links-mistake-to-explain.png", "#explain-image", "#explain-run")
    # back in Fine-tune, the run in the Runs list opens in Classify
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_role("tab", name="6 · Runs").click()
    # the run just trained is the one picked in the Runs list
    page.click("#ft-run-open-classify")
    _selected(page, "Classify")
    assert resolve(run_id).label in page.locator("#classify-model input").input_value()


def test_leaderboard_then_fine_tune_this_one(page, app_url):
    page.goto(app_url, wait_until="load")
    page.get_by_role("tab", name="Embeddings").click()
    assert not page.locator("#emb-finetune-btn").is_visible()  # nothing ranked yet
    page.click("#emb-leaderboard-btn")
    text_in(page, "emb-status", "Ranked", timeout=300_000)
    page.wait_for_selector("#emb-finetune-btn", state="visible", timeout=30_000)
    best = page.locator("#emb-finetune-model input").input_value()
    assert best.startswith("demo-resnet-shapes")
    _shot(page, "links-fine-tune-this-one.png", "#emb-best", "#emb-finetune-model")
    page.click("#emb-finetune-btn")
    _selected(page, "Fine-tune")
    page.wait_for_selector("#ft-model input", state="visible")  # the link opens the Backbone step
    assert page.locator("#ft-model input").input_value().startswith("demo-resnet-shapes")
