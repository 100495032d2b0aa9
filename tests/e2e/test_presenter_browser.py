"""Presenter polish, round 2, in a real browser at 1366×768: every main button (and Explain's pickers) in view
with presenter mode on, chart text that grows with it, note boxes and the confusion matrix in the light and the
dark theme, and a runs list that offers only the picked run's files and says what it deleted."""

from __future__ import annotations

import io
import re

import pytest

from tests.conftest import SCREENSHOTS
from tests.e2e.browser import idle, set_dropdown, text_in

pytestmark = pytest.mark.browser
W, H = 1366, 768
TABS = [("Classify", "classify-btn"), ("Compare", "compare-btn"), ("Segment", "segment-btn"), ("Detect", "detect-btn"),
        ("Explain", "explain-btn"), ("Embeddings", "emb-leaderboard-btn"), ("Learn", "learn-show-pretrained")]
FT_STEPS = [("1 · Data", "ft-load-btn"), ("2 · Backbone", "ft-model-next"), ("3 · Train", "ft-start-btn"),
            ("4 · Results", "ft-open-classify"), ("5 · Compare strategies", "ft-ladder-btn"),
            ("5 · Compare strategies", "ft-efficiency-btn"), ("6 · Runs", "ft-run-open-classify")]


@pytest.fixture
def view(browser, app_url):
    ctx = browser.new_context(viewport={"width": W, "height": H})
    pg = ctx.new_page()
    pg.set_default_timeout(90_000)
    yield pg
    ctx.close()


def _open(page, url: str, query: str = "") -> None:
    page.goto(url + query, wait_until="load")
    page.wait_for_selector("#classify-btn")
    if "present=1" in query:
        page.wait_for_function("document.body.classList.contains('tl-present')")


def _in_view(page, selector: str) -> dict:
    box = page.locator(selector).first.bounding_box()
    assert page.evaluate("window.scrollY") == 0
    assert box and box["y"] >= 0 and box["y"] + box["height"] <= H and box["x"] + box["width"] <= W, (selector, box)
    return box


def _shot(page, name: str, full_page: bool = False) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.mouse.move(0, 0)
    page.wait_for_timeout(600)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=full_page)


def test_every_main_button_in_view_in_presenter_mode(view, app_url):
    """Large type must not push a tab's main button below the fold (Explain's was at y = 805-854, Embeddings'
    Rank at 800-849, Fine-tune's ladder and curve buttons below it too)."""
    _open(view, app_url, "?present=1")
    for tab, button in TABS:
        view.get_by_role("tab", name=tab, exact=True).click()
        view.wait_for_selector(f"#{button}", state="visible")
        view.wait_for_timeout(300)
        _in_view(view, f"#{button}")
        if tab == "Explain":  # the presenter picks the model and the method before pressing it
            _in_view(view, "#explain-model")
            _in_view(view, "#explain-method")
            _shot(view, "presenter-explain.png")
    view.get_by_role("tab", name="Fine-tune").click()
    for step, button in FT_STEPS:
        view.get_by_role("tab", name=step).click()
        view.wait_for_selector(f"#{button}", state="visible")
        view.wait_for_timeout(300)
        _in_view(view, f"#{button}")


def test_explain_pickers_in_view_without_presenter_mode(view, app_url):
    _open(view, app_url)
    view.get_by_role("tab", name="Explain").click()
    view.wait_for_selector("#explain-btn", state="visible")
    view.wait_for_timeout(300)
    for selector in ("#explain-model", "#explain-method", "#explain-btn"):
        _in_view(view, selector)


def _font_sizes(page, elem_id: str) -> list[float]:
    return page.evaluate("(id) => Array.from(document.querySelectorAll('#' + id + ' .main-svg text'))"
                         ".map((t) => parseFloat(getComputedStyle(t).fontSize)).filter((s) => s > 0)", elem_id)


