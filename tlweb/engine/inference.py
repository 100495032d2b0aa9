"""Every inference task with its runner: importing this module imports each task's engine module,
whose ``@inference_task(NAME, …)`` (:mod:`tlweb.engine.pipeline`) declares the function that runs
the task on one picture in the task's record (:mod:`tlweb.registry`).

The CLI, the tabs and the tests reach a task through its record::

    from tlweb.engine.inference import task
    result = task("depth-estimation").run(image, "demo-dpt-scenes", settings=settings)

Adding an inference task: its record in :mod:`tlweb.registry`, its engine module with the
decorator, and one import line here. Like every engine module, this one loads no model and imports
neither torch nor transformers.
"""

from __future__ import annotations

from tlweb import registry
from tlweb.engine import classify, depth, detect, segment, zeroshot  # noqa: F401 - each declares its runners


def task(name: str) -> registry.Task:
    """The record of task ``name``, its runner declared (KeyError when there is no such task)."""
    return registry.task(name)


def runnable() -> tuple[registry.Task, ...]:
    """The tasks that run on one picture (those with a runner), in registration order."""
    return tuple(t for t in registry.tasks() if t.runner() is not None)
