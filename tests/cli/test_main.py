"""Issue 17: every library error reached the CLI as a traceback (``TypeError: 'module' object is not
callable``): importing the command modules bound the ``explain`` command module over the error-mapping
function in tlweb/cli/__init__.py. ``main()`` runs here with every command registered."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from tests.conftest import ROOT
from tests.registries import command_modules


def _fail_with(monkeypatch, exc):
    from tlweb.cli import models

    def boom(args):
        raise exc

    monkeypatch.setattr(models, "cmd_models", boom)


@pytest.mark.parametrize("exc,code,words", [
    (OSError(36, "File name too long"), 2, "too long"),  # bad input that surfaced as a library error
    (MemoryError(), 2, "memory"),
    (RuntimeError("a bug in /srv/app/tlweb/x.py"), 1, "unexpected RuntimeError"),  # a bug: exit 1, path dropped
])
def test_main_with_every_command_maps_library_errors(monkeypatch, capsys, exc, code, words):
    import tlweb.cli as cli

    _fail_with(monkeypatch, exc)
    parser = cli.build_parser()  # imports every command module, tlweb.cli.explain among them
    assert "explain" in parser._subparsers._group_actions[0].choices and len(command_modules()) > 10
    rc = cli.main(["models"])
    err = capsys.readouterr().err
    assert rc == code, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0], err
    assert "Traceback" not in err and "/srv/app" not in err


def test_a_port_in_use_is_one_sentence_and_exit_2(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        env = dict(os.environ, TLWEB_HOME=str(tmp_path / "home"), GRADIO_ANALYTICS_ENABLED="False")
        proc = subprocess.run([sys.executable, "-m", "tlweb", "serve", "--demo", "--port", str(port)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 2, proc.stderr
    err = [line for line in proc.stderr.splitlines() if line.strip()]
    assert err == [err[-1]] and err[-1].startswith("error: ") and "port" in err[-1], proc.stderr
    assert "Traceback" not in proc.stderr and "Warning" not in proc.stderr
