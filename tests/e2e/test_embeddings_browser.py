"""The Embeddings tab in a real browser: leaderboard with its zero-shot row, the projector with
WebGL and — in a browser without WebGL — its SVG fallback, hover thumbnails, a click that shows
the nearest neighbours; zero-shot labels in the Classify tab. Screenshots go to docs/screenshots."""

from __future__ import annotations

import pytest

from tests.conftest import CHROMIUM_ARGS, EXAMPLES, SCREENSHOTS
from tests.e2e.browser import set_dropdown, text_in

pytestmark = pytest.mark.browser

# the hover/click script has found the plot (it polls every 500 ms)
ATTACHED = "(sel) => { const gd = document.querySelector(sel); return !!(gd && gd._ev && gd.__tlEv === gd._ev); }"
WEBGL = "() => { const c = document.createElement('canvas'); return !!(c.getContext('webgl2') || c.getContext('webgl')); }"


def _open(page, app_url):
    page.goto(app_url, wait_until="load")
    page.get_by_role("tab", name="Embeddings").click()
    page.wait_for_selector("#emb-leaderboard-btn")


def _shot(page, first: str, last: str, name: str) -> None:
    """A screenshot from the top of ``first`` to the bottom of ``last`` (page coordinates)."""
    top = page.locator(first).first.evaluate("e => e.getBoundingClientRect().top + window.scrollY")
    bottom = page.locator(last).first.evaluate("e => e.getBoundingClientRect().bottom + window.scrollY")
    width = page.evaluate("() => document.documentElement.clientWidth")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True,
                    clip={"x": 0, "y": max(0, top - 12), "width": width, "height": bottom - top + 24})


def test_leaderboard_in_browser(page, app_url):
    _open(page, app_url)
    page.click("#emb-leaderboard-btn")
    text_in(page, "emb-status", "Ranked 5 of 5 models", timeout=300_000)
    page.wait_for_selector("#emb-chart .js-plotly-plot .scatterlayer .point", timeout=60_000)
    table = page.inner_text("#emb-table")
    for name in ("demo-resnet-shapes", "demo-resnet", "demo-vit", "demo-convnext", "demo-clip"):
        assert name in table
    assert "best trade-off" in table
    text_in(page, "emb-best", "Best trade-off: demo-resnet-shapes")
    assert page.locator("#emb-chart .scatterlayer .trace").count() >= 6  # 5 models + the Pareto front
    assert "Traceback" not in page.inner_text("body")
    page.wait_for_timeout(800)
    _shot(page, "#emb-leaderboard-btn", "#emb-table", "embeddings-leaderboard.png")


def test_projector_webgl_in_browser(page, app_url):
    _open(page, app_url)
    page.click("#emb-projector-btn")
    text_in(page, "emb-projector-status", "random init: k-NN", timeout=300_000)
    webgl = page.evaluate(WEBGL)
    status = page.inner_text("#emb-projector-status")
    if webgl:  # "auto" asked the browser: WebGL points drawn on canvases
        assert "WebGL points" in status
        page.wait_for_selector("#emb-projector .gl-canvas", timeout=30_000)
    else:
        assert "SVG points" in status
        page.wait_for_selector("#emb-projector .scatterlayer .point", timeout=30_000)
    titles = page.inner_text("#emb-projector")
    assert "k-NN accuracy" in titles and "silhouette" in titles
    page.wait_for_timeout(800)
    _shot(page, "#emb-projector-model", "#emb-projector", "embeddings-projector.png")


