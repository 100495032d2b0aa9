"""Segmentation and detection fine-tuning in a real browser at 1366×768, demo mode, short settings: pick the
task, load the built-in sample (masks / boxes previewed), train the demo segmenter / detector with live
curves, read the results (per-class IoU / AP, worst images, before / after) and use the run in the Segment /
Detect tab, where it segments / detects a picture."""

from __future__ import annotations

import pytest

from tests.conftest import SCREENSHOTS
from tests.e2e.browser import set_dropdown, text_in

pytestmark = pytest.mark.browser

CASES = {
    "segmentation": {"label": "Segmentation", "classes": "4 classes", "metric": "test mIoU", "tab": "segment",
                     "model": "demo-upernet-shapes", "other": "demo-segformer", "result": "#segment-legend", "words": ("circle", "square",
                                                                                          "triangle", "background")},
    "detection": {"label": "Detection", "classes": "3 classes", "metric": "test mAP", "tab": "detect",
                  "model": "demo-rtdetr-shapes", "other": "demo-detr", "result": "#detect-summary", "words": ("circle", "square", "triangle",
                                                                                        "box", "no ")},
}


def step(page, name: str) -> None:
    page.get_by_role("tab", name=name).click()


def shot(page, name: str, full_page: bool = False) -> None:
    page.mouse.move(0, 0)  # no hover state on the screenshot
    page.wait_for_timeout(700)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def _in_view(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= 768


@pytest.mark.parametrize("case", list(CASES))
def test_finetune_task_walk_in_browser(page, app_url, case, tmp_path):
    c = CASES[case]
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.locator("#ft-task label").filter(has_text=c["label"]).click()
    page.wait_for_selector("#ft-task-load-btn", state="visible")
    assert not page.locator("#ft-load-btn").is_visible()  # classification's data section gives way
    page.click("#ft-task-load-btn")
    text_in(page, "ft-task-data-notes", c["classes"], timeout=60_000)
    page.wait_for_selector("#ft-task-counts-plot .js-plotly-plot .bars")
    page.wait_for_selector("#ft-task-preview img")
    shot(page, f"finetune-{case}-data.png", full_page=True)

    step(page, "2 · Backbone")
    page.wait_for_function("(m) => document.querySelector('#ft-task-model input').value.includes(m)", arg=c["model"])
    set_dropdown(page, "ft-task-epochs", "3")
    assert _in_view(page, "#ft-task-model-next")
    page.click("#ft-task-model-next")  # on to step 3
    page.wait_for_selector("#ft-task-start-btn", state="visible")
    page.click("#ft-task-start-btn")
    text_in(page, "ft-status", "Done", timeout=240_000)
    assert c["metric"] in page.inner_text("#ft-status")
    assert page.locator("#ft-curves-plot .scatterlayer .trace").count() >= 2  # train loss + validation curves
    shot(page, f"finetune-{case}-train.png")

    step(page, "4 · Results")
    text_in(page, "ft-task-metrics", c["metric"], timeout=30_000)
    page.wait_for_selector("#ft-task-per-class-plot .js-plotly-plot .bars")
    page.wait_for_selector("#ft-task-before img")
    page.wait_for_selector("#ft-task-after img")
    assert "Traceback" not in page.content()
    shot(page, f"finetune-{case}-results.png", full_page=True)
    run_id = page.inner_text("#ft-task-hint code").strip()
    from tlweb.engine.runs import list_runs

    title = next(r.title for r in list_runs() if r.run_id == run_id)

    # step 5 says that the page compares strategies for classification only
    step(page, "5 · Compare strategies")
    text_in(page, "ft-compare-task-note", "classification only")
    assert not page.locator("#ft-ladder-btn").is_visible()
    step(page, "4 · Results")
    # the run just trained, in the Segment / Detect tab, used on a picture
    page.click("#ft-open-task")
    page.wait_for_selector(f"#tab-{c['tab']}-button[aria-selected=true]")
    page.wait_for_function(f"(t) => document.querySelector('#{c['tab']}-model input').value.includes(t)", arg=title)
    import numpy as np
    from PIL import Image

    from tlweb.engine.data.boxscenes import draw_scene

    img, *_ = draw_scene(["circle", "square", "triangle"], np.random.default_rng(5), size=96)
    picture = tmp_path / "scene.png"
    Image.fromarray(img).save(picture)
    page.locator(f"#{c['tab']}-image input[type=file]").set_input_files(str(picture))
    page.click(f"#{c['tab']}-btn")
    page.wait_for_function("([sel, words]) => { const el = document.querySelector(sel); "
                           "return el && words.some((w) => el.innerText.includes(w)); }",
                           arg=[c["result"], list(c["words"])], timeout=60_000)
    assert "Traceback" not in page.content()
    shot(page, f"finetune-{case}-in-{c['tab']}.png")

    # the Runs step's open button takes a segmenter's or detector's run to its own tab, not to Classify
    set_dropdown(page, f"{c['tab']}-model", c["other"])  # the tab's list on another model first
    page.wait_for_function(f"(t) => !document.querySelector('#{c['tab']}-model input').value.includes(t)", arg=title)
    page.get_by_role("tab", name="Fine-tune").click()
    step(page, "6 · Runs")
    page.wait_for_function("(t) => (document.querySelector('#ft-run input') || {}).value?.includes(t)", arg=title)
    page.click("#ft-run-open-classify")
    page.wait_for_selector(f"#tab-{c['tab']}-button[aria-selected=true]")
    page.wait_for_function(f"(t) => document.querySelector('#{c['tab']}-model input').value.includes(t)", arg=title)
    assert "Traceback" not in page.content()
