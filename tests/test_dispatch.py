"""The tabs, the CLI and selfcheck reach an inference task through its record (``task(NAME).run(...)``),
never by importing the engine function that runs it: the record's runner is the one wrapped for
ZeroGPU, and a caller holding the function itself would drift from the registry."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.registries import replace_runner
from tlweb.engine.inference import runnable
from tlweb.registry import CLASSIFICATION, ZERO_SHOT_CLASSIFICATION

ROOT = Path(__file__).resolve().parents[1] / "tlweb"
CALLERS = sorted([*(ROOT / "ui").rglob("*.py"), *(ROOT / "cli").rglob("*.py"), ROOT / "selfcheck.py"])


def _runners() -> dict[tuple[str, str], str]:
    """(engine module, function name) of every runner → the task names it runs."""
    found: dict[tuple[str, str], str] = {}
    for record in runnable():
        fn = record.runner()
        key = (fn.__module__, fn.__name__)
        found[key] = ", ".join(filter(None, [found.get(key), record.name]))
    return found


def direct_runner_uses(source: str, runners: dict[tuple[str, str], str]) -> list[str]:
    """Where ``source`` imports a runner (``from tlweb.engine.segment import segment``) or reaches it
    through its module (``from tlweb.engine import segment as s`` … ``s.segment``,
    ``import tlweb.engine.segment as s``)."""
    by_module = {module: {name for m, name in runners if m == module} for module, _ in runners}
    hits, aliases = [], {}  # local name → engine module
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                if alias.name in by_module.get(node.module, ()):
                    hits.append(f"line {node.lineno}: from {node.module} import {alias.name}")
                full = f"{node.module}.{alias.name}"
                if full in by_module:
                    aliases[alias.asname or alias.name] = full
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in by_module:
                    aliases[alias.asname or alias.name] = alias.name
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            target = node.value
            dotted = ast.unparse(target)
            module = aliases.get(dotted) or (dotted if dotted in by_module else None)
            if module and node.attr in by_module[module]:
                hits.append(f"line {node.lineno}: {dotted}.{node.attr}")
    return hits


def test_the_scan_knows_every_runner_and_finds_the_callers():
    runners = _runners()
    names = {name for _, name in runners}
    assert {"classify", "classify_labels", "segment", "detect", "estimate_depth"} <= names
    assert len(CALLERS) > 20 and ROOT / "ui" / "tabs" / "classify.py" in CALLERS and ROOT / "cli" / "classify.py" in CALLERS


@pytest.mark.parametrize("source", [
    "from tlweb.engine.segment import segment\n",
    "from tlweb.engine.zeroshot import is_zero_shot, classify_labels\n",
    "from tlweb.engine import detect\nr = detect.detect(img, m)\n",
    "from tlweb.engine import classify as c\nr = c.classify(img, m)\n",
    "import tlweb.engine.depth as d\nr = d.estimate_depth(img, m)\n",
    "def run():\n    import tlweb.engine.segment\n    return tlweb.engine.segment.segment(img, m)\n",
])
def test_the_scan_flags_a_direct_import(source):
    assert direct_runner_uses(source, _runners())


def test_helpers_that_do_not_run_the_task_are_allowed():
    ok = ("from tlweb.engine.detect import count_by_label, default_threshold, is_zero_shot\n"
          "from tlweb.engine.segment import save_mask\nfrom tlweb.engine.inference import task\n"
          "r = task('image-segmentation').run(img, m)\n")
    assert direct_runner_uses(ok, _runners()) == []


@pytest.mark.parametrize("path", CALLERS, ids=lambda p: str(p.relative_to(ROOT.parent)))
def test_no_tab_or_command_imports_an_inference_runner(path):
    hits = direct_runner_uses(path.read_text(encoding="utf-8"), _runners())
    assert not hits, (f"{path.relative_to(ROOT.parent)} calls an engine runner directly; go through the task's "
                      f"record, task(NAME).run(...) from tlweb.engine.inference: {hits}")


def test_the_classify_command_runs_through_the_records(monkeypatch, make_image, capsys):
    """Both classify paths of the CLI call the record's runner (so ZeroGPU wraps them), with the options
    named as the engine functions name them."""
    from tlweb.cli import main as cli
    from tlweb.engine.classify import ClassifyResult, Prediction

    calls = []

    def fake(kind):
        def run(image, model, settings=None, **options):
            calls.append((kind, model, options))
            return ClassifyResult(predictions=[Prediction("cat", 0.9)], latency_ms=1.0, model=model, spec=None,
                                  device="cpu", dtype="float32", params=0)
        return run

    replace_runner(monkeypatch, CLASSIFICATION, fake(CLASSIFICATION))
    replace_runner(monkeypatch, ZERO_SHOT_CLASSIFICATION, fake(ZERO_SHOT_CLASSIFICATION))
    image = make_image("cat.png", size=(32, 24))
    assert cli(["classify", str(image), "--model", "demo-resnet-shapes", "--top-k", "3"]) == 0
    assert cli(["classify", str(image), "--model", "demo-clip", "--labels", "cat,dog", "--template", "a {}"]) == 0
    assert calls == [(CLASSIFICATION, "demo-resnet-shapes", {"top_k_n": 3}),
                     (ZERO_SHOT_CLASSIFICATION, "demo-clip", {"labels": "cat,dog", "templates": ["a {}"], "top_k": 5})]
    assert "90.00%  cat" in capsys.readouterr().out
