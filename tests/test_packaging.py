"""tlweb installs as a package: pyproject's dependencies match requirements.txt, a wheel holds
every file under tlweb/ (example images, the evaluate metric module) and nothing else, and that
wheel installed into a fresh venv gives a working ``tlweb`` command outside the repository.

The wheel is built from a copy of the sources in a temporary folder, so the build's own
``build/`` and ``*.egg-info`` never land in the checkout. Nothing is installed into the
environment running the tests.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~\[ ;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _requirements(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            out[_name(line)] = line
    return out


def _package_files() -> set[str]:
    """Every file under tlweb/ that a checkout holds (bytecode caches aside), as wheel paths."""
    return {p.relative_to(ROOT).as_posix() for p in (ROOT / "tlweb").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix not in (".pyc", ".pyo")}


def test_pyproject_dependencies_are_requirements_txt_as_ranges():
    from packaging.requirements import Requirement

    deps = {_name(d): d for d in PYPROJECT["project"]["dependencies"]}
    reqs = _requirements(ROOT / "requirements.txt")
    assert set(deps) == set(reqs)
    for name, line in reqs.items():
        if name != "torch":
            assert Requirement(deps[name]).specifier == Requirement(line).specifier, name
    assert "==" not in deps["torch"]  # a range, not the local CPU pin ...
    assert Requirement(deps["torch"]).specifier.contains("2.13.0")  # ... that still allows the pin
    assert Requirement(reqs["torch"]).specifier.contains("2.13.0")
    assert PYPROJECT["project"]["scripts"] == {"tlweb": "tlweb.cli:main"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """``pip wheel`` of a copy of the sources (pyproject.toml, README.md, tlweb/), offline."""
    src = tmp_path_factory.mktemp("src")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    shutil.copytree(ROOT / "tlweb", src / "tlweb", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
                           "--no-index", "-w", str(out)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    wheels = list(out.glob("tlweb-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def test_wheel_holds_every_package_file_and_only_the_package(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        entry_points = next(zf.read(n).decode() for n in names if n.endswith(".dist-info/entry_points.txt"))
    examples = {n for n in names if n.startswith("tlweb/assets/examples/")}
    assert {"tlweb/assets/examples/cat.jpg", "tlweb/assets/examples/LICENSE.md"} <= examples
    assert len([n for n in examples if n.endswith(".jpg")]) >= 4
    assert "tlweb/engine/metric_modules/tlweb_classification/tlweb_classification.py" in names
    assert "tlweb/engine/demo/weights/demo-resnet-shapes/model.safetensors" in names  # shipped demo weights
    assert wheel.stat().st_size < 5_000_000, wheel.stat().st_size  # tiny demo weights (the wheel: ≈ 1.2 MB, 0.7 MB without them)
    missing = _package_files() - names
    assert not missing, f"files under tlweb/ that the wheel lacks (add them to package-data): {sorted(missing)}"
    tops = {n.split("/", 1)[0] for n in names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"tlweb"}, tops  # no tests/, spaces/, assets/
    assert re.search(r"^tlweb\s*=\s*tlweb\.cli:main$", entry_points, re.M), entry_points


def _venv_with(wheel: Path, root: Path) -> Path:
    """A fresh venv that sees this environment's packages and holds the wheel (no dependencies)."""
    venv = root / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)],
                   check=True, timeout=120)
    py = venv / "bin" / "python"
    purelib = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             capture_output=True, text=True, check=True, timeout=60).stdout.strip()
    # When the tests themselves run in a venv, --system-site-packages shows the base interpreter's
    # packages, not this one's: list this environment's site-packages too (after the venv's own).
    (Path(purelib) / "outer-env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    proc = subprocess.run([str(py), "-m", "pip", "install", "--no-deps", "--no-index", str(wheel)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return venv


@pytest.mark.slow  # ~15 s: a venv, an install, three interpreters (torch, evaluate)
def test_installed_wheel_gives_a_working_tlweb_command_outside_the_repository(wheel, tmp_path):
    venv = _venv_with(wheel, tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "PYTHONSAFEPATH")}
    env["TLWEB_HOME"] = str(tmp_path / "home")

    def run(*args):
        proc = subprocess.run([*map(str, args)], cwd=outside, env=env, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        return proc.stdout

    tlweb = venv / "bin" / "tlweb"
    assert tlweb.exists()
    usage = run(tlweb, "--help")
    for command in ("serve", "classify", "finetune", "models"):
        assert command in usage

    code = ("import json, tlweb, tlweb.assets, tlweb.engine.metrics as m\n"
            "print(json.dumps([tlweb.__file__, str(tlweb.assets.example_image('cat.jpg')),\n"
            "    m.classification_metrics([0, 1, 1], [0, 1, 0], ['a', 'b'])['accuracy']]))")
    module, cat, accuracy = json.loads(run(venv / "bin" / "python", "-c", code).strip().splitlines()[-1])
    site_packages = venv.resolve() / "lib"
    assert Path(module).resolve().is_relative_to(site_packages), module  # the installed copy, not the checkout
    assert not Path(module).resolve().is_relative_to(ROOT.resolve())
    assert Path(cat).resolve().is_relative_to(site_packages) and Path(cat).is_file(), cat
    assert accuracy == pytest.approx(2 / 3)  # the metric module loads from the installed package

    result = json.loads(run(tlweb, "classify", cat, "--model", "demo-vit", "--top-k", "2", "--json")
                        .strip().splitlines()[-1])
    assert result["model"] == "demo-vit" and len(result["predictions"]) == 2
