"""The hostile-input suite: the app served a second time in shared mode, raw HTTP calls (what an
attacker sends without gradio_client's help) and a look into gradio's upload folder."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port


@pytest.fixture(scope="session")
def shared_settings(settings):
    from tlweb.config import SHARED

    return settings.replace(mode=SHARED)


@pytest.fixture(scope="session")
def shared_app(settings, shared_settings, demo_models):
    """(Blocks, URL): the whole app in shared mode (what --host 0.0.0.0, SPACE_ID or --shared give),
    in-process, queued as the app is (tlweb.ui.app.serve_queue)."""
    from tlweb.config import set_settings
    from tlweb.ui.app import build_app, launch_kwargs, serve_queue

    port = free_port()
    demo = build_app(shared_settings)
    set_settings(settings)  # build_app installs its settings process-wide; the other tests stay local
    serve_queue(demo, shared_settings)
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(shared_settings.replace(port=port)))
    yield demo, f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="session")
def shared_url(shared_app):
    return shared_app[1]


@pytest.fixture(scope="session")
def shared_client(shared_url):
    from gradio_client import Client

    return Client(shared_url, verbose=False)


def raw_call(url: str, api: str, data: list, timeout: float = 120) -> tuple[str, object]:
    """POST /gradio_api/call/<api> as a bare HTTP client would; ("complete" | "error", payload)."""
    base = url.rstrip("/")
    r = httpx.post(f"{base}/gradio_api/call/{api}", json={"data": data}, timeout=timeout)
    r.raise_for_status()
    event_id = r.json()["event_id"]
    kind, payload = None, None
    with httpx.stream("GET", f"{base}/gradio_api/call/{api}/{event_id}", timeout=timeout) as s:
        for line in s.iter_lines():
            if line.startswith("event:"):
                kind = line.split(":", 1)[1].strip()
            elif line.startswith("data:") and kind in ("complete", "error"):
                text = line.split(":", 1)[1].strip()
                try:
                    payload = json.loads(text)
                except ValueError:
                    payload = text
                if kind in ("complete", "error"):
                    return kind, payload
    return kind or "none", payload


def file_data(path: str | None = None, url: str | None = None) -> dict:
    return {"path": path, "url": url, "meta": {"_type": "gradio.FileData"}}


def upload_copies(name: str) -> list[Path]:
    """gradio's copies of an uploaded file called ``name`` (in its upload folder)."""
    from tlweb.ui.guard import upload_root

    root = upload_root()
    return [p for p in root.rglob(name) if p.is_file()] if root.is_dir() else []
