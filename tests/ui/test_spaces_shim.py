"""The Hugging Face Spaces deployment folder: front matter, requirements, and the app.py shim.

The folder ``spaces/`` shares its name with the ZeroGPU ``spaces`` package. These tests check
that ``import spaces`` still gives the package, both from the repo root and in the Space
layout, and that the shim can be imported without launching anything.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
SPACES_DIR = ROOT / "spaces"
SHIM = SPACES_DIR / "app.py"
SPACE_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}


def _front_matter(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with a YAML block between two '---' lines"
    return yaml.safe_load(match.group(1))


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT",
                                                           "TLWEB_HOST", "TLWEB_PORT", "SPACE_ID")}
    env.update(extra)
    return env


def _load_shim(name: str = "tlweb_spaces_app"):
    spec = importlib.util.spec_from_file_location(name, SHIM)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _stage_space(dest: Path) -> Path:
    """Copy what the README's deploy snippet copies: tlweb/ (example images inside) and spaces/'s files."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(ROOT / "tlweb", dest / "tlweb", ignore=ignore)
    for name in ("app.py", "requirements.txt", "README.md"):
        shutil.copy2(SPACES_DIR / name, dest / name)
    return dest


def test_spaces_folder_is_not_a_package():
    assert not (SPACES_DIR / "__init__.py").exists(), "spaces/__init__.py would hide the ZeroGPU package"


def test_readme_front_matter():
    meta = _front_matter((SPACES_DIR / "README.md").read_text(encoding="utf-8"))
    assert meta["title"] == "tlweb"
    assert meta["sdk"] == "gradio"
    assert meta["app_file"] == "app.py"
    assert meta["pinned"] is False
    assert meta["license"] == "apache-2.0"
    assert meta["suggested_hardware"] in ("zero-a10g", "cpu-basic")
    assert meta["colorFrom"] in SPACE_COLORS and meta["colorTo"] in SPACE_COLORS
    assert meta["emoji"] and len(meta["short_description"]) <= 60
    installed = importlib.metadata.version("gradio")
    assert str(meta["sdk_version"]).split(".")[0] == installed.split(".")[0], (meta["sdk_version"], installed)
    assert isinstance(meta["python_version"], str)  # unquoted 3.10 would parse as the float 3.1
    # The body explains the layout and how to deploy.
    body = (SPACES_DIR / "README.md").read_text(encoding="utf-8").split("---", 2)[2]
    for needle in ("tlweb/", "assets/", "app.py", "requirements.txt", "hf upload"):
        assert needle in body, needle


def test_space_requirements_cover_the_runtime_without_a_cpu_torch_pin():
    def names(path):
        out = {}
        for line in path.read_text().splitlines():
            line = line.split("#", 1)[0].strip()
            if line:
                name = re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-")
                out[name] = line
        return out

    root, space = names(ROOT / "requirements.txt"), names(SPACES_DIR / "requirements.txt")
    missing = set(root) - set(space) - {"gradio"}  # Spaces installs gradio from sdk_version
    assert not missing, f"spaces/requirements.txt lacks {sorted(missing)}"
    assert "gradio" not in space
    assert "spaces" in space
    assert "==" not in space["torch"], space["torch"]


def test_import_spaces_from_the_repo_root_is_the_package():
    # A fresh interpreter whose sys.path[0] is the repo root, where the folder spaces/ sits.
    code = "import json, spaces; print(json.dumps([spaces.__file__, callable(getattr(spaces, 'GPU', None))]))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_clean_env(), capture_output=True, text=True,
                         timeout=120, check=True)
    path, has_gpu = json.loads(out.stdout.strip().splitlines()[-1])
    assert has_gpu
    assert path and not Path(path).resolve().is_relative_to(ROOT), path


