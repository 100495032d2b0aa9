"""Fine-tune in a real browser: load the sample, train a tiny demo model with live curves, compare
strategies, and save the screenshots used in the docs."""

from __future__ import annotations

import pytest

from tests.conftest import SCREENSHOTS
from tests.e2e.browser import bottom, set_dropdown, text_in

pytestmark = pytest.mark.browser


def step(page, name: str) -> None:
    """Open one of the Fine-tune tab's steps ("1 · Data" … "6 · Runs")."""
    page.get_by_role("tab", name=name).click()


def test_finetune_in_browser(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    page.wait_for_selector("#ft-load-btn")
    page.click("#ft-load-btn")
    text_in(page, "ft-data-notes", "classes", timeout=60_000)
    page.wait_for_selector("#ft-counts-plot .js-plotly-plot .bars")
    step(page, "2 · Backbone")
    set_dropdown(page, "ft-epochs", "4")
    page.click("#ft-model-next")  # on to step 3
    page.wait_for_selector("#ft-start-btn", state="visible")
    page.click("#ft-start-btn")
    text_in(page, "ft-status", "Done", timeout=180_000)
    assert page.locator("#ft-curves-plot .scatterlayer .trace").count() >= 2  # train loss + validation curves
    # the train loss is drawn from (about) every step, not as a straight line between the first and the last
    points = page.evaluate("() => { const d = document.querySelector('#ft-curves-plot .js-plotly-plot').data;"
                            " const t = d.find((x) => (x.name || '').startsWith('train loss')); return t ? t.x.length : 0; }")
    status = page.inner_text("#ft-status")
    assert "test accuracy" in status and "Traceback" not in page.content()
    page.mouse.move(0, 0)  # no hover state on the screenshot
    page.wait_for_timeout(1000)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "finetune.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1400, "height": bottom(page, "#ft-curves-plot") + 24})
    step(page, "4 · Results")
    text_in(page, "ft-metrics", "test accuracy", timeout=30_000)
    page.wait_for_selector("#ft-confusion-plot .js-plotly-plot .heatmaplayer", timeout=30_000)
    page.mouse.move(0, 0)
    page.wait_for_timeout(800)
    page.screenshot(path=str(SCREENSHOTS / "finetune-results.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1400, "height": bottom(page, "#ft-mistakes") + 24})
    run_id = page.inner_text("#ft-hint code").strip()
    assert run_id
    from tlweb.engine.runs import load_run

    steps = max(int(e.get("total_steps") or 0) for e in load_run(run_id)[1])
    assert points >= min(steps, 10), (points, steps)
    # the run just trained, in the Classify tab (its primary button)
    from tlweb.engine.runs import list_runs

    title = next(r.title for r in list_runs() if r.run_id == run_id)
    page.click("#ft-open-classify")
    page.wait_for_selector("#tab-classify-button[aria-selected=true]")
    page.wait_for_function("(t) => document.querySelector('#classify-model input').value.includes(t)", arg=title)

    # the run survives a browser reload: the runs table is read from the run folders on page load
    page.reload()
    page.get_by_role("tab", name="Fine-tune").click()
    step(page, "6 · Runs")
    text_in(page, "ft-runs-table", run_id, timeout=60_000)
    page.locator("#ft-runs-table [role=gridcell]").filter(has_text=run_id).first.click()
    text_in(page, "ft-run-metrics", "Classify", timeout=60_000)
    page.wait_for_selector("#ft-run-curves .js-plotly-plot .scatterlayer .trace")

    # and its model is listed in the Classify tab under its short title (the list refreshes when it gets focus)
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
    # a few photos of its own on the backbone that only knows generated shapes: the numbers come with their
    # count and interval, and a note says what the backbone was pretrained on
    step(page, "2 · Backbone")
    set_dropdown(page, "ft-model", "demo-resnet-shapes")
    set_dropdown(page, "ft-epochs", "2")
    step(page, "3 · Train")
    page.click("#ft-start-btn")
    text_in(page, "ft-status", "Done", timeout=180_000)
    status = page.inner_text("#ft-status")
    assert " of " in status and "test image" in status and "interval" in status, status
    step(page, "4 · Results")
    text_in(page, "ft-hint", "synthetic shapes")
    text_in(page, "ft-metrics", "95% interval")


def test_ladder_and_data_efficiency_in_browser(page, app_url):
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    step(page, "5 · Compare strategies")
    page.wait_for_selector("#ft-ladder-btn")
    # the default backbone in demo mode is demo-resnet-shapes (really pretrained on other shapes) and the
    # default ("auto") epochs: the screenshot shows the real gap between pretrained strategies and scratch.
    # The ladder runs each strategy once here (fast); the curve keeps the default 3 seeds (its band).
    page.locator("#ft-seeds label").filter(has_text="1 (fast)").click()
    page.click("#ft-ladder-btn")
    text_in(page, "ft-compare-status", "Ladder done", timeout=300_000)
    from tlweb.engine.train import strategy_names

    bars = page.locator("#ft-ladder-plot .js-plotly-plot .bars .point").count()
    assert bars == 2 * len(strategy_names("image-classification")), bars  # every classification strategy (six): accuracy + macro-F1
    page.locator("#ft-seeds label").filter(has_text="3").click()
    for box in page.locator("#ft-efficiency-shots label").all():  # keep 1, 2, 5 images per class
        if box.inner_text().strip() in ("10", "25"):
            box.click()
    page.click("#ft-efficiency-btn")
    text_in(page, "ft-compare-status", "Data efficiency done", timeout=600_000)
    assert page.locator("#ft-efficiency-plot .js-plotly-plot .scatterlayer .trace").count() >= 4  # lines + bands
    assert page.locator("#ft-efficiency-plot .js-plotly-plot .scatterlayer .js-fill").count() >= 2
    assert "3 seeds" in page.inner_text("#ft-efficiency-plot")
    page.mouse.move(0, 0)
    page.wait_for_timeout(1000)
    top = page.locator("#ft-step-compare .ft-sec").first.evaluate(
        "e => e.getBoundingClientRect().top + window.scrollY") - 8
    page.screenshot(path=str(SCREENSHOTS / "finetune-ladder.png"), full_page=True,
                    clip={"x": 0, "y": top, "width": 1400, "height": bottom(page, "#ft-efficiency-plot") + 24 - top})


def test_delete_a_run_asks_first(page, app_url, settings):
    from tlweb.engine.data import sample_data, subsample
    from tlweb.engine.train import TrainConfig, finetune

    res = finetune(TrainConfig("demo-vit", subsample(sample_data(settings), 2, 0), "linear", epochs=2), settings=settings)
    page.goto(app_url)
    page.get_by_role("tab", name="Fine-tune").click()
    step(page, "6 · Runs")
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
    text_in(page, "ft-runs-note", "Deleted the run", timeout=30_000)  # said under the buttons
    assert not res.run_dir.exists()
    page.wait_for_function("(id) => !document.getElementById('ft-runs-table').innerText.includes(id)",
                           arg=res.run_id, timeout=30_000)
