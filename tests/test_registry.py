"""The registries: every task, tab and command record points at something real, and the task
guessed from a config.json agrees with transformers' own Auto mappings."""

from __future__ import annotations

import importlib

import pytest

from tests.registries import command_modules, tab_ids, task_names
from tlweb import registry
from tlweb.cli import build_parser
from tlweb.engine import loading
from tlweb.errors import ModelError


def _subcommands() -> set[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    return set(sub.choices)


@pytest.mark.parametrize("name", task_names())
def test_task_record_points_at_real_things(name):
    import transformers

    record = registry.task(name)
    assert record.noun.split()[0] in ("a", "an") and registry.task_noun(name) == record.noun
    assert record.auto_model_class() is getattr(transformers, record.auto_class)
    for model_type, cls in record.auto_class_for.items():
        assert record.auto_model_class(model_type) is getattr(transformers, cls)
        assert loading.auto_model_class(name, model_type) is getattr(transformers, cls)
    assert loading.auto_model_class(name) is record.auto_model_class()
    if record.runner() is not None:
        fn = record.runner()
        assert callable(fn) and fn.__module__.startswith("tlweb.engine.") and hasattr(fn, "gpu_task")
    if record.tab is not None:
        assert record.tab in tab_ids()
    if record.command is not None:
        assert record.command in _subcommands()
    if record.tab is not None or record.command is not None:
        assert record.runner() is not None, "a task served by a tab or a command needs its runner"


def test_unknown_task_is_a_sentence():
    with pytest.raises(ModelError, match="Unknown task"):
        loading.auto_model_class("image-to-poetry")
    assert registry.task_noun("image-to-poetry") == "image-to-poetry"


def _auto_mapping(auto_class: str) -> dict[str, str]:
    import transformers

    mapping = getattr(transformers, auto_class)._model_mapping._model_mapping
    return {mt: arch[0] if isinstance(arch, (list, tuple)) else arch for mt, arch in mapping.items()}


@pytest.mark.parametrize("name", [n for n in task_names() if n != registry.FEATURES])
def test_task_from_config_agrees_with_the_auto_classes(name):
    """Every architecture transformers loads with a task's Auto class is guessed as that task
    from a plain config.json (model_type + architectures, no tlweb metadata). This is what keeps
    a plain save_pretrained OWLv2 folder ("Owlv2ForObjectDetection") a zero-shot detector."""
    record = registry.task(name)
    pairs = dict(_auto_mapping(record.auto_class))
    for model_type, cls in record.auto_class_for.items():
        pairs[model_type] = _auto_mapping(cls)[model_type]
    wrong = {mt: (arch, registry.task_from_config({"model_type": mt, "architectures": [arch]}))
             for mt, arch in pairs.items()
             if registry.task_from_config({"model_type": mt, "architectures": [arch]}) != name}
    assert not wrong, wrong


@pytest.mark.parametrize("name", [n for n in task_names() if registry.task(n).model_types])
def test_family_records_cover_transformers_families(name):
    record = registry.task(name)
    assert set(_auto_mapping(record.auto_class)) <= set(record.model_types)
    # a config without architectures is still told by its family
    for model_type in record.model_types:
        assert registry.task_from_config({"model_type": model_type}) == name


def test_heads_and_backbones_of_image_text_families_are_not_zero_shot():
    assert registry.task_from_config({"model_type": "clip", "architectures": ["CLIPForImageClassification"]}) \
        == registry.CLASSIFICATION
    assert registry.task_from_config({"model_type": "clip", "architectures": ["CLIPVisionModel"]}) == registry.FEATURES


@pytest.mark.parametrize("tab_id", tab_ids())
def test_tab_record_points_at_a_module_with_build(tab_id):
    record = registry.tab(tab_id)
    assert record.title and record.id.replace("-", "_").isidentifier()
    assert callable(record.load().build)


def test_tabs_are_ordered_and_unique():
    records = registry.tabs()
    assert [t.order for t in records] == sorted(t.order for t in records)
    assert len({t.id for t in records}) == len(records) == len({t.title for t in records})


@pytest.mark.parametrize("module", command_modules())
def test_command_module_lists_adders_that_register_commands(module):
    adders = importlib.import_module(module).COMMANDS
    assert adders and all(callable(a) for a in adders)
    import argparse

    sub = argparse.ArgumentParser().add_subparsers(dest="command")
    for add in adders:
        add(sub)
    assert set(sub.choices) <= _subcommands()
    for parser in sub.choices.values():
        assert parser.get_default("func") is not None


def test_registering_a_tab_and_a_command_is_one_record(monkeypatch):
    monkeypatch.setattr(registry.TABS, "_items", dict(registry.TABS._items))
    monkeypatch.setattr(registry.COMMANDS, "_items", dict(registry.COMMANDS._items))
    before = registry.tabs()
    registry.register_tab(registry.Tab("probe", "Probe", "tlweb.ui.tabs.classify", order=before[0].order + 1))
    assert tab_ids() == [before[0].id, "probe", *[t.id for t in before[1:]]]
    registry.register_command(registry.Command("tests.test_registry", order=1))
    assert registry.commands()[0].module == "tests.test_registry"
    assert "probe-command" in _subcommands()


def _add_probe(sub) -> None:
    sub.add_parser("probe-command").set_defaults(func=lambda args: 0)


COMMANDS = [_add_probe]  # this test module doubles as a command module


def test_architecture_doc_names_every_task():
    from tests.conftest import ROOT

    doc = (ROOT / "docs" / "architecture.md").read_text()
    assert all(f"`{name}`" in doc for name in task_names())
