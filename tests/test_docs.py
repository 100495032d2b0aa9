"""README's two commands stay true: CI runs the same test command; the app entry points exist."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def _bash_blocks(text: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```bash\n(.*?)```", text, flags=re.S)]


def test_readme_has_start_and_test_commands_and_ci_runs_the_test_command():
    readme = (ROOT / "README.md").read_text()
    blocks = _bash_blocks(readme)
    start = [b for b in blocks if "app.py" in b and "pip install" in b]
    tests = [b for b in blocks if "pytest" in b and "pip install" in b]
    assert len(start) == 1 and len(tests) == 1
    ci = (ROOT / ".ci" / "run").read_text()
    assert tests[0] in ci
    assert "ruff check" in ci and ci.index("ruff check") < ci.index(tests[0])  # lint before the tests
    for req in re.findall(r"-r (\S+)", start[0] + " " + tests[0]):
        assert (ROOT / req).exists(), req


def test_example_images_have_a_licence_note():
    examples = ROOT / "tlweb" / "assets" / "examples"
    licence = (examples / "LICENSE.md").read_text()
    for img in examples.glob("*.jpg"):
        assert img.name in licence
