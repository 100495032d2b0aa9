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


def _drawing() -> dict[str, set[str]]:
    """The names on each floor of docs/architecture.md's drawing of the house (``tlweb.engine`` → its
    modules; ``pkg/`` for a sub-package, ``pkg/name`` for what its parentheses name)."""
    import re

    doc = (ROOT / "docs" / "architecture.md").read_text()
    block = doc[doc.index("```text", doc.index("The house, top floor first")) + 7:]
    block = block[:block.index("```")]
    floors: dict[str, set[str]] = {}
    floor = None
    for line in block.splitlines():
        head = re.match(r"(tlweb\.\w+)\s{2,}", line)
        if head:
            floor, line = head.group(1), line[head.end():]
        elif not line.startswith(" "):
            for name in re.findall(r"tlweb\.\w+", line):
                floors.setdefault(name, set())
            continue
        line = re.sub(r"^\s*\w+:\s+", "", line)  # a concern's label ("models:")
        for pkg, inner in re.findall(r"(\w+)/ \(([^)]*)\)", line):
            floors[floor].update(f"{pkg}/{n.strip()}" for n in inner.split("·"))
        line = re.sub(r"\(([^)]*)\)", "", line)
        floors.setdefault(floor, set()).update(n.strip() for n in line.split("·") if n.strip())
    return floors


def test_the_drawing_of_the_house_names_every_module_and_only_real_ones():
    floors = _drawing()
    assert {"tlweb.cli", "tlweb.ui", "tlweb.viz", "tlweb.engine", "tlweb.catalog", "tlweb.errors"} <= set(floors)
    for name in floors:  # every floor is a module or package of tlweb
        path = ROOT / name.replace(".", "/")
        assert path.is_dir() or path.with_suffix(".py").is_file(), name
    for floor in ("tlweb.ui", "tlweb.viz", "tlweb.engine"):
        base = ROOT / floor.replace(".", "/")
        drawn = floors[floor]
        for name in drawn:  # nothing drawn that does not exist
            target = base / name.rstrip("/")
            assert target.is_dir() if name.endswith("/") else (target.with_suffix(".py").is_file() or target.is_dir()), \
                f"{floor}: {name}"
        actual = {p.stem for p in base.glob("*.py") if p.stem != "__init__"} | {
            p.name + "/" for p in base.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
        missing = actual - {n for n in drawn if "/" not in n.rstrip("/")} - {n for n in drawn if n.endswith("/")}
        assert not missing, f"{floor}: modules missing from the drawing: {sorted(missing)}"
