"""Before / after fine-tuning: the same picture through a run's base model and its fine-tuned model."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from tlweb.catalog import ModelSpec
from tlweb.config import Settings, get_settings
from tlweb.engine.explain.layers import ExplainError
from tlweb.engine.explain.maps import correlation
from tlweb.engine.explain.registry import before_after_methods
from tlweb.engine.explain.run import ExplainResult, explain_loaded, load_for_explain
from tlweb.engine.images import load_image
from tlweb.engine.listing import resolve
from tlweb.engine.zerogpu import gpu_task
from tlweb.errors import ModelError, TlwebError, clip


@dataclass
class BeforeAfter:
    run: str  # the run's key
    base_model: str  # what the run was fine-tuned from, as recorded in the run
    base: ExplainResult
    tuned: ExplainResult
    similarity: float | None  # Pearson correlation of the two maps (None when one is flat)

    def as_dict(self) -> dict:
        return {"run": self.run, "base_model": self.base_model, "method": self.tuned.method,
                "similarity": None if self.similarity is None else round(self.similarity, 4),
                "base": self.base.as_dict(), "tuned": self.tuned.as_dict()}


def run_folder(spec: ModelSpec) -> Path:
    """The run folder of a fine-tuned model's spec (its model folder's parent)."""
    return Path(spec.hub_id).parent


def run_base_model(spec: ModelSpec, settings: Settings | None = None) -> ModelSpec:
    """The model a run was fine-tuned from, read from the run folder's config.json
    (``base_model``: a catalog/demo key or Hub id; ``base_model_path``: the folder it was loaded from)."""
    settings = settings or get_settings()
    cfg_path = run_folder(spec) / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError):
        raise ExplainError(f"'{spec.key}' has no readable run record (config.json), so its base model is unknown.") from None
    name, path = cfg.get("base_model"), cfg.get("base_model_path")
    for candidate in (name, path):
        if not candidate:
            continue
        try:
            return resolve(str(candidate), settings=settings)
        except ModelError:
            continue
    raise ExplainError(f"The base model of '{spec.key}' ({name or path or 'not recorded'}) cannot be found any more.")


@gpu_task(images="image", models="run", image_factor=16.0, extra_s=10.0)  # two models; 10 s loads the base
def before_after(image, run: str, method: str = "gradcam", *, target=None, settings: Settings | None = None) -> BeforeAfter:
    """The same picture explained by the base model and by the run's fine-tuned model, side by side.

    Each model explains its own top-1 class (or ``target`` for the fine-tuned one, when it names one
    of its classes): the base model knows other classes than the run's."""
    settings = settings or get_settings()
    offered = [m.key for m in before_after_methods()]
    if method not in offered:
        raise ExplainError(f"Before/after shows {' or '.join(offered)}, not '{clip(method)}'.")
    spec = resolve(run, settings=settings)
    if spec.source != "run":
        raise ExplainError(f"'{run}' is not a model fine-tuned in this app; pick one of the runs in the list.")
    base_spec = run_base_model(spec, settings)
    img = load_image(image, settings)
    tuned_loaded = load_for_explain(spec, settings)
    base_loaded = load_for_explain(base_spec, settings)
    tuned = explain_loaded(img, tuned_loaded, method, target=target)
    try:
        base = explain_loaded(img, base_loaded, method)
    except TlwebError as exc:
        raise ExplainError(f"The base model cannot be explained this way: {exc}") from None
    return BeforeAfter(run=spec.key, base_model=base_spec.key if base_spec.source != "local" else base_spec.hub_id,
                       base=base, tuned=tuned, similarity=correlation(base.map, tuned.map))
