"""Every script under benchmarks/ runs at its smallest setting (``--smoke``): a smoke, not a timing.

Each runs in its own process with a private TLWEB_HOME, Hugging Face home and temporary folder, offline;
its numbers are not checked (they mean nothing at that size), only that it finishes and says something.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT, free_port

SCRIPTS = sorted((ROOT / "benchmarks").glob("*.py"))


def test_every_benchmark_has_a_smallest_setting():
    assert len(SCRIPTS) >= 10
    missing = [p.name for p in SCRIPTS if '"--smoke"' not in p.read_text()]
    assert not missing, f"benchmarks without a --smoke setting: {missing}"


@pytest.mark.slow  # 10-90 s each on a loaded 2-core CPU (imports, tiny models, a server for load/first_start)
@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_benchmark_runs_at_its_smallest_setting(script, tmp_path):
    args = [sys.executable, str(script), "--smoke"]
    if script.stem == "first_start":
        args += ["--port", str(free_port())]
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(TMPDIR=str(tmp_path), TLWEB_HOME=str(tmp_path / "home"), HF_HOME=str(tmp_path / "hf"),
               HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False", TOKENIZERS_PARALLELISM="false")
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=540)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert proc.stdout.strip(), out[-3000:]
    assert "Traceback" not in out, out[-3000:]
