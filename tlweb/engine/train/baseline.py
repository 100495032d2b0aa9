"""The zero-shot baseline of a data-efficiency curve: a CLIP or SigLIP model classifies the curve's
test split from the class names alone — the "0 training images per class" line the fine-tuned
points are drawn against, so the chart shows where few-shot training overtakes zero-shot.

:func:`check_zero_shot` refuses a model that is not CLIP/SigLIP (one sentence, before any run);
:func:`zero_shot_baseline` is the GPU function (one call, the test split only; Stop through the
experiment folder's STOP file); :func:`record_zero_shot` writes the row into the experiment's
``experiment.json`` (key ``zero_shot``) so a reopened experiment, ``runs ls`` and the report show it.
The row (:func:`zero_shot_row`) is a dict with ``kind: "zero-shot"``; the curve's stream yields it
before the first run.
"""

from __future__ import annotations

from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine.stop import Stop
from tlweb.engine.zerogpu import gpu_task
from tlweb.errors import ModelError, clip

ZERO_SHOT_KIND = "zero-shot"
ROW_FIELDS = ("model", "test_accuracy", "test_macro_f1", "correct", "test_images", "train_images", "templates",
              "scoring", "random_weights", "cached")


def check_zero_shot(model, templates=None, settings: Settings | None = None) -> tuple[str, list[str], bool] | None:
    """(model name, prompt templates, random weights?) of the baseline, or None when none is asked for.

    A name that is no model gets the resolver's sentence; a model that is not CLIP/SigLIP gets one
    sentence saying so; bad templates get theirs — all before the curve's first run."""
    from tlweb.catalog import ZERO_SHOT_CLASSIFICATION
    from tlweb.engine.listing import resolve
    from tlweb.engine.zeroshot import is_zero_shot, parse_templates
    from tlweb.registry import task_noun

    name = str(model or "").strip()
    if not name:
        return None
    settings = settings or get_settings()
    spec = resolve(name, settings=settings)
    if not is_zero_shot(name, settings):
        what = f"{task_noun(spec.task)}, not" if spec.task and spec.task != ZERO_SHOT_CLASSIFICATION else "not"
        raise ModelError(f"'{clip(name)}' is {what} a CLIP or SigLIP model, so it cannot draw the zero-shot line: "
                         "pick one (for example clip-vit-base or demo-clip), or none.")
    return name, parse_templates(templates), bool(spec.random_weights)


def zero_shot_row(result, random_weights: bool = False) -> dict:
    """The baseline as a curve row (``kind: "zero-shot"``) from a :class:`~tlweb.engine.zeroshot.ZeroShotEval`."""
    n = int(result.images)
    return {"kind": ZERO_SHOT_KIND, "model": result.model, "test_accuracy": float(result.accuracy),
            "test_macro_f1": float(result.macro_f1), "correct": int(round(result.accuracy * n)), "test_images": n,
            "train_images": 0, "templates": list(result.templates), "scoring": result.scoring,
            "random_weights": bool(random_weights), "cached": bool(result.cached)}


@gpu_task(images="data", models="model", image_factor=0.2)  # batched image features of the test split
def zero_shot_baseline(data, model: str, templates=None, stop_dir: str | None = None, random_weights: bool = False,
                       settings: Settings | None = None) -> dict | None:
    """Classify the test split of ``data`` from its class names with ``model``; the row, or None when
    the STOP file of ``stop_dir`` (the experiment folder) appeared meanwhile. Everything pickles."""
    from tlweb.engine.zeroshot import zero_shot_eval

    stop = Stop(stop_dir) if stop_dir else None
    result = zero_shot_eval(data, model, templates, split="test", settings=settings, should_stop=stop)
    return None if result is None else zero_shot_row(result, random_weights)


def record_zero_shot(exp_dir, row: dict) -> None:
    """Keep the baseline in the experiment folder (``experiment.json``, key ``zero_shot``)."""
    from tlweb.engine.runs.store import update_experiment

    update_experiment(Path(exp_dir), zero_shot={k: row.get(k) for k in ROW_FIELDS})


def baseline_of(rows) -> dict | None:
    """The zero-shot row among a curve's rows (dicts), if there is one."""
    return next((r for r in rows or () if isinstance(r, dict) and r.get("kind") == ZERO_SHOT_KIND), None)
