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


def _recipe_blocks() -> str:
    """The python blocks of docs/architecture.md's "Adding a task / a tab / a CLI command" recipes."""
    doc = (ROOT / "docs" / "architecture.md").read_text()
    part = doc[doc.index("### Adding a task"):doc.index("### Adding a demo family")]
    part += doc[doc.index("### Adding a tab"):doc.index("### Adding a demo family")]
    return "\n".join(re.findall(r"```python\n(.*?)```", part, re.S))


def test_the_add_a_task_recipe_names_real_functions_and_records():
    """Every name the recipe imports exists where it says, every decorator it uses is one of them, every file it
    names exists, and its registry lines are the registry's own."""
    import importlib

    code = _recipe_blocks()
    imported: dict[str, object] = {}
    for module, names in re.findall(r"^\s*from (tlweb[\w.]*) import ([\w, ]+?)\s*(?:#.*)?$", code, re.M):
        mod = importlib.import_module(module)
        for item in (n.strip() for n in names.split(",")):
            name, _, alias = item.partition(" as ")
            target = getattr(mod, name, None)
            if target is None:  # a submodule: "from tlweb.engine import depth"
                target = importlib.import_module(f"{module}.{name}")
            imported[alias or name] = target
    assert {"inference_task", "task", "depth_picture", "depth_surface", "load", "prepare_image"} <= set(imported)
    for decorator in re.findall(r"^\s*@([\w.]+)", code, re.M):
        root = decorator.split(".")[0]
        assert root in imported, f"@{decorator} is not imported in the recipe"
        obj = imported[root]
        for part in decorator.split(".")[1:]:
            obj = getattr(obj, part)
        assert callable(obj), decorator
    for path in re.findall(r"^# (tlweb/\S+\.py)", code, re.M):
        assert (ROOT / path).is_file(), path
    registry_src = (ROOT / "tlweb" / "registry.py").read_text()
    for line in re.findall(r"^register_(?:tab|command)\(.*\)$", code, re.M):
        assert line in registry_src, line
    from tlweb.engine import depth as depth_engine
    from tlweb.engine.inference import task

    assert task("depth-estimation").runner() is depth_engine.estimate_depth