def test_without_the_package_the_folder_would_shadow_it_and_the_shim_notices():
    # `python -S` leaves site-packages off the path, as if `spaces` were not installed.
    code = (
        "import importlib.util, json, spaces\n"
        "hazard = [getattr(spaces, '__file__', None), hasattr(spaces, 'GPU'), list(spaces.__path__)]\n"
        f"spec = importlib.util.spec_from_file_location('shim', {str(SHIM)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "print(json.dumps(hazard + [m.SPACES is None, m.gpu_package() is None]))\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, env=_clean_env(), capture_output=True,
                         text=True, timeout=60, check=True)
    file, has_gpu, portions, shim_none, fn_none = json.loads(out.stdout.strip().splitlines()[-1])
    assert file is None and not has_gpu  # a namespace package made from the folder
    assert [Path(p).resolve() for p in portions] == [SPACES_DIR]
    assert shim_none and fn_none


def test_shim_imports_without_launching_and_binds_all_interfaces(monkeypatch):
    import tlweb.config
    import tlweb.ui.app

    calls = []
    monkeypatch.setattr(tlweb.ui.app, "launch", lambda *a, **k: calls.append((a, k)))
    monkeypatch.setattr(tlweb.config, "_SETTINGS", tlweb.config._SETTINGS)  # main() installs settings
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "TLWEB_HOST", "TLWEB_PORT", "SPACE_ID"):
        monkeypatch.delenv(name, raising=False)

    shim = _load_shim()
    assert calls == []  # importing must not launch
    assert shim.SPACES is not None and callable(shim.SPACES.GPU)
    assert shim.ensure_tlweb_importable() == ROOT

    settings = shim.build_settings()
    assert (settings.host, settings.port) == ("0.0.0.0", 7860)
    assert settings.demo is True  # TLWEB_DEMO=1 from tests/conftest.py is honoured

    monkeypatch.setenv("GRADIO_SERVER_NAME", "127.0.0.1")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "7999")
    settings = shim.build_settings()
    assert (settings.host, settings.port) == ("127.0.0.1", 7999)

    monkeypatch.setenv("GRADIO_SERVER_PORT", "not-a-port")
    assert shim.build_settings().port == 7860

    monkeypatch.delenv("GRADIO_SERVER_NAME")
    monkeypatch.delenv("GRADIO_SERVER_PORT")
    shim.main()
    assert len(calls) == 1
    launched = calls[0][0][0]
    assert (launched.host, launched.port) == ("0.0.0.0", 7860)


def test_space_layout_imports_the_copied_package(tmp_path):
    stage = _stage_space(tmp_path / "space")
    code = (
        "import json, app, tlweb, spaces\n"
        "s = app.build_settings()\n"
        "print(json.dumps([tlweb.__file__, spaces.__file__, app.SPACES is spaces, s.host, s.port]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=stage, env=_clean_env(TLWEB_HOME=str(tmp_path / "home")),
                         capture_output=True, text=True, timeout=120, check=True)
    tlweb_file, spaces_file, same, host, port = json.loads(out.stdout.strip().splitlines()[-1])
    assert Path(tlweb_file).resolve().is_relative_to(stage.resolve())
    assert not Path(spaces_file).resolve().is_relative_to(stage.resolve())
    assert same and (host, port) == ("0.0.0.0", 7860)


@pytest.mark.slow
def test_space_layout_serves_the_app(tmp_path):
    """``python app.py`` in a staged Space folder answers HTTP (bound to 127.0.0.1 by env here)."""
    from tests.conftest import free_port

    stage = _stage_space(tmp_path / "space")
    port = free_port()
    env = _clean_env(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), TLWEB_DEMO="0",
                     TLWEB_HOME=str(tmp_path / "home"), HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    log = tmp_path / "space.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=stage, env=env, stdout=fh, stderr=subprocess.STDOUT)
    try:
        deadline, config = time.monotonic() + 90, None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2) as resp:
                    config = json.loads(resp.read())
                break
            except OSError:
                time.sleep(0.5)
        assert config is not None, log.read_text()[-3000:]
        assert "tlweb" in json.dumps(config)
        assert f"127.0.0.1:{port}" in log.read_text()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
