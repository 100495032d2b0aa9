"""Explain: feature maps, attention and rollout, Grad-CAM and occlusion for image classifiers — and
what fine-tuning changed about where a model looks.

No gradio, no plotly: results are numpy maps (:class:`ExplainMap`) the viz layer draws.

- :func:`explain` / :func:`explain_loaded`: one picture, one model, one method.
- :func:`before_after`: a fine-tuned run and its base model on the same picture.
- :func:`load_for_explain`: models load with eager attention, a cache entry of their own.
- :mod:`~tlweb.engine.explain.hooks`: the per-model lock and the hook context manager.
"""

from __future__ import annotations

from tlweb.engine.explain.compare import BEFORE_AFTER_METHODS, BeforeAfter, before_after, run_base_model
from tlweb.engine.explain.layers import ExplainError, LayerInfo
from tlweb.engine.explain.maps import ExplainMap
from tlweb.engine.explain.run import (
    ATTENTION_METHODS,
    METHOD_NAMES,
    METHODS,
    ExplainResult,
    describe,
    explain,
    explain_loaded,
    load_for_explain,
    random_twin,
)

__all__ = [
    "ATTENTION_METHODS", "BEFORE_AFTER_METHODS", "METHODS", "METHOD_NAMES", "BeforeAfter", "ExplainError",
    "ExplainMap", "ExplainResult", "LayerInfo", "before_after", "describe", "explain", "explain_loaded", "load_for_explain",
    "random_twin", "run_base_model",
]
