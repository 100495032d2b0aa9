"""Presenter-grade UX in a real browser at 1366×768: the main button in view without scrolling,
charts that follow the dark theme, failed runs that replace their results, model states and
Download, table headers that break between words only, bubble labels that never overlap,
presenter mode, and the Learn tab's "Show me" buttons."""

from __future__ import annotations

import re

import pytest

from tests import fake_hub
from tests.conftest import EXAMPLES, SCREENSHOTS
from tests.e2e.browser import idle, set_dropdown, text_in

pytestmark = pytest.mark.browser
W, H = 1366, 768


@pytest.fixture
def view(browser, app_url):
    """A page the size of a common laptop screen."""
    ctx = browser.new_context(viewport={"width": W, "height": H})
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    ctx.close()


def _open(page, url, tab: str, query: str = ""):
    page.goto(url + query, wait_until="load")
    page.wait_for_selector("#classify-btn")
    if tab != "Classify":
        page.get_by_role("tab", name=tab).click()


def _shot(page, name: str, full_page: bool = False):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.wait_for_timeout(600)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


@pytest.mark.parametrize("tab,button", [("Classify", "classify-btn"), ("Compare", "compare-btn"),
                                        ("Segment", "segment-btn"), ("Detect", "detect-btn"),
                                        ("Explain", "explain-btn"), ("Embeddings", "emb-leaderboard-btn"),
                                        ("Learn", "learn-show-pretrained")])
def test_the_main_button_is_in_view_without_scrolling(view, app_url, tab, button):
    _open(view, app_url, tab)
    view.wait_for_selector(f"#{button}")
    view.wait_for_timeout(500)
    box = view.locator(f"#{button}").bounding_box()
    assert view.evaluate("window.scrollY") == 0
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= H, box
    assert box["x"] >= 0 and box["x"] + box["width"] <= W, box


FT_STEPS = [("1 · Data", "ft-load-btn"), ("2 · Backbone", "ft-model-next"), ("3 · Train", "ft-start-btn"),
            ("4 · Results", "ft-open-classify"), ("5 · Compare strategies", "ft-ladder-btn"),
            ("5 · Compare strategies", "ft-efficiency-btn"), ("6 · Runs", "ft-run-open-classify")]


@pytest.mark.parametrize("step,button", FT_STEPS)
def test_each_finetune_step_has_its_main_button_in_view(view, app_url, step, button):
    _open(view, app_url, "Fine-tune")
    view.get_by_role("tab", name=step).click()
    view.wait_for_selector(f"#{button}", state="visible")
    view.wait_for_timeout(400)
    box = view.locator(f"#{button}").bounding_box()
    assert view.evaluate("window.scrollY") == 0
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= H, (step, box)
    assert "primary" in (view.locator(f"#{button}").get_attribute("class") or "")


def _luminance(css_color: str) -> float:
    r, g, b = (int(v) for v in re.findall(r"\d+", css_color)[:3])
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255


def test_charts_follow_the_dark_theme(view, app_url):
    _open(view, app_url, "Classify", "?__theme=dark")
    set_dropdown(view, "classify-model", "demo-vit")
    view.locator("#classify-image input[type=file]").set_input_files(str(EXAMPLES / "cat.jpg"))
    view.wait_for_selector("#classify-plot .js-plotly-plot .bars")
    idle(view, "classify-facts")
    assert view.evaluate("document.body.classList.contains('dark')")
    assert _luminance(view.evaluate("getComputedStyle(document.querySelector('gradio-app')).backgroundColor")) < 0.3
    svg = view.locator("#classify-plot .main-svg").first
    assert svg.evaluate("e => getComputedStyle(e).backgroundColor") in ("rgba(0, 0, 0, 0)", "transparent")
    bg = view.locator("#classify-plot rect.bg").first.evaluate("e => getComputedStyle(e).fill")
    assert bg.startswith("rgba(0, 0, 0, 0)") or bg == "none" or "0)" in bg
    ticks = view.locator("#classify-plot .ytick text").first.evaluate("e => getComputedStyle(e).fill")
    title = view.locator("#classify-plot .xtitle").first.evaluate("e => getComputedStyle(e).fill")
    assert _luminance(ticks) > 0.6 and _luminance(title) > 0.6, (ticks, title)
    _shot(view, "classify-dark.png")


def _no_error_pill(page, *ids):
    for elem_id in ids:
        assert page.locator(f"#{elem_id} .error").filter(has_text="Error").count() == 0, elem_id
    assert page.locator(".toast-body").count() == 0  # no toast over the results