def test_projector_without_webgl_falls_back_to_svg(browser, app_url):
    """A browser with no WebGL at all: "auto" turns into SVG points; hover and click still work."""
    from tests.conftest import CHROMIUM

    no_webgl = browser.browser_type.launch(executable_path=CHROMIUM, headless=True,
                                           args=CHROMIUM_ARGS + ["--disable-3d-apis"])
    try:
        page = no_webgl.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(60_000)
        _open(page, app_url)
        assert page.evaluate(WEBGL) is False
        page.click("#emb-projector-btn")
        text_in(page, "emb-projector-status", "SVG points", timeout=300_000)
        points = page.locator("#emb-projector .scatterlayer .point")
        points.first.wait_for()
        assert points.count() == 2 * 160  # every sample image, in both panels
        point = points.nth(7)
        shown = ("() => { const t = document.getElementById('tl-thumb-tip');"
                 " return t && t.style.display === 'block' && t.innerText.includes('point'); }")
        for attempt in range(6):  # the page may still move (pictures, the status line) between measure and hover
            point.scroll_into_view_if_needed()
            page.wait_for_timeout(300)
            box = point.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.move(x - 8, y)
            page.mouse.move(x, y, steps=4)
            try:
                page.wait_for_function(shown, timeout=10_000)
                break
            except Exception:  # noqa: BLE001 - measure again and hover again
                if attempt == 5:
                    raise
        tile = page.evaluate("() => document.querySelector('#tl-thumb-tip .img').style.backgroundImage")
        assert tile.startswith('url("data:image/jpeg;base64,')
        page.mouse.click(x, y)
        text_in(page, "emb-point-text", "nearest neighbours share its class")
        assert page.input_value("#emb-point textarea, #emb-point input").startswith("0:")
        page.wait_for_function("() => document.querySelectorAll('#emb-neighbours img').length >= 7")
        page.mouse.move(x, y + 2)
        page.mouse.move(x, y, steps=3)  # show the hover thumbnail in the screenshot
        page.wait_for_timeout(600)
        _shot(page, "#emb-projector-status", "#emb-neighbours", "embeddings-neighbours.png")
    finally:
        no_webgl.close()


def test_zero_shot_labels_in_classify_tab(page, app_url):
    page.goto(app_url, wait_until="load")
    page.wait_for_selector("#classify-btn")
    assert not page.locator("#classify-labels").is_visible()
    set_dropdown(page, "classify-model", "demo-clip")
    page.wait_for_selector("#classify-labels", state="visible", timeout=30_000)
    page.fill("#classify-labels textarea, #classify-labels input", "cat, dog, coffee cup")
    page.locator("#classify-image input[type=file]").set_input_files(str(EXAMPLES / "cat.jpg"))
    page.wait_for_selector("#classify-facts :text('latency')", timeout=60_000)
    page.click("#classify-btn")
    page.wait_for_timeout(1500)
    page.wait_for_selector("#classify-plot .js-plotly-plot .bars", timeout=60_000)
    plot = page.inner_text("#classify-plot")
    for label in ("cat", "dog", "coffee cup"):
        assert label in plot
    assert "clip" in page.inner_text("#classify-facts")
    page.wait_for_timeout(600)
    _shot(page, "#classify-model", "#classify-facts", "embeddings-zero-shot-classify.png")


@pytest.mark.parametrize("webgl", [True, False])
def test_five_thousand_points_page(page, tmp_path, webgl):
    """The standalone projector page with 5,000 points (the issue's scale), WebGL and SVG: every
    point is drawn, hovering one shows its thumbnail, clicking one lists its neighbours."""
    import numpy as np
    import torch

    from tlweb.engine.embeddings import Projection, _sprite
    from tlweb.viz.embeddings import projector_html

    n = 5000
    rng = np.random.default_rng(0)
    labels = [int(v) for v in rng.integers(0, 5, n)]
    tiles = torch.from_numpy(rng.integers(0, 255, (n, 3, 8, 8), dtype=np.uint8))
    sprite, cols = _sprite(lambda i: tiles[i], n, 32)
    proj = Projection(model="m", weights="pretrained", method="PCA", xy=rng.normal(size=(n, 2)), labels=labels,
                      splits=["train"] * n, rows=list(range(n)), class_names=list("abcde"),
                      knn={"accuracy": 0.5, "k": 3, "test_images": 100}, silhouette=0.1,
                      neighbours=rng.integers(0, n, (n, 6)), sprite=sprite, sprite_cols=cols, thumb=32,
                      total_images=n)
    html = tmp_path / "proj.html"
    html.write_text(projector_html([proj], webgl=webgl))
    page.goto(html.as_uri(), wait_until="load")
    page.wait_for_selector("#tl-projector .main-svg")
    if webgl and page.evaluate(WEBGL):
        page.wait_for_selector("#tl-projector .gl-canvas")
        count = page.evaluate("() => document.getElementById('tl-projector').data.reduce((s, t) => s + t.x.length, 0)")
        assert count == n
        return
    points = page.locator("#tl-projector .scatterlayer .point")
    assert points.count() == n
    page.wait_for_function(ATTACHED, arg="#tl-projector")
    box = points.nth(123).bounding_box()
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x - 5, y)
    page.mouse.move(x, y, steps=3)
    page.wait_for_function("() => (document.getElementById('tl-thumb-tip') || {style: {}}).style.display === 'block'")
    page.mouse.click(x, y)
    page.wait_for_function("() => document.getElementById('tl-neighbours').innerText.includes('neighbour 6')")
