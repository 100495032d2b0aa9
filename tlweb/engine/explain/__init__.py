"""Explain: feature maps, attention and rollout, Grad-CAM and occlusion for image classifiers — and
what fine-tuning changed about where a model looks.

No gradio, no plotly: results are numpy maps (:class:`ExplainMap`) the viz layer draws.

- :func:`explain` / :func:`explain_loaded`: one picture, one model, one method.
- :func:`before_after`: a fine-tuned run and its base model on the same picture.
- :func:`all_methods` / :func:`get_method`: the methods' records (:mod:`~tlweb.engine.explain.registry`), declared
  next to their runners with :func:`explain_method`; the CLI, the tab and the before/after picker read them.
- :func:`load_for_explain`: models load with eager attention, a cache entry of their own.
- :mod:`~tlweb.engine.explain.hooks`: the per-model lock and the hook context manager.
"""

from __future__ import annotations

from tlweb.engine.explain.compare import BeforeAfter, before_after, run_base_model
from tlweb.engine.explain.layers import ExplainError, LayerInfo
from tlweb.engine.explain.maps import ExplainMap
from tlweb.engine.explain.registry import (
    Method,
    all_methods,
    before_after_methods,
    explain_method,
    find_method,
    get_method,
    method_keys,
    method_name,
)
from tlweb.engine.explain.run import ExplainResult, describe, explain, explain_loaded, load_for_explain, random_twin

__all__ = [
    "BeforeAfter", "ExplainError", "ExplainMap", "ExplainResult", "LayerInfo", "Method", "all_methods", "before_after",
    "before_after_methods", "describe", "explain", "explain_loaded", "explain_method", "find_method", "get_method",
    "load_for_explain", "method_keys", "method_name", "random_twin", "run_base_model",
]