def test_a_failed_classify_replaces_its_result(view, app_url):
    _open(view, app_url, "Classify")
    set_dropdown(view, "classify-model", "demo-vit")
    view.locator("#classify-image input[type=file]").set_input_files(str(EXAMPLES / "cat.jpg"))
    view.wait_for_selector("#classify-facts .tl-top1")
    idle(view, "classify-facts")
    set_dropdown(view, "classify-model", "vit-base")  # not downloaded; the Hub cannot be reached here
    text_in(view, "classify-model-state", "cannot be reached")
    assert not view.locator("#classify-download").is_visible()  # no Download without a Hub
    view.click("#classify-btn")
    text_in(view, "classify-facts", "No result")
    text_in(view, "classify-plot", "No result")
    view.wait_for_timeout(500)
    assert view.locator("#classify-facts .tl-top1").count() == 0  # the previous model's answer is gone
    assert "demo-vit" not in view.inner_text("#classify-facts")
    _no_error_pill(view, "classify-plot", "classify-facts")


def _fail_after_a_result(view, tab: str, good: str, bad: str, photo: str, result: str, said: str, gone) -> None:
    """In ``tab``: a result from the ``good`` model, then a run of the ``bad`` one (not downloaded, no Hub):
    ``said`` appears where the result was (in ``result``) and ``gone()`` holds."""
    prefix = tab.lower()
    view.get_by_role("tab", name=tab).click()
    set_dropdown(view, f"{prefix}-model", good)
    view.locator(f"#{prefix}-image input[type=file]").set_input_files(str(EXAMPLES / photo))
    view.wait_for_selector(f"#{prefix}-output img")
    idle(view, f"{prefix}-facts")
    set_dropdown(view, f"{prefix}-model", bad)
    view.click(f"#{prefix}-btn")
    text_in(view, result, said)
    view.wait_for_timeout(500)
    assert view.locator(f"#{prefix}-output img").count() == 0
    assert gone()
    _no_error_pill(view, f"{prefix}-output", f"{prefix}-plot", f"{prefix}-facts", result)


def test_a_failed_segment_and_detect_replace_their_results(view, app_url):
    _open(view, app_url, "Segment")
    _fail_after_a_result(view, "Segment", "demo-segformer", "segformer-b0-ade", "astronaut.jpg", "segment-legend",
                         "cannot be reached", lambda: "%" not in view.inner_text("#segment-legend")
                         and view.locator("#segment-classes input[type=checkbox]").count() == 0)
    _fail_after_a_result(view, "Detect", "demo-detr", "detr-resnet-50", "cat.jpg", "detect-summary", "No result",
                         lambda: "latency" not in view.inner_text("#detect-facts")
                         and not re.search(r"\d\.\d", view.inner_text("#detect-table")))  # no scores left


def test_compare_headers_labels_and_a_failed_run(view, app_url):
    _open(view, app_url, "Compare")
    view.click("#compare-preset-large-accurate")
    view.wait_for_function("document.querySelectorAll('#compare-models .token').length === 4")
    view.click("#compare-examples-btn")
    view.wait_for_selector("#compare-preview img")
    view.click("#compare-btn")
    text_in(view, "compare-status", "Compared 4 of 4", timeout=180_000)
    view.wait_for_selector("#compare-latency-plot .scatterlayer .point")
    # table headers wrap between words only: every word of every header sits on one line
    split = view.evaluate("""() => {
        const out = [];
        for (const th of document.querySelectorAll('#compare-table th')) {
          const walker = document.createTreeWalker(th, NodeFilter.SHOW_TEXT);
          let node;
          while ((node = walker.nextNode())) {
            const re = /\\S+/g; let m;
            while ((m = re.exec(node.textContent))) {
              const r = document.createRange(); r.setStart(node, m.index); r.setEnd(node, m.index + m[0].length);
              const lines = new Set(Array.from(r.getClientRects()).map((q) => Math.round(q.top)));
              if (lines.size > 1) out.push(m[0]);
            }
          }
        }
        return out; }""")
    assert split == [], split
    # bubble labels (when drawn) never overlap each other
    boxes = view.evaluate("""() => Array.from(document.querySelectorAll('#compare-latency-plot .textpoint text'))
        .map((t) => { const r = t.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; })""")
    for i, a in enumerate(boxes):
        for b in boxes[i + 1:]:
            assert not (a[0] < b[2] - 1 and b[0] < a[2] - 1 and a[1] < b[3] - 1 and b[1] < a[3] - 1), (a, b)
    legend = view.locator("#compare-latency-plot .legend .traces").count()
    assert boxes or legend == 4  # labels beside the bubbles, or a legend naming them
    _shot(view, "compare-1366.png", full_page=True)
    # one model left: the run fails and its outputs say why instead of keeping the old numbers
    for _ in range(3):
        view.locator("#compare-models .token .token-remove, #compare-models .token [role=button]").first.click()
    view.wait_for_function("document.querySelectorAll('#compare-models .token').length === 1")
    view.click("#compare-btn")
    text_in(view, "compare-status", "at least 2")
    view.wait_for_timeout(500)
    assert "demo-vit" not in view.inner_text("#compare-table")
    assert view.locator("#compare-latency-plot .scatterlayer .point").count() == 0
    _no_error_pill(view, "compare-status", "compare-table", "compare-latency-plot")


