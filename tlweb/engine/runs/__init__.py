"""Run and experiment folders: everything a fine-tune produced, on disk, so it survives restarts.

``settings.runs_dir/``::

    <run_id>/                 a single run
        config.json           TrainConfig + base model + strategy + class names + resolved hyper-parameters
        events.jsonl          one TrainEvent dict per line, appended and flushed as they happen
        metrics.json          written at the end (accuracy, macro-F1, per-class, confusion matrix …)
        model/                save_pretrained of the model with its new head + the processor
        mistakes/             PNGs of the most confident mistakes
        STOP                  present once someone asked the run to stop (any process may write it)
    <experiment_id>/          a strategy ladder or a data-efficiency curve
        experiment.json       kind, base model, strategies, shots, data summary, created, status, pid
        STOP                  stops the experiment's current run and the ones not started yet
        <run_id>/ …           its runs, each laid out as above

Run ids are unique across the whole folder, so a run is found by its id wherever it lives.
Lists are read from these folders every time (no database, nothing in memory), so they are the
same after an app restart, a browser reload, or a run made by another process.

Three modules, one reason to change each (a run's model leaving the app, as a zip, a folder or a Hub
repository, is :mod:`tlweb.engine.publish`):

- :mod:`~tlweb.engine.runs.files`: the files' format (atomic JSON, ``events.jsonl`` and its
  :class:`~tlweb.engine.runs.files.RunWriter`);
- :mod:`~tlweb.engine.runs.present`: what a person or a client is shown (``RunInfo`` / ``ExperimentInfo``,
  titles, ``describe``, the rows of an experiment's chart);
- :mod:`~tlweb.engine.runs.store`: where the folders live and who may see them (ids, creating, finding,
  listing, stopping, deleting; every look-up filtered by :mod:`tlweb.engine.owners`).

The package itself re-exports what most callers read: the two records, ``short_model`` and the
look-ups (``find_run``, ``run_path``, ``entry_info``, ``list_runs``, ``list_entries``, ``list_experiments``,
``load_run``, ``run_title``). Anything else is imported from its module.
"""

from __future__ import annotations

from tlweb.engine.runs.present import ExperimentInfo, RunInfo, short_model
from tlweb.engine.runs.store import (
    entry_info,
    find_run,
    list_entries,
    list_experiments,
    list_runs,
    load_run,
    run_path,
    run_title,
)

__all__ = ["ExperimentInfo", "RunInfo", "entry_info", "find_run", "list_entries", "list_experiments", "list_runs",
           "load_run", "run_path", "run_title", "short_model"]
