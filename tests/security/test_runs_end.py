"""Issue 17, finding 5: runs outlived their owners. Every run of an ended session stayed (invisible to
everyone) for good; run files were written with the home over budget; after a SIGKILL mid-ladder
experiment.json said "running" for good, and with the recorded pid reused by another process a run
showed "running" forever and ``runs rm`` refused it; every report click left a folder in the temp dir.
Now a run is running only while its process holds the folder's lock, the cleaner reconciles what
crashed and removes ended sessions' runs after TLWEB_RUN_TTL_HOURS, new runs need room in the home
budget, and reports live in one bounded cache."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, wait_until
from tlweb.access import client_scope
from tlweb.config import SHARED
from tlweb.engine import cleanup, owners, runlock, stop
from tlweb.engine import runs as R
from tlweb.engine.runs import files, store
from tlweb.errors import TlwebError

HOLDER = """
import sys, time
from pathlib import Path
from tlweb.config import Settings, set_settings
from tlweb.engine import stop
from tlweb.engine.runs import files, store
settings = set_settings(Settings(home=Path(sys.argv[1])))
exp = store.new_experiment("ladder", "demo-vit", ["linear", "full"], settings)
run_id, run_dir = store.new_run_dir(settings, "linear", parent=exp)
writer = files.RunWriter(run_id, run_dir)
writer.write_config({"strategy": "linear", "base_model": "demo-vit", "created": stop.now_iso(), "pid": 1})
writer.event({"kind": "start"})
print(exp, run_dir, flush=True)
time.sleep(600)
"""


@pytest.fixture
def home(tmp_path, settings):
    return settings.replace(home=tmp_path / "home")


def _holder(st):
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(st.home)], cwd=ROOT, stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    exp, run_dir = proc.stdout.readline().split()
    return proc, Path(exp), Path(run_dir)


def test_a_killed_ladder_is_failed_and_removable_whatever_pid_it_recorded(home):
    proc, exp, run_dir = _holder(home)
    try:
        (info,) = R.list_experiments(home)
        assert info.status == "running" and info.runs[0].status == "running"  # its process holds the locks
        with pytest.raises(TlwebError, match="still running"):
            store.delete_entry(exp.name, home)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    # the recorded pids now name live processes (1, and this test's own): they prove nothing
    store.update_experiment(exp, pid=os.getpid())
    (info,) = R.list_experiments(home)
    assert info.status == "failed" and info.runs[0].status == "failed"
    assert json.loads((exp / "experiment.json").read_text())["status"] == "running"  # the file still says so …
    result = cleanup.sweep(home)
    assert result.reconciled == [exp.name]  # … until the cleaner writes down what happened
    assert json.loads((exp / "experiment.json").read_text())["status"] == "failed"
    assert store.delete_entry(exp.name, home).startswith("experiment")  # runs rm works without --force


def test_a_lock_is_not_kept_by_a_forked_child(home):
    run_id, run_dir = store.new_run_dir(home, "x")
    writer = files.RunWriter(run_id, run_dir)
    pid = os.fork()
    if pid == 0:  # the child: its copy of the lock descriptor was closed at fork
        time.sleep(3)
        os._exit(0)
    try:
        writer.close()
        assert runlock.held(run_dir) is False  # released although the child still lives
    finally:
        os.waitpid(pid, 0)


def _owned_run(st, client: str, name: str, age_h: float, ended: bool = True) -> Path:
    with client_scope(client):
        run_id, path = store.new_run_dir(st, name)
    (path / "config.json").write_text(json.dumps({"strategy": "linear", "base_model": "demo-vit",
                                                  "created": stop.now_iso()}))
    (path / "metrics.json").write_text(json.dumps({"status": "done", "test_accuracy": 0.5}))
    old = time.time() - age_h * 3600
    for p in [path, *path.iterdir()]:
        os.utime(p, (old, old))
    if ended:
        (path / owners.ENDED_FILE).write_text("x")
        os.utime(path / owners.ENDED_FILE, (old, old))
    return path


def test_runs_of_ended_sessions_are_removed_after_their_time_to_live(home):
    st = home.replace(mode=SHARED, run_ttl_hours=24)
    old = _owned_run(st, "gone-session", "old", age_h=30)
    young = _owned_run(st, "gone-session", "young", age_h=2)
    api = _owned_run(st, "api-call", "no-goodbye", age_h=30, ended=False)  # never said goodbye: its last write
    live = _owned_run(st, "still-here", "live", age_h=30)
    cli_id, cli = store.new_run_dir(st, "from-the-terminal")  # no owner: never removed here
    (cli / "config.json").write_text("{}")
    result = cleanup.sweep(st, live_owners={owners.tag("still-here")})
    assert sorted(result.removed) == sorted([old.name, api.name]) and result.freed_bytes > 0
    assert young.exists() and live.exists() and cli.exists()
    assert cleanup.sweep(home.replace(run_ttl_hours=0)).removed == []  # local mode keeps every run


def test_a_running_run_is_never_removed(home):
    st = home.replace(mode=SHARED, run_ttl_hours=0)
    path = _owned_run(st, "gone-session", "busy", age_h=30)
    writer = files.RunWriter(path.name, path)
    try:
        assert cleanup.sweep(st).removed == []
    finally:
        writer.close()
    assert cleanup.sweep(st).removed == [path.name]


def test_the_session_end_marks_its_runs(home):
    st = home.replace(mode=SHARED)
    with client_scope("closing"):
        _, mine = store.new_run_dir(st, "mine")
    with client_scope("other"):
        _, other = store.new_run_dir(st, "other")
    assert owners.mark_ended("closing", st) == [mine]
    assert (mine / owners.ENDED_FILE).exists() and not (other / owners.ENDED_FILE).exists()


def test_no_run_is_started_when_the_home_is_over_budget(home):
    st = home.replace(home_budget_mb=1)
    st.home.mkdir(parents=True, exist_ok=True)
    (st.home / "filler.bin").write_bytes(os.urandom(2 * 1024 * 1024))  # not a cache: nothing can be freed
    with pytest.raises(TlwebError, match="TLWEB_HOME_BUDGET_MB"):
        store.new_run_dir(st, "no-room")
    assert not st.runs_dir.exists() or not any(st.runs_dir.iterdir())


def test_reports_live_in_one_bounded_cache(monkeypatch, tmp_path):
    from tlweb.ui import guard
    from tlweb.viz.report import write_report

    monkeypatch.setattr(guard, "upload_root", lambda: tmp_path / "gradio")
    monkeypatch.setattr(guard, "REPORTS_KEEP", 5)
    before = {p.name for p in Path(tempfile.gettempdir()).glob("tlweb-report-*")}
    served = [guard.serve_report(write_report(f"<p>{i}</p>", name=f"r{i}")) for i in range(9)]
    assert {p.name for p in Path(tempfile.gettempdir()).glob("tlweb-report-*")} == before  # nothing left behind
    kept = list((tmp_path / "gradio" / guard.REPORTS_DIR).iterdir())
    assert len(kept) == 5 and Path(served[-1]).exists() and not Path(served[0]).exists()


def test_the_app_sweeps_on_its_queue_thread(shared_app):
    demo, _ = shared_app
    assert wait_until(lambda: demo.tlweb_queue.sweep() is not None, timeout=30)
