"""`python app.py --demo` really serves the page (a subprocess, as a user starts it)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request

from tests.conftest import ROOT, free_port, stop_process


def test_app_py_demo_serves_a_page(tmp_path):
    port = free_port()
    env = dict(os.environ, TLWEB_HOME=str(tmp_path / "home"))
    proc = subprocess.Popen([sys.executable, "app.py", "--demo", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.time() + 90
        body = ""
        while time.time() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"app.py exited early:\n{proc.stdout.read()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2) as r:
                    body = r.read().decode()
                    break
            except OSError:
                time.sleep(0.5)
        assert "classify" in body
    finally:
        stop_process(proc, 15)