def test_download_button_with_progress(view, app_url, demo_models, monkeypatch):
    with fake_hub.reachable_hub(monkeypatch, demo_models["demo-deit"], delay_s=0.15):
        _open(view, app_url, "Classify")
        view.locator("#classify-model input").click()  # the list refreshes on focus
        set_dropdown(view, "classify-model", fake_hub.KEY)
        text_in(view, "classify-model-state", "press Download")
        assert view.locator("#classify-download").is_visible()
        view.click("#classify-download")
        text_in(view, "classify-model-state", "Downloading facebook/deit-small", timeout=30_000)  # the progress bar
        text_in(view, "classify-model-state", "Downloaded", timeout=60_000)
        assert not view.locator("#classify-download").is_visible()
        view.locator("#classify-model input").click()
        view.wait_for_selector(f"ul[role=listbox] li:has-text('{fake_hub.KEY}'):has-text('cached')")
        view.locator("body").click(position={"x": 5, "y": 5})
        view.locator("#classify-image input[type=file]").set_input_files(str(EXAMPLES / "cat.jpg"))
        text_in(view, "classify-facts", fake_hub.REPO)


def test_intro_follows_the_model(view, app_url):
    _open(view, app_url, "Classify")
    set_dropdown(view, "classify-model", "demo-vit")
    intro = view.locator("#tab-classify .tl-intro").first
    view.wait_for_function("(e) => e.innerText.includes('random weights')", arg=intro.element_handle())
    assert "ImageNet" not in intro.inner_text()
    set_dropdown(view, "classify-model", "vit-base")
    view.wait_for_function("(e) => e.innerText.includes('ImageNet')", arg=intro.element_handle())


def test_presenter_mode_large_type_no_technical_cards_result_on_one_screen(view, app_url):
    _open(view, app_url, "Classify")
    normal = view.evaluate("parseFloat(getComputedStyle(document.querySelector('#tab-classify .tl-intro')).fontSize)")
    _open(view, app_url, "Classify", "?present=1")
    view.wait_for_function("document.body.classList.contains('tl-present')")
    large = view.evaluate("parseFloat(getComputedStyle(document.querySelector('#tab-classify .tl-intro')).fontSize)")
    assert large >= normal * 1.2, (normal, large)
    set_dropdown(view, "classify-model", "demo-resnet-shapes")
    view.locator("#classify-image input[type=file]").set_input_files(str(EXAMPLES / "cat.jpg"))
    view.wait_for_selector("#classify-facts .tl-top1")
    assert not view.locator("#classify-facts .tl-facts").is_visible()  # the technical card is hidden
    assert not view.locator("#classify-custom-model").is_visible()
    view.click("#classify-btn")
    idle(view, "classify-facts", started_within=3_000)
    view.wait_for_timeout(800)
    for elem in ("#classify-plot", "#classify-facts .tl-top1"):
        box = view.locator(elem).bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= H, (elem, box)
    _shot(view, "presenter.png")
    view.click("#tl-present-toggle")
    view.wait_for_function("!document.body.classList.contains('tl-present')")


def test_learn_tab_show_me_opens_and_runs_the_tabs(view, app_url):
    _open(view, app_url, "Learn")
    view.wait_for_selector("#learn-show-pretrained")
    _shot(view, "learn.png")
    view.click("#learn-show-pretrained")
    view.wait_for_selector("#tab-classify-button[aria-selected=true]")
    view.wait_for_selector("#classify-facts .tl-top1")
    text_in(view, "classify-facts", "demo-resnet-shapes")
    # a model pretrained on generated shapes is shown a generated shape it can name (not a cat it calls "checker")
    text_in(view, "classify-facts", "ring")
    view.get_by_role("tab", name="Learn").click()
    text_in(view, "learn-status", "six generated shapes")
    view.click("#learn-show-zero-shot")
    view.wait_for_selector("#tab-detect-button[aria-selected=true]")
    text_in(view, "detect-facts", "zero-shot")
    text_in(view, "detect-facts", "sofa")
    view.get_by_role("tab", name="Learn").click()
    view.click("#learn-show-inside")
    view.wait_for_selector("#tab-explain-button[aria-selected=true]")
    text_in(view, "explain-facts", "demo-vit-shapes", timeout=120_000)
    view.get_by_role("tab", name="Learn").click()
    # feature extraction: Fine-tune's Train step with the sample, a pretrained backbone and a linear probe
    view.click("#learn-show-features")
    view.wait_for_selector("#tab-finetune-button[aria-selected=true]")
    view.wait_for_selector("[role=tab][aria-selected=true]:has-text('3 · Train')")
    # the step's numbered badge keeps its circle though step 1 (where a style tag used to live) never opened
    badge = view.locator("#ft-step-train .ft-num").first
    assert badge.evaluate("e => [getComputedStyle(e).borderRadius, getComputedStyle(e).backgroundColor]") == \
        ["50%", "rgb(79, 70, 229)"]
    text_in(view, "ft-status", "Done", timeout=240_000)
    assert "Linear probe" in view.inner_text("#ft-status")
