"""Lists for parametrizing tests, read from the registries (never typed again in a test)."""

from __future__ import annotations

from tlweb import registry
from tlweb.engine import inference  # noqa: F401 - every task's engine module, so each record has its runner
from tlweb.engine.demo import registry as demo_registry


def demo_keys(*tasks: str) -> list[str]:
    """Every demo model's key, or those of the given tasks, in registry order."""
    return [key for key, dm in demo_registry().items() if not tasks or dm.task in tasks]


def task_names() -> list[str]:
    return [t.name for t in registry.tasks()]


def tab_ids() -> list[str]:
    return [t.id for t in registry.tabs()]


def command_modules() -> list[str]:
    return [c.module for c in registry.commands()]


def explain_methods() -> list[str]:
    """Every Explain method's key, in the tab's order."""
    from tlweb.engine.explain import method_keys

    return method_keys()


def replace_runner(monkeypatch, name: str, fn) -> None:
    """Make ``task(name).run(...)`` call ``fn`` for this test (the tabs and the CLI reach a task only
    through its record, so this is the one place to break or watch it); undone after the test."""
    registry.task(name)  # KeyError for an unknown task
    monkeypatch.setitem(registry._RUNNERS, name, fn)
