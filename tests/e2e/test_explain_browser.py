"""Explain in a real browser: every method shows a map for the pretrained demo CNN and ViT (attention
methods are refused on the CNN with a sentence), and before/after works on a run made in the Fine-tune
tab. Saves the screenshots used in the docs (explain-*.png)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.conftest import SCREENSHOTS
from tests.e2e.browser import bottom, idle, set_dropdown, text_in
from tlweb.engine.explain import all_methods, method_name

pytestmark = pytest.mark.browser

CNN, VIT = "demo-resnet-shapes", "demo-vit-shapes"
RADIO = {m.key: m.label for m in all_methods()}  # the tab's choices, from the methods' records


def _shape_picture(path, kind="ring"):
    from PIL import Image

    from tlweb.engine.data import draw_shape

    rng = np.random.default_rng(5)
    Image.fromarray(draw_shape(kind, rng, size=320, color=(240, 180, 40), background=(40, 60, 90))).save(path)
    return path


def _shot(page, name: str, until: str = "#explain-top5") -> None:
    page.mouse.move(0, 0)
    page.wait_for_timeout(600)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1400, "height": bottom(page, until) + 16})


def _open(page, app_url, picture):
    page.goto(app_url, wait_until="load")
    page.get_by_role("tab", name="Explain").click()
    page.wait_for_selector("#explain-btn")
    page.locator("#explain-image input[type=file]").set_input_files(str(picture))
    idle(page, "explain-overlay", timeout=90_000, started_within=5_000)


def _pick(page, model: str, method: str) -> None:
    current = page.locator("#explain-model input").input_value()
    if not current.startswith(model):
        set_dropdown(page, "explain-model", model)
        idle(page, "explain-layer", started_within=2_000)  # the layer slider follows the model
    page.locator(f"#explain-method label:has-text('{RADIO[method]}')").first.click()


def _run(page, model: str, method: str) -> None:
    _pick(page, model, method)
    page.click("#explain-btn")
    idle(page, "explain-overlay", timeout=120_000, started_within=5_000)
    # the facts name the method once the run is through (it may first wait in the queue, shown without
    # "processing", when the machine is busy)
    text_in(page, "explain-facts", method_name(method), timeout=180_000)
    text_in(page, "explain-facts", model)
    # a map is drawn (the new picture may still be loading when the facts have changed)
    page.wait_for_function("() => { const e = document.querySelector('#explain-overlay img');"
                           " return e && e.complete && e.naturalWidth > 100; }", timeout=30_000)


def test_every_method_on_a_cnn_and_a_vit(page, app_url, tmp_path):
    _open(page, app_url, _shape_picture(tmp_path / "ring.png"))
    for method in ("rollout", "attention", "gradcam", "features", "occlusion"):
        _run(page, VIT, method)
        if method in ("rollout", "attention", "features"):
            assert page.locator("#explain-strip img").first.evaluate("e => e.naturalWidth") > 300  # one map per layer
        if method == "features":
            # the images arrive just after the status text on a busy machine: wait for them (a wait, not a timing)
            page.wait_for_selector("#explain-pca img", timeout=60_000)
            page.wait_for_selector("#explain-channels img", timeout=60_000)
        if method in ("rollout", "features", "gradcam"):
            _shot(page, f"explain-{method}-vit.png")
    for method in ("gradcam", "occlusion", "features"):
        _run(page, CNN, method)
        if method == "gradcam":
            _shot(page, "explain-gradcam-cnn.png")
    # attention does not exist in a CNN: one sentence, and the app keeps serving
    _pick(page, CNN, "rollout")
    page.click("#explain-btn")
    toast = page.wait_for_selector(".toast-body", timeout=60_000)
    assert "no attention layers" in toast.inner_text() and "Traceback" not in page.content()
    # the sanity check: the same architecture with random weights
    page.locator(".toast-close").first.click()
    page.wait_for_selector(".toast-body", state="detached", timeout=30_000)
    page.locator("#explain-random input").check()
    _run(page, VIT, "rollout")
    text_in(page, "explain-facts", "Random weights (sanity check)")
    _shot(page, "explain-rollout-vit-random.png", until="#explain-facts")


def test_before_after_on_a_run_made_in_the_finetune_tab(page, app_url, tmp_path):
    page.goto(app_url, wait_until="load")
    page.get_by_role("tab", name="Fine-tune").click()  # its steps: 1 · Data … 4 · Results
    page.wait_for_selector("#ft-load-btn")
    page.click("#ft-load-btn")
    text_in(page, "ft-data-notes", "classes", timeout=60_000)
    page.get_by_role("tab", name="2 · Backbone").click()
    set_dropdown(page, "ft-model", CNN)
    set_dropdown(page, "ft-epochs", "2")
    page.get_by_role("tab", name="3 · Train").click()
    page.click("#ft-start-btn")
    text_in(page, "ft-status", "Done", timeout=240_000)
    page.get_by_role("tab", name="4 · Results").click()
    run_id = page.inner_text("#ft-hint code").strip()
    assert run_id

    page.get_by_role("tab", name="Explain").click()
    page.locator("#explain-image input[type=file]").set_input_files(str(_shape_picture(tmp_path / "c.png", "cross")))
    idle(page, "explain-overlay", timeout=90_000, started_within=5_000)
    page.locator("#explain-ba button.label-wrap").first.click()
    page.locator("#explain-run input").click()  # the list refreshes on focus: the new run appears
    from tlweb.engine.listing import resolve

    label = resolve(run_id).label  # runs are listed by their short name (base model · strategy · time)
    page.locator("#explain-run [role=option]", has_text=label).first.click()
    page.click("#explain-ba-btn")
    text_in(page, "explain-ba-facts", "map correlation", timeout=120_000)
    idle(page, "explain-ba-view")
    facts = page.inner_text("#explain-ba-facts")
    assert CNN in facts and run_id in facts
    assert page.locator("#explain-ba-view img").first.evaluate("e => e.naturalWidth") > 300
    page.wait_for_selector("#explain-ba-plot .js-plotly-plot .bars")
    page.mouse.move(0, 0)
    page.wait_for_timeout(600)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#explain-ba").screenshot(path=str(SCREENSHOTS / "explain-before-after.png"))
