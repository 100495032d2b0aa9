"""`python -m tlweb runs` (ls, stop, rm) and the run folder as the channel between processes: a CLI
fine-tune in a subprocess streams events.jsonl while it trains, and a stop written by ANOTHER
process ends it cleanly; `finetune --strategy two-step` from the command line; `models` titles."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from tests.engine.ft_helpers import one_thread, shapes_folder  # noqa: F401
from tlweb.cli import main
from tlweb.engine import runs as R
from tlweb.engine import stop
from tlweb.engine.runs import files, store

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return shapes_folder(tmp_path_factory.mktemp("cli-runs") / "shapes", classes=("circle", "square", "triangle"),
                         per_class=7, test_per_class=3, size=32)


def _env(**extra):
    return {**os.environ, "PYTHONPATH": os.getcwd(), "OMP_NUM_THREADS": "1", **extra}


def test_stop_from_another_process_ends_a_cli_run_and_events_stream(dataset, demo_models, tmp_path):
    out = tmp_path / "long-run"
    cmd = [sys.executable, "-m", "tlweb", "finetune", "--model", str(demo_models["demo-vit"]), "--data", str(dataset),
           "--strategy", "full", "--epochs", "5000", "--batch-size", "2", "--out", str(out), "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=_env(TLWEB_MAX_EPOCHS_CPU="5000"))
    try:
        deadline, steps = time.monotonic() + 180, []
        while time.monotonic() < deadline and proc.poll() is None:
            steps = [e for e in files.read_events(out) if e["kind"] == "step"]
            if len(steps) >= 3:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.stderr.read()[-2000:]
        # events.jsonl grows while the run trains, read by this (another) process
        assert len(steps) >= 3 and steps[-1]["step"] < steps[-1]["total_steps"]
        stopper = subprocess.run([sys.executable, "-m", "tlweb", "runs", "stop", str(out)], capture_output=True,
                                 text=True, timeout=120, env=_env())
        assert stopper.returncode == 0 and "asked long-run to stop" in stopper.stdout, stopper.stderr
        stdout, stderr = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, stderr[-2000:]
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["stopped"] is True and (out / "model" / "config.json").is_file()
    events = files.read_events(out)
    assert events[-1]["kind"] == "stopped" and events[-1]["step"] < events[-1]["total_steps"]
    assert json.loads((out / "metrics.json").read_text())["status"] == "stopped"
    assert "stopped early" in stderr and "stopped: stopped" not in stderr


def test_two_step_from_the_command_line(dataset, demo_models, capsys, settings):
    code = main(["finetune", "--model", "demo-resnet-shapes", "--data", str(dataset), "--strategy", "two-step",
                 "--epochs", "2", "--json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["strategy"] == "two-step" and result["hyperparameters"]["epochs"] == 2
    assert "the head alone for epoch 1, then all layers" in err and "epoch 2 · step" in err


def test_runs_ls_rm_and_models_titles(dataset, demo_models, capsys, settings):
    from tlweb.engine.data import load_data
    from tlweb.engine.train import data_efficiency

    data_efficiency("demo-vit", load_data(str(dataset), settings=settings), shots=(1,), strategies=("linear",),
                    epochs=1, seeds=1, settings=settings)
    exp = next(e for e in R.list_entries(settings) if isinstance(e, R.ExperimentInfo))
    run = exp.runs[0]
    assert main(["runs", "ls"]) == 0
    out = capsys.readouterr().out
    assert exp.title in out and exp.experiment_id in out and "└ linear · 1/class" in out and run.run_id in out
    assert main(["runs", "ls", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["entries"]
    mine = next(e for e in listed if e.get("experiment_id") == exp.experiment_id)
    assert mine["type"] == "experiment" and [r["run_id"] for r in mine["runs"]] == [run.run_id]
    # `models` lists an experiment by its best run (here its only one), named after the experiment
    assert main(["models", "--task", "image-classification", "--demo"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith(run.run_id))
    assert line.endswith(f"best of {exp.title}: {run.part}")
    # rm: ids are checked first; without a terminal it asks for --yes; with it, the experiment goes
    assert main(["runs", "rm", "no-such-run", "--yes"]) == 2
    assert "There is no run or experiment 'no-such-run'" in capsys.readouterr().err
    assert main(["runs", "rm", exp.experiment_id]) == 2
    assert "--yes" in capsys.readouterr().err and exp.exp_dir.is_dir()
    assert main(["runs", "rm", exp.experiment_id, "--yes"]) == 0
    assert f"deleted experiment {exp.title} (1 run)" in capsys.readouterr().out
    assert not exp.exp_dir.exists() and run.run_id not in {r.run_id for r in R.list_runs(settings)}


def test_runs_stop_by_id_and_bad_ids(settings, capsys):
    run_id, path = store.new_run_dir(settings, "to stop")
    try:
        assert main(["runs", "stop", run_id]) == 2 and "no config.json" in capsys.readouterr().err
        (path / "config.json").write_text("{}")
        assert main(["runs", "stop", run_id]) == 0 and (path / stop.STOP_FILE).is_file()
        assert main(["runs", "stop", "nothing-here"]) == 2 and "no run or experiment" in capsys.readouterr().err
        assert main(["runs", "stop", "../etc"]) == 2 and "no run folder" in capsys.readouterr().err
    finally:
        shutil.rmtree(path)
