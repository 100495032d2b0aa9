"""The Hugging Face Space: ``python -m tlweb space OUT_DIR`` and the repository's ``spaces/`` folder.

The slow test builds a Space folder, makes a fresh virtual environment (system site-packages
for the heavy dependencies, which are installed here already), installs the folder's
requirements into it without any package index, starts ``app.py`` from an unrelated working
directory with a clean ``PYTHONPATH`` and classifies the bundled cat photo through
``gradio_client``. The Space's log names the ``tlweb`` package it imported: it must be the
copy inside the Space folder, never this repository.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

from tlweb import space
from tlweb.assets import example_image
from tlweb.errors import TlwebError

ROOT = Path(__file__).resolve().parents[1]
SPACES_DIR = ROOT / "spaces"
SHIM = SPACES_DIR / "app.py"
SPACE_COLORS = {"red", "yellow", "green", "blue", "indigo", "purple", "pink", "gray"}
ENV_DROP = ("PYTHONPATH", "GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "TLWEB_HOST", "TLWEB_PORT", "SPACE_ID",
            "VIRTUAL_ENV", "PYTHONHOME")


def _front_matter(text: str) -> dict:
    match = re.match(r"^---\n(.*?)\n---\n", text, re.S)
    assert match, "README.md must start with a YAML block between two '---' lines"
    return yaml.safe_load(match.group(1))


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ENV_DROP}
    env.update(extra)
    return env


def _requirement_names(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            name = re.split(r"[<>=!~\[ ;]", line, maxsplit=1)[0].lower().replace("_", "-")
            out[name] = line
    return out


# --------------------------------------------------------------------------- the files


def test_spaces_folder_is_generated_and_up_to_date():
    assert not (SPACES_DIR / "__init__.py").exists(), "spaces/__init__.py would hide the ZeroGPU package"
    for name, text in space.top_files().items():
        assert (SPACES_DIR / name).read_text(encoding="utf-8") == text, (
            f"spaces/{name} is stale: run python -m tlweb space --files-only spaces")


def test_readme_front_matter_names_the_installed_gradio():
    text = space.render_readme()
    meta = _front_matter(text)
    assert meta["sdk"] == "gradio" and meta["app_file"] == "app.py" and meta["title"] == "tlweb"
    assert str(meta["sdk_version"]) == importlib.metadata.version("gradio")
    assert meta["python_version"] == "3.10"  # quoted: an unquoted 3.10 would parse as the float 3.1
    assert meta["pinned"] is False and meta["license"] == "apache-2.0"
    assert meta["colorFrom"] in SPACE_COLORS and meta["colorTo"] in SPACE_COLORS
    assert meta["emoji"] and len(meta["short_description"]) <= 60
    assert meta["suggested_hardware"] == "zero-a10g"
    assert _front_matter(space.render_readme(hardware="cpu-basic"))["suggested_hardware"] == "cpu-basic"
    with pytest.raises(TlwebError):
        space.render_readme(hardware="a100-large")
    body = text.split("---", 2)[2]
    assert "hf repos create your-name/tlweb --type space --space-sdk gradio --exist-ok" in body
    assert 'hf upload your-name/tlweb . . --type space --commit-message "Deploy tlweb"' in body
    assert "python -m tlweb selfcheck --url https://your-name-tlweb.hf.space" in body


def test_space_requirements_cover_the_runtime_without_a_cpu_torch_pin():
    root = _requirement_names((ROOT / "requirements.txt").read_text())
    ours = _requirement_names(space.render_requirements())
    missing = set(root) - set(ours) - {"gradio"}  # Spaces installs gradio from sdk_version
    assert not missing, f"tlweb.space.REQUIREMENTS lacks {sorted(missing)}"
    assert "gradio" not in ours and "spaces" in ours
    assert "==" not in ours["torch"]


def test_space_settings_bind_what_spaces_expects(monkeypatch, tmp_path):
    env = {"GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": "7999"}
    s = space.space_settings({})
    assert (s.host, s.port) == ("0.0.0.0", 7860)
    s = space.space_settings(env)
    assert (s.host, s.port) == ("127.0.0.1", 7999)
    assert space.space_settings({"GRADIO_SERVER_PORT": "not-a-port"}).port == 7860
    assert space.space_settings({"TLWEB_HOST": "10.0.0.1", "TLWEB_PORT": "8000"}).host == "10.0.0.1"


def _shim():
    spec = importlib.util.spec_from_file_location("tlweb_space_shim_storage", SHIM)
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    return shim


def test_persistent_storage_holds_runs_caches_and_the_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "path", list(sys.path))
    use = _shim().use_persistent_storage
    data = tmp_path / "data"
    data.mkdir()
    env = {"SPACE_ID": "me/tlweb"}
    assert use(env, data) and env == {"SPACE_ID": "me/tlweb", "TLWEB_HOME": str(data / "tlweb"),
                                      "HF_HOME": str(data / ".huggingface")}
    env = {"SPACE_ID": "me/tlweb", "HF_HOME": "/elsewhere"}
    assert use(env, data) and env["HF_HOME"] == "/elsewhere"  # a value set by the owner wins
    assert not use({"SPACE_ID": "me/tlweb"}, tmp_path / "no-storage")  # no /data: nothing changes
    env = {}
    assert not use(env, data) and env == {}  # not a Space (running locally): nothing changes
    # the app reads the home from the environment the shim prepared
    from tlweb.config import Settings

    monkeypatch.setenv("TLWEB_HOME", str(data / "tlweb"))
    assert Settings.from_env().runs_dir == data / "tlweb" / "runs"
    # in the code a Space runs, HF_HOME is set before anything imports huggingface_hub
    code = ("import importlib.util, sys, json\n"
            f"spec = importlib.util.spec_from_file_location('shim', {str(SHIM)!r})\n"
            "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
            "from huggingface_hub import constants\n"
            "print(json.dumps([m.PERSISTENT, constants.HF_HUB_CACHE]))\n")
    shim_copy = tmp_path / "app.py"
    shim_copy.write_text(SHIM.read_text().replace('Path("/data")', repr(str(data)).join(("Path(", ")"))))
    code = code.replace(repr(str(SHIM)), repr(str(shim_copy)))
    env = _clean_env(SPACE_ID="me/tlweb")
    env.pop("HF_HOME", None)
    env.pop("HF_HUB_CACHE", None)
    env.pop("TLWEB_HOME", None)
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120, check=True)
    persistent, hub_cache = json.loads(out.stdout.strip().splitlines()[-1])
    assert persistent and Path(hub_cache).is_relative_to(data / ".huggingface")


def test_space_readme_says_runs_vanish_without_storage():
    text = space.render_readme("6.0.0")
    assert "Without persistent storage, fine-tuned runs vanish when the Space restarts" in text
    assert "/data/tlweb" in text and "/data/.huggingface" in text


# --------------------------------------------------------------------------- the shim and `spaces`


def test_import_spaces_from_the_repo_root_is_the_package():
    code = "import json, spaces; print(json.dumps([spaces.__file__, callable(getattr(spaces, 'GPU', None))]))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_clean_env(), capture_output=True, text=True,
                         timeout=120, check=True)
    path, has_gpu = json.loads(out.stdout.strip().splitlines()[-1])
    assert has_gpu and path and not Path(path).resolve().is_relative_to(ROOT), path


def test_without_the_package_the_folder_would_shadow_it_and_everyone_notices():
    # `python -S` leaves site-packages off the path, as if `spaces` were not installed.
    code = (
        "import importlib.util, json, spaces\n"
        "hazard = [getattr(spaces, '__file__', None), hasattr(spaces, 'GPU'), list(spaces.__path__)]\n"
        f"spec = importlib.util.spec_from_file_location('shim', {str(SHIM)!r})\n"
        "m = importlib.util.module_from_spec(spec); spec.loader.exec_module(m)\n"
        "from tlweb.engine import zerogpu\n"
        "print(json.dumps(hazard + [m.SPACES is None, zerogpu.spaces_gpu() is None]))\n"
    )
    out = subprocess.run([sys.executable, "-S", "-c", code], cwd=ROOT, env=_clean_env(), capture_output=True,
                         text=True, timeout=60, check=True)
    file, has_gpu, portions, shim_none, engine_none = json.loads(out.stdout.strip().splitlines()[-1])
    assert file is None and not has_gpu  # a namespace package made from the folder
    assert [Path(p).resolve() for p in portions] == [SPACES_DIR]
    assert shim_none and engine_none


def test_shim_imports_without_launching_and_serves_through_tlweb_space(monkeypatch):
    calls = []
    monkeypatch.setattr(space, "serve", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(sys, "path", list(sys.path))
    spec = importlib.util.spec_from_file_location("tlweb_space_shim", SHIM)
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    assert calls == []  # importing must not launch
    assert shim.SPACES is not None and callable(shim.SPACES.GPU)
    assert shim.ensure_tlweb_importable() == ROOT
    shim.main()
    assert len(calls) == 1


# --------------------------------------------------------------------------- building the folder


def test_build_space_writes_a_complete_folder(tmp_path):
    out = tmp_path / "space"
    built = space.build_space(out)
    assert built.sdk_version == importlib.metadata.version("gradio")
    for name in ("README.md", "app.py", "requirements.txt", "tlweb/__init__.py", "tlweb/ui/app.py",
                 "tlweb/engine/zerogpu.py"):
        assert (out / name).is_file(), name
    assert not list(out.rglob("__pycache__")) and not list(out.rglob("*.pyc"))
    assert {"cat.jpg", "coffee.jpg"} <= set(built.examples)
    assert (out / "tlweb/assets/examples/cat.jpg").read_bytes() == example_image("cat.jpg").read_bytes()
    assert not (out / "assets").exists()  # the photos travel inside the package, nowhere else
    # Self-contained: no file points back into this checkout.
    for path in out.rglob("*"):
        if path.suffix in (".py", ".md", ".txt", ".json"):
            assert str(ROOT) not in path.read_text(encoding="utf-8", errors="replace"), path
    # Every tlweb module made it (and nothing else was added to the package).
    ours = {p.relative_to(ROOT / "tlweb") for p in (ROOT / "tlweb").rglob("*.py")}
    theirs = {p.relative_to(out / "tlweb") for p in (out / "tlweb").rglob("*.py")}
    assert ours == theirs


def test_build_space_refuses_to_clobber_and_rebuilds_with_force(tmp_path):
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    with pytest.raises(TlwebError, match="not empty"):
        space.build_space(other)
    with pytest.raises(TlwebError, match="no earlier Space build"):
        space.build_space(other, force=True)
    assert (other / "notes.txt").read_text() == "keep me"
    out = tmp_path / "space"
    space.build_space(out)
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref")
    (out / "stale.txt").write_text("old")
    space.build_space(out, force=True)
    assert not (out / "stale.txt").exists() and (out / ".git" / "HEAD").exists() and (out / "app.py").exists()
    for bad in (ROOT / "tlweb" / "somewhere", ROOT):
        with pytest.raises(TlwebError, match="outside the tlweb package"):
            space.build_space(bad, force=True)
    assert not (ROOT / "tlweb" / "somewhere").exists()


def test_cli_space_command(tmp_path, capsys):
    from tlweb.cli import main

    assert main(["space", str(tmp_path / "s"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["files"] > 40 and Path(out["folder"]) == (tmp_path / "s").resolve()
    assert main(["space", "--gpu-tasks"]) == 0
    listed = capsys.readouterr().out
    for name in ("classify.classify", "compare.iter_compare", "segment.segment", "detect.detect"):
        assert f"tlweb.engine.{name}" in listed
    assert main(["space", str(tmp_path / "s")]) == 2  # not empty, no --force: one sentence, exit 2
    assert "not empty" in capsys.readouterr().err


# --------------------------------------------------------------------------- the real thing


def _wait_for(url: str, proc, log: Path, timeout: float = 150) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the Space exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "config", timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"the Space did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


@pytest.mark.slow
def test_space_installs_and_serves_in_a_fresh_venv_without_the_repository(tmp_path, demo_models):
    from gradio_client import Client, handle_file

    from tests.conftest import free_port, stop_process

    folder = space.build_space(tmp_path / "space").folder
    venv = tmp_path / "venv"
    # A venv that sees this environment's packages (so `pip install --no-index` finds them installed) but
    # not this repository: a .pth naming the site-packages folders of the interpreter running the tests.
    # (--system-site-packages would see the *base* interpreter's, which lack them when the tests themselves
    # run in a venv made as the README says.) --without-pip: the installed pip is seen through the .pth.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True).stdout.strip()
    outer = [p for p in sys.path if p.endswith(("site-packages", "dist-packages")) and Path(p).is_dir()]
    (Path(purelib) / "_tlweb_test_outer.pth").write_text("\n".join(outer) + "\n")
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    env = _clean_env(PIP_NO_INDEX="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
    pip = subprocess.run([str(python), "-m", "pip", "install", "--no-index", "-r", str(folder / "requirements.txt")],
                         cwd=elsewhere, env=env, capture_output=True, text=True, timeout=300)
    assert pip.returncode == 0, pip.stdout[-2000:] + pip.stderr[-2000:]
    # This repository is not importable from there.
    probe = subprocess.run([str(python), "-c", "import tlweb"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert probe.returncode != 0 and "No module named 'tlweb'" in probe.stderr

    port = free_port()
    log = tmp_path / "space.log"
    run_env = _clean_env(GRADIO_SERVER_NAME="127.0.0.1", GRADIO_SERVER_PORT=str(port), TLWEB_DEMO="1",
                         HF_HUB_OFFLINE="1", GRADIO_ANALYTICS_ENABLED="False")
    with open(log, "w") as fh:
        proc = subprocess.Popen([str(python), str(folder / "app.py")], cwd=elsewhere, env=run_env, stdout=fh,
                                stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_for(url, proc, log)
        text = log.read_text()
        package = re.search(r"package: (\S+)", text).group(1)
        assert Path(package).resolve() == (folder / "tlweb").resolve(), text
        assert f"127.0.0.1:{port}" in text
        client = Client(url, verbose=False)
        cat = folder / "tlweb/assets/examples/cat.jpg"
        plot, facts = client.predict(handle_file(str(cat)), "demo-resnet-shapes", "", 3, api_name="/classify")
        assert plot["type"] == "plotly" and "demo-resnet-shapes" in facts
        bars = json.loads(plot["plot"])["data"][0]
        assert len(bars["y"]) == 3 or len(bars["x"]) == 3
    finally:
        stop_process(proc, 20)