def test_chart_text_grows_with_presenter_mode(view, app_url):
    from tlweb.ui.app import PRESENT_CHART_SCALE
    from tlweb.viz.common import FONT_SIZE as base
    _open(view, app_url)
    set_dropdown(view, "classify-model", "demo-resnet-shapes")
    view.locator("#classify-image input[type=file]").set_input_files(str(_example("cat.jpg")))
    view.wait_for_selector("#classify-plot .js-plotly-plot .bars")
    idle(view, "classify-facts")
    view.wait_for_timeout(1500)
    assert min(_font_sizes(view, "classify-plot")) >= 11 and max(_font_sizes(view, "classify-plot")) <= 20
    ticks = view.locator("#classify-plot .ytick text").first
    normal = float(ticks.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert normal == base
    view.click("#tl-present-toggle")
    view.wait_for_function("(min) => { const t = document.querySelector('#classify-plot .ytick text');"
                           " return t && parseFloat(getComputedStyle(t).fontSize) >= min; }",
                           arg=base * PRESENT_CHART_SCALE - 0.2, timeout=10_000)
    assert min(_font_sizes(view, "classify-plot")) >= 11 * PRESENT_CHART_SCALE - 0.2
    # a new result in presenter mode comes at the server's sizes and is scaled as it appears
    view.click("#classify-btn")
    idle(view, "classify-facts", started_within=3_000)
    view.wait_for_timeout(1500)
    big = float(view.locator("#classify-plot .ytick text").first.evaluate("e => parseFloat(getComputedStyle(e).fontSize)"))
    assert big >= base * PRESENT_CHART_SCALE - 0.2, big
    view.click("#tl-present-toggle")  # and back
    view.wait_for_function("(b) => { const t = document.querySelector('#classify-plot .ytick text');"
                           " return t && Math.abs(parseFloat(getComputedStyle(t).fontSize) - b) < 0.2; }",
                           arg=base, timeout=10_000)


def _example(name: str):
    from tests.conftest import EXAMPLES

    return EXAMPLES / name


def _luminance(css_color: str) -> float:
    r, g, b = (int(float(v)) for v in re.findall(r"[\d.]+", css_color)[:3])
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255


def _pixel_luminance(png: bytes, x: float, y: float) -> float:
    from PIL import Image

    with Image.open(io.BytesIO(png)) as im:
        r, g, b = im.convert("RGB").getpixel((int(x), int(y)))
    return (0.299 * r + 0.587 * g + 0.114 * b) / 255


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_notes_and_confusion_matrix_follow_the_theme(view, app_url, theme):
    """Dark mode had pale note boxes holding white text and white empty cells in the confusion matrix."""
    dark = theme == "dark"
    _open(view, app_url, "?__theme=dark" if dark else "")
    assert view.evaluate("document.body.classList.contains('dark')") == dark
    view.get_by_role("tab", name="Fine-tune").click()
    view.get_by_role("tab", name="2 · Backbone").click()
    set_dropdown(view, "ft-model", "demo-resnet-shapes")
    view.get_by_role("tab", name="3 · Train").click()
    view.click("#ft-start-btn")  # the sample and the linear probe: seconds
    text_in(view, "ft-status", "Done", timeout=240_000)
    view.get_by_role("tab", name="4 · Results").click()
    view.wait_for_selector("#ft-confusion-plot .js-plotly-plot .heatmaplayer")
    view.wait_for_timeout(1200)
    for box in ("#ft-hint .ft-hint",):
        bg, fg = view.locator(box).first.evaluate("e => [getComputedStyle(e).backgroundColor, getComputedStyle(e).color]")
        page_bg = view.evaluate("getComputedStyle(document.querySelector('gradio-app')).backgroundColor")
        # the text stands out from what is behind it (a translucent box shows the page through it)
        behind = _luminance(page_bg) if "rgba" in bg and float(bg.rstrip(")").split(",")[-1]) < 0.5 else _luminance(bg)
        assert abs(_luminance(fg) - behind) > 0.45, (theme, bg, fg, page_bg)
    # the empty cells of the confusion matrix: the page's tint, and their numbers readable on them
    cells = view.evaluate("""() => Array.from(document.querySelectorAll('#ft-confusion-plot .annotation'))
        .filter((a) => /^0\\s*0%$/.test(a.textContent.trim()))
        .map((a) => { const r = a.getBoundingClientRect(); const t = a.querySelector('text');
                      return [r.left + r.width / 2, r.top - 6, getComputedStyle(t).fill]; })""")
    assert cells, "no empty cell in the confusion matrix"
    png = view.screenshot()
    for x, y, fill in cells[:4]:
        cell = _pixel_luminance(png, x, y)
        assert (cell < 0.35) if dark else (cell > 0.8), (theme, cell)
        assert abs(_luminance(fill) - cell) > 0.45, (theme, fill, cell)
    if dark:
        view.evaluate("window.scrollTo(0, 0)")
        _shot(view, "finetune-results-dark.png", full_page=True)


def test_runs_list_offers_the_picked_runs_files_only_and_says_what_it_deleted(view, app_url, settings):
    """After run A's "Download model", picking run B hid nothing (A's zip stayed, even after B was deleted);
    delete said nothing near its buttons; the bin was an emoji (an empty box without an emoji font)."""
    from tlweb.engine.data import sample_data, subsample
    from tlweb.engine.train import TrainConfig, finetune

    data = subsample(sample_data(settings), 2, 0)
    a, b = (finetune(TrainConfig("demo-vit", data, "linear", name=f"runs list {x}"), settings=settings)
            for x in "ab")
    _open(view, app_url)
    view.get_by_role("tab", name="Fine-tune").click()
    view.get_by_role("tab", name="6 · Runs").click()
    view.click("#ft-runs-refresh")
    text_in(view, "ft-runs-table", b.run_id, timeout=60_000)
    view.locator("#ft-runs-table [role=gridcell]").filter(has_text=a.run_id).first.click()
    text_in(view, "ft-run-metrics", a.run_id, timeout=60_000)
    view.click("#ft-export-btn")
    text_in(view, "ft-export-file", a.run_id, timeout=60_000)
    view.locator("#ft-runs-table [role=gridcell]").filter(has_text=b.run_id).first.click()
    text_in(view, "ft-run-metrics", b.run_id, timeout=60_000)
    view.wait_for_selector("#ft-export-file", state="hidden", timeout=10_000)  # A's zip is not offered for B
    delete = view.locator("#ft-delete-btn")
    label = delete.inner_text()
    assert not any(ord(c) >= 0x1F000 for c in label), label  # no emoji: the bin is drawn by CSS
    assert "svg" in delete.evaluate("e => getComputedStyle(e, '::before').webkitMaskImage || ''")
    view.click("#ft-delete-btn")
    view.wait_for_selector("#ft-delete-yes", state="visible")
    view.click("#ft-delete-yes")
    text_in(view, "ft-runs-note", "Deleted the run", timeout=30_000)
    assert not b.run_dir.exists()
    note = view.locator("#ft-runs-note").bounding_box()  # on screen where the buttons are (the page may scroll)
    assert note and 0 <= note["y"] and note["y"] + note["height"] <= H, note
    buttons = view.locator("#ft-delete-btn").bounding_box()
    assert buttons["y"] < note["y"] < view.locator("#ft-runs-table").bounding_box()["y"]  # under the buttons
    assert not view.locator("#ft-export-file").is_visible()
    view.wait_for_function("() => !document.getElementById('ft-run-metrics').innerText.includes('Deleted')")  # once
    view.locator("#ft-step-runs .ft-sec").first.evaluate("e => window.scrollTo(0, e.getBoundingClientRect().top "
                                                         "+ window.scrollY - 8)")
    _shot(view, "finetune-runs.png")
