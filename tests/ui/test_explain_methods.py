"""The Explain tab's method pickers, help and progress words come from the engine's method records: the
same choices as the CLI, and a method registered by a test appears in the tab without touching it."""

from __future__ import annotations

import gradio as gr
import pytest

import tlweb.ui.tabs.explain as explain_tab
from tests.registries import explain_methods
from tlweb.cli import build_parser
from tlweb.engine.explain import all_methods, before_after_methods, explain_method, find_method, get_method
from tlweb.engine.explain import registry as R


def _cli_choices() -> list[str]:
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    return list(next(a for a in sub.choices["explain"]._actions if a.dest == "method").choices)


def _tab(settings):
    with gr.Blocks():
        return explain_tab.build(settings)


def test_tab_and_cli_offer_the_registry(settings):
    handle = _tab(settings)
    tab = handle.parts
    assert handle.inputs["method"] is tab.method
    assert [tuple(c) for c in tab.method.choices] == [(m.label, m.key) for m in all_methods()]
    assert [tuple(c) for c in tab.ba_method.choices] == [(m.label, m.key) for m in before_after_methods()]
    assert tab.method.value == tab.ba_method.value == "gradcam"
    assert _cli_choices() == [m.key for m in all_methods()]


@pytest.mark.parametrize("key", explain_methods())
def test_help_for_every_method(key):
    assert explain_tab._method_help(key) == get_method(key).help
    assert explain_tab._method_help("no-such-method") == ""


@pytest.fixture
def spot_method(monkeypatch):
    monkeypatch.setattr(R.EXPLAIN_METHODS, "_items", dict(R.EXPLAIN_METHODS._items))
    explain_method("spot", "Spot (test)", name="Spot", help="**Spot** marks one cell.", cost="one forward pass",
                   before_after=True)(lambda *a, **k: None)
    yield get_method("spot")
    monkeypatch.undo()
    assert find_method("spot") is None


def test_a_registered_method_appears_in_the_tab_and_the_cli(spot_method, settings):
    handle = _tab(settings)
    assert tuple(handle.parts.method.choices[-1]) == ("Spot (test)", "spot")
    assert tuple(handle.parts.ba_method.choices[-1]) == ("Spot (test)", "spot")  # offered before / after too
    assert explain_tab._method_help("spot") == "**Spot** marks one cell."
    assert _cli_choices()[-1] == "spot"
