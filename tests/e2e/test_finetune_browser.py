"""Fine-tune in a real browser: load the sample, train a tiny demo model with live curves, compare
strategies, and save the screenshots used in the docs."""

from __future__ import annotations

import pytest

from tests.conftest import SCREENSHOTS
from tests.e2e.browser import bottom, set_dropdown, text_in

pytestmark = pytest.mark.browser






def test_finetune_in_browser(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.wait_for_selector("#ft-start-btn")
    page.click("#ft-load-btn")
    text_in(page, "ft-data-notes", "classes", timeout=60_000)
    page.wait_for_selector("#ft-counts-plot .js-plotly-plot .bars")
    set_dropdown(page, "ft-epochs", "4")
    page.click("#ft-start-btn")
    text_in(page, "ft-metrics", "test accuracy", timeout=180_000)
    text_in(page, "ft-status", "Done", timeout=180_000)
    page.wait_for_selector("#ft-confusion-plot .js-plotly-plot .heatmaplayer", timeout=30_000)
    assert page.locator("#ft-curves-plot .scatterlayer .trace").count() >= 2  # train loss + validation curves
    status = page.inner_text("#ft-status")
    assert "test accuracy" in status and "Traceback" not in page.content()
    page.mouse.move(0, 0)  # no hover state on the screenshot
    page.wait_for_timeout(1000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "finetune.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1400, "height": bottom(page, "#ft-mistakes") + 24})
    run_id = page.inner_text("#ft-hint code").strip()
    assert run_id

    # the run survives a browser reload: the runs table is read from the run folders on page load
    page.reload()
    page.get_by_role("tab", name="Fine-tune").click()
    text_in(page, "ft-runs-table", run_id, timeout=60_000)
    page.locator("#ft-runs-table [role=gridcell]").filter(has_text=run_id).first.click()
    text_in(page, "ft-run-metrics", "Classify", timeout=60_000)
    page.wait_for_selector("#ft-run-curves .js-plotly-plot .scatterlayer .trace")

    # and its model is listed in the Classify tab under its short title (the list refreshes when it gets focus)
    from tlweb.engine.runs import list_runs

    title = next(r.title for r in list_runs() if r.run_id == run_id)
    page.get_by_role("tab", name="Classify").click()
    page.locator("#classify-model input").click()
    page.wait_for_selector(f"ul[role=listbox] li:has-text('{title}')", timeout=30_000)


def test_teachable_machine_style_classes_in_browser(page, app_url, tmp_path):
    from PIL import Image

    paths = {}
    for name, color in (("red", (220, 30, 30)), ("blue", (30, 30, 220)), ("green", (30, 200, 30))):
        paths[name] = []
        for i in range(4):
            p = tmp_path / f"{name}{i}.png"
            Image.new("RGB", (40, 40), tuple(min(255, c + 8 * i) for c in color)).save(p)
            paths[name].append(str(p))
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.get_by_label("Images per class (Teachable-Machine style)").check()
    page.wait_for_selector("#ft-class-1-name", state="visible")
    assert not page.locator("#ft-class-3-name").is_visible()
    page.click("#ft-add-class")  # a third class slot appears
    page.wait_for_selector("#ft-class-3-name", state="visible")
    for i, name in enumerate(paths, start=1):
        page.locator(f"#ft-class-{i}-name textarea, #ft-class-{i}-name input").first.fill(name)
        page.locator(f"#ft-class-{i}-files input[type=file]").set_input_files(paths[name])
    page.wait_for_timeout(1500)  # uploads finish
    page.click("#ft-load-btn")
    text_in(page, "ft-data-notes", "3 classes", timeout=60_000)


def test_ladder_and_data_efficiency_in_browser(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.wait_for_selector("#ft-ladder-btn")
    # the default backbone in demo mode is demo-resnet-shapes (really pretrained on other shapes) and the
    # default ("auto") epochs: the screenshot shows the real gap between pretrained strategies and scratch
    page.click("#ft-ladder-btn")
    text_in(page, "ft-compare-status", "Ladder done", timeout=300_000)
    from tlweb.engine.train import strategy_names

    bars = page.locator("#ft-ladder-plot .js-plotly-plot .bars .point").count()
    assert bars == 2 * len(strategy_names()), bars  # every registered strategy (six): accuracy + macro-F1
    for box in page.locator("#ft-efficiency-shots label").all():  # keep 1, 2, 5 images per class
        if box.inner_text().strip() in ("10", "25"):
            box.click()
    page.click("#ft-efficiency-btn")
    text_in(page, "ft-compare-status", "Data efficiency done", timeout=300_000)
    assert page.locator("#ft-efficiency-plot .js-plotly-plot .scatterlayer .trace").count() >= 2
    page.mouse.move(0, 0)
    page.wait_for_timeout(1000)
    top = page.locator(".ft-sec").nth(3).evaluate("e => e.getBoundingClientRect().top + window.scrollY") - 8
    page.screenshot(path=str(SCREENSHOTS / "finetune-ladder.png"), full_page=True,
                    clip={"x": 0, "y": top, "width": 1400,
                          "height": max(bottom(page, "#ft-efficiency-plot"), bottom(page, "#ft-efficiency-btn"))
                          + 24 - top})


def test_delete_a_run_asks_first(page, app_url, settings):
    from tlweb.engine.data import sample_data, subsample
    from tlweb.engine.train import TrainConfig, finetune

    res = finetune(TrainConfig("demo-vit", subsample(sample_data(settings), 2, 0), "linear", epochs=2), settings=settings)
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    text_in(page, "ft-runs-table", res.run_id, timeout=60_000)
    page.locator("#ft-runs-table [role=gridcell]").filter(has_text=res.run_id).first.click()
    text_in(page, "ft-run-metrics", res.run_id, timeout=60_000)
    page.click("#ft-delete-btn")
    text_in(page, "ft-delete-question", "for good?", timeout=30_000)
    assert page.locator("#ft-delete-yes").is_visible()
    page.click("#ft-delete-cancel")  # cancel: nothing deleted
    page.wait_for_selector("#ft-delete-yes", state="hidden", timeout=30_000)
    assert res.run_dir.is_dir()
    page.click("#ft-delete-btn")
    page.wait_for_selector("#ft-delete-yes", state="visible", timeout=30_000)
    page.click("#ft-delete-yes")
    text_in(page, "ft-run-metrics", "Deleted the run", timeout=30_000)
    assert not res.run_dir.exists()
    page.wait_for_function("(id) => !document.getElementById('ft-runs-table').innerText.includes(id)",
                           arg=res.run_id, timeout=30_000)
