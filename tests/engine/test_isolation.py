"""The engine never imports gradio or plotly; importing tlweb modules loads no model."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import tlweb.engine


def _engine_modules():
    names = ["tlweb", "tlweb.engine", "tlweb.catalog", "tlweb.config", "tlweb.registry", "tlweb.cli"]
    for info in pkgutil.walk_packages(tlweb.engine.__path__, "tlweb.engine."):
        names.append(info.name)
    return names


def test_engine_leaves_gradio_and_plotly_out():
    names = _engine_modules()
    code = (
        "import sys, importlib\n"
        f"for n in {names!r}: importlib.import_module(n)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('gradio', 'plotly'))\n"
        "print('BAD', bad)\n"
        "heavy = [m for m in ('torch', 'transformers', 'datasets', 'evaluate') if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "BAD []" in out, out
    # Importing the package and its engine modules must stay light: no torch at import time.
    assert "HEAVY []" in out, out


def test_catalog_import_is_light():
    out = subprocess.run([sys.executable, "-c", "import sys, tlweb.catalog, tlweb.config; print('torch' in sys.modules)"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
