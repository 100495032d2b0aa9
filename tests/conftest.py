"""Test-wide setup: no Hub, a private TLWEB_HOME, tiny demo models, one shared app server.

The environment is fixed *before* tlweb reads its settings, so every test runs offline
(HF_HUB_OFFLINE=1) against random-weight models built from configs by the same builders
the app's --demo mode uses.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tlweb.assets import examples_dir

_HOME = Path(tempfile.mkdtemp(prefix="tlweb-tests-"))
os.environ["TLWEB_HOME"] = str(_HOME / "home")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HOME"] = str(_HOME / "hf")
try:  # hypothesis (the fuzz tests) keeps its caches under the temporary folder, not in the repository
    from hypothesis.configuration import set_hypothesis_home_dir

    set_hypothesis_home_dir(_HOME / "hypothesis")
except ImportError:
    pass
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
os.environ["TLWEB_DEMO"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# The ZeroGPU stand-in forks workers from this process: MKL's memory manager is not fork-safe (see
# tlweb.engine.zerogpu.fork_safe_environment), and it reads this before torch's first matrix product.
os.environ.setdefault("MKL_DISABLE_FAST_MM", "1")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = examples_dir()  # inside the package, found the way the app finds it
# Browser tests save screenshots here. They only refresh docs/screenshots/ (tracked files) when
# asked: TLWEB_UPDATE_SCREENSHOTS=1 python -m pytest -q tests/e2e
UPDATE_SCREENSHOTS = os.environ.get("TLWEB_UPDATE_SCREENSHOTS") == "1"
SCREENSHOTS = ROOT / "docs" / "screenshots" if UPDATE_SCREENSHOTS else _HOME / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic", "--disable-dev-shm-usage"]


# Tiers (pyproject's markers): each test gets exactly one of unit / app / browser, from where it lives
# and what it asks for; `slow` is set by hand on long tests. The fast tier is `-m "unit and not slow"`.
_BROWSER_FIXTURES = {"page", "browser"}
_APP_FIXTURES = {"app_url", "client"}


def pytest_collection_modifyitems(config, items):
    for item in items:
        fixtures = set(getattr(item, "fixturenames", ()))
        parts = Path(str(item.fspath)).parts
        if "e2e" in parts or fixtures & _BROWSER_FIXTURES or item.get_closest_marker("browser"):
            tier = "browser"
        elif "ui" in parts or fixtures & _APP_FIXTURES:
            tier = "app"
        else:
            tier = "unit"
        item.add_marker(getattr(pytest.mark, tier))


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_HOME, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_process(proc: subprocess.Popen, timeout: float = 15) -> None:
    """Terminate a server started by a test; kill it if it is still there after ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()


def wait_until(predicate, timeout: float = 120, every: float = 0.3) -> bool:
    """Poll ``predicate`` every ``every`` seconds until it is true (True) or ``timeout`` passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return False


def plot_json(value) -> dict:
    """The plotly figure (as a dict) in a gr.Plot value that gradio_client returned."""
    assert value["type"] == "plotly"
    plot = value["plot"]
    return json.loads(plot) if isinstance(plot, str) else plot


@pytest.fixture(scope="session")
def settings():
    from tlweb.config import Settings, set_settings

    return set_settings(Settings.from_env())


@pytest.fixture(scope="session")
def demo_models(settings):
    """All demo models built once: {key: folder}."""
    from tlweb.engine.demo import build_all, registry

    build_all(settings)
    return {key: settings.demo_dir / key for key in registry()}


@pytest.fixture
def slow_steps(monkeypatch):
    """Training steps 50 ms slower (the app runs in the test process), so a run is still training when a
    test acts on it (a second visitor arrives, a page closes), whatever the machine's load."""
    import time

    from tlweb.engine.train import callbacks

    original = callbacks.StopRequested.should_stop

    def slow(self, loop):
        time.sleep(0.05)
        return original(self, loop)

    monkeypatch.setattr(callbacks.StopRequested, "should_stop", slow)


@pytest.fixture
def example_image() -> Path:
    return EXAMPLES / "cat.jpg"


@pytest.fixture
def make_image(tmp_path):
    """make_image(name, size=(w, h), mode="RGB", fmt=None) → path of a generated picture."""
    import numpy as np
    from PIL import Image

    def _make(name="img.png", size=(96, 64), mode="RGB", fmt=None, seed=0):
        rng = np.random.default_rng(seed)
        arr = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
        img = Image.fromarray(arr, "RGB")
        if mode != "RGB":
            img = img.convert(mode)
        path = tmp_path / name
        img.save(path, format=fmt)
        return path

    return _make


@pytest.fixture(scope="session")
def app_url(settings, demo_models):
    """The whole app (every tab, demo models) served in-process on a free port."""
    from tlweb.ui.app import build_app, launch_kwargs, serve_queue

    port = free_port()
    demo = build_app(settings)
    serve_queue(demo, settings)  # the app's own queue: bounds per session, training apart
    kwargs = launch_kwargs(settings.replace(port=port))
    demo.launch(prevent_thread_lock=True, quiet=True, **kwargs)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="session")
def client(app_url):
    from gradio_client import Client

    return Client(app_url, verbose=False)


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright; skipped with a reason where it is missing
    (CI sets TLWEB_REQUIRE_BROWSER=1 so a missing browser fails instead)."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("TLWEB_REQUIRE_BROWSER") == "1":
            pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium chromium-driver")
        pytest.skip(f"browser tests need {CHROMIUM} (apt-get install -y chromium chromium-driver)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("browser tests need playwright (pip install -r requirements-dev.txt)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, app_url):
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(60_000)
    yield pg
    ctx.close()
