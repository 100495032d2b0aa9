"""Which models a person can pick, and the one gate from a name to a :class:`~tlweb.catalog.ModelSpec`.

:mod:`tlweb.catalog` holds the curated entries and the name rules as data; this module adds what only the
engine knows: the demo models (:mod:`tlweb.engine.demo`) and the runs fine-tuned here
(:mod:`tlweb.engine.runs`). Nothing here imports torch or transformers.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

from tlweb import access
from tlweb.catalog import CATALOG, RUN_LABEL_SUFFIX, ModelSpec, hub_spec, local_spec
from tlweb.config import Settings, get_settings
from tlweb.engine.demo import demo_model_specs
from tlweb.engine.runs import ExperimentInfo, find_run, list_entries, run_title
from tlweb.engine.runs.store import run_models
from tlweb.errors import ModelError, clip


def demo_specs(settings: Settings | None = None) -> list[ModelSpec]:
    """Demo models (built lazily by :mod:`tlweb.engine.demo`); listed only in demo mode."""
    return demo_model_specs(settings or get_settings())


def run_specs(settings: Settings | None = None) -> list[ModelSpec]:
    """Models fine-tuned in this app: single runs and runs inside experiments (``tlweb.engine.runs``),
    each labelled by its short readable title."""
    out = []
    for run_id, model_dir, title in run_models(settings or get_settings()):
        spec = local_spec(model_dir, source="run", key=run_id)
        if spec is not None:
            out.append(replace(spec, label_note=title))
    return out


def run_spec(name: str, settings: Settings) -> ModelSpec | None:
    """The fine-tuned run that ``name`` means (its key, dropdown label or model folder), if any."""
    root = settings.runs_dir
    key = name[: -len(RUN_LABEL_SUFFIX)] if name.endswith(RUN_LABEL_SUFFIX) else name
    path = Path(name)
    try:  # a name too long for the file system raises OSError rather than "no such file"
        run_dir = find_run(key, settings) if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", key) else None
        if run_dir is None and path.is_absolute() and path.name == "model" and root.is_dir():
            run_dir = find_run(path.parent.name, settings)
            run_dir = run_dir if run_dir is not None and run_dir.resolve() == path.resolve().parent else None
        if run_dir is not None and (run_dir / "model" / "config.json").is_file():
            spec = local_spec(run_dir / "model", source="run", key=run_dir.name)
            return replace(spec, label_note=run_title(run_dir)) if spec is not None else None
    except OSError:
        pass
    if name.endswith(RUN_LABEL_SUFFIX):  # a dropdown label: titles are not ids, look them up
        return next((s for s in run_specs(settings) if s.label == name), None)
    return None


def list_models(task: str | None = None, settings: Settings | None = None, include_catalog: bool | None = None) -> list[ModelSpec]:
    """Models for a task: fine-tuned runs first, then demo models (demo mode), then the catalog.

    In demo mode the Hub catalog is still listed after the demo models (it works wherever the
    Hub is reachable) unless ``include_catalog=False``.
    """
    settings = settings or get_settings()
    specs: list[ModelSpec] = []
    specs.extend(run_specs(settings))
    if settings.demo:
        specs.extend(demo_specs(settings))
    if include_catalog is None or include_catalog:
        specs.extend(CATALOG)
    if task is not None:
        specs = [s for s in specs if s.task == task]
    return specs


def list_for_pickers(task: str | None = None, settings: Settings | None = None) -> list[ModelSpec]:
    """What a model list shows, in order: the catalog, the demo models (demo mode), then the runs
    fine-tuned here as a group of their own — each single run, and one run per experiment (its best:
    a ladder or a data-efficiency curve holds many). Every run still resolves by its id."""
    settings = settings or get_settings()
    specs = list_models(task, settings)
    order = {"catalog": 0, "demo": 1, "run": 3}
    best: dict[str, str] = {}  # run id → what it stands for in the list
    for entry in list_entries(settings):
        if isinstance(entry, ExperimentInfo):
            pick = entry.best or (entry.runs[-1] if entry.runs else None)
            if pick is not None:
                best[pick.run_id] = f"best of {entry.title}: {pick.part}"
        else:
            best[entry.run_id] = ""
    listed = [s if s.source != "run" or not best[s.key] else replace(s, label_note=best[s.key])
              for s in specs if s.source != "run" or s.key in best]
    return sorted(listed, key=lambda s: order.get(s.source, 2))  # stable: each group keeps its order


def resolve(name: str, task: str | None = None, settings: Settings | None = None) -> ModelSpec:
    """Turn what a user picked or typed into a :class:`ModelSpec`.

    Accepts a catalog key, a dropdown label, a catalog Hub id, a demo/run key, any Hub id
    (``owner/name``) and, in local mode only, a local folder (made by ``save_pretrained``). In
    shared mode (:attr:`Settings.shared`) a name is never looked up on disk: anything that is not
    in the lists, a run or a Hub id is refused with :data:`tlweb.access.SHARED_RULE`.
    """
    settings = settings or get_settings()
    name = access.model_name(name, settings)
    candidates = list(demo_specs(settings)) if settings.demo or name.startswith("demo-") else []
    candidates.extend(CATALOG)
    for spec in candidates:  # a demo model's hub_id is its folder: named only by key or label when shared
        if name in (spec.key, spec.label) or (name == spec.hub_id and not (settings.shared and spec.is_local)):
            return spec
    path_like = access.looks_like_path(name)
    run = run_spec(name, settings) if not (settings.shared and path_like) else None
    if run is not None:  # a direct look-up: no scan of every run on each request
        return run
    if settings.shared:
        if path_like or not access.is_hub_id(name):
            raise access.refuse_path(name)
        return hub_spec(name, task)
    shown = clip(name)
    path = Path(name).expanduser()
    try:
        exists = path.exists()
    except OSError:  # name too long for the file system, etc.
        exists = False
    if exists:
        if not path.is_dir():
            raise ModelError(f"'{shown}' is a file, not a model folder: give the folder that holds config.json.")
        spec = local_spec(path)
        if spec is None:
            raise ModelError(
                f"The folder '{shown}' has no readable config.json, so it is not a saved model "
                "(save one with save_pretrained)."
            )
        return spec
    if name.startswith(("/", "./", "../", "~")) or "\\" in name:
        raise ModelError(f"The folder '{shown}' does not exist.")
    if not access.is_hub_id(name):
        raise ModelError(
            f"'{shown}' is neither a model in the list, a local folder, nor a valid Hugging Face model id "
            "(ids look like 'google/vit-base-patch16-224')."
        )
    return hub_spec(name, task)
