"""Finding 8: a closed browser kept its fine-tune training (nothing set Stop on disconnect). Now the
app's unload event writes the STOP file of every running run and experiment the session owns, so
the loop stops between steps, in this process or another."""

from __future__ import annotations

import json
import time

import pytest
from gradio_client import Client

from tests.conftest import wait_until


@pytest.fixture
def slow_steps(monkeypatch):
    """Training steps slow enough to close the session mid-run (the stop check runs every step)."""
    from tlweb.engine.train import callbacks

    original = callbacks.StopRequested.should_stop

    def slow(self, loop):
        time.sleep(0.15)
        return original(self, loop)

    monkeypatch.setattr(callbacks.StopRequested, "should_stop", slow)
    monkeypatch.setenv("GRADIO_HEARTBEAT_INTERVAL", "1")  # the client notices its own close within a second


def _owned_folder(settings, client: Client, kind: str, timeout: float = 120):
    from tlweb.engine.owners import tag

    mine = tag(client.session_hash)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for folder in settings.runs_dir.iterdir() if settings.runs_dir.is_dir() else []:
            owner = folder / ".owner"
            if owner.is_file() and owner.read_text().strip() == mine and (folder / kind).is_file():
                return folder
        time.sleep(0.2)
    raise AssertionError(f"no {kind} appeared")


@pytest.mark.parametrize("which", ["local", "shared"])
def test_closing_the_session_stops_its_fine_tune(which, app_url, shared_url, settings, slow_steps):
    c = Client(app_url if which == "local" else shared_url, verbose=False)
    c.predict(source="sample", api_name="/load_data")
    c.submit(model="demo-vit", custom_model="", strategy="full", epochs="20", batch_size="8", lr="auto",
             per_class=0, api_name="/finetune")
    run = _owned_folder(settings, c, "config.json")
    events = run / "events.jsonl"
    assert wait_until(lambda: events.is_file() and '"step"' in events.read_text())  # training has started
    c.close()  # the browser tab closes: its heartbeat ends, the app's unload event runs
    assert wait_until(lambda: (run / "STOP").exists(), 60)
    assert wait_until(lambda: (run / "metrics.json").exists(), 120)
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["stopped"] is True and metrics["status"] == "stopped"


def test_closing_the_session_stops_its_ladder(shared_url, settings, slow_steps):
    c = Client(shared_url, verbose=False)
    c.predict(source="sample", api_name="/load_data")
    c.submit(model="demo-vit", custom_model="", strategies=["full", "scratch"], epochs="20", batch_size="8",
             lr="auto", per_class=0, api_name="/ladder")
    exp = _owned_folder(settings, c, "experiment.json")
    assert wait_until(lambda: any(d.is_dir() for d in exp.iterdir()), 120)  # its first run started
    c.close()
    assert wait_until(lambda: (exp / "STOP").exists(), 60)
    assert wait_until(lambda: json.loads((exp / "experiment.json").read_text()).get("status") != "running", 180)
    runs = [d for d in exp.iterdir() if d.is_dir()]
    assert len(runs) == 1  # the second strategy never started
    assert json.loads((runs[0] / "metrics.json").read_text())["stopped"] is True


def test_other_sessions_runs_are_not_stopped(settings):
    """The unload of one session writes STOP only into folders that session owns."""
    from tlweb.access import client_scope
    from tlweb.engine.owners import stop_sessions_runs
    from tlweb.engine.runs.store import new_run_dir

    with client_scope("session-x"):
        _, mine = new_run_dir(settings, "x")
    with client_scope("session-y"):
        _, other = new_run_dir(settings, "y")
    for folder in (mine, other):
        (folder / "config.json").write_text("{}")
    try:
        assert stop_sessions_runs("session-x", settings) == [mine]
        assert (mine / "STOP").exists() and not (other / "STOP").exists()
    finally:
        import shutil

        shutil.rmtree(mine)
        shutil.rmtree(other)
