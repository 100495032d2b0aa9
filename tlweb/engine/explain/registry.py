"""The Explain methods, one record each, declared next to its runner with :func:`explain_method` (as timm's
``register_model``); :mod:`tlweb.engine.explain.run` declares the five, so importing
:mod:`tlweb.engine.explain` finds them all.

Everything that lists or tells the methods reads these records: the dispatch in
:func:`~tlweb.engine.explain.run.explain_loaded`, the CLI's ``--method`` choices, the Explain tab's method
picker, its help and its progress words, the before/after picker (and its check), the facts card and the
report. Light: no torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tlweb.engine.explain.layers import ExplainError
from tlweb.errors import clip
from tlweb.registry import Records


@dataclass(frozen=True)
class Method:
    """One Explain method.

    ``runner(loaded, inp, probe, names, want, *, layer, head, strip, top_channels, window)`` runs inside
    :func:`~tlweb.engine.explain.hooks.instrumented` (``probe`` captures the outputs of the layers ``names``;
    empty when ``layers`` is False) and returns the parts of an
    :class:`~tlweb.engine.explain.run.ExplainResult`: ``logits``, ``target`` (the class index explained),
    ``map``, ``layers``, ``layer``, ``notes``, and optionally ``strip``, ``head``, ``num_heads``,
    ``channels``, ``pca``."""

    key: str  # the value of the CLI's --method and of the tab's picker (clients send it: never renamed)
    label: str  # the tab's choice: "Attention (one layer, one head)"
    name: str  # short, in facts cards, reports and progress: "Attention"
    help: str  # one paragraph of markdown under the picker: what the map shows and where it misleads
    cost: str  # what the model does while the page waits: "one forward pass, reading …"
    runner: Callable
    attention: bool = False  # reads attention weights (eager attention); models without them are refused
    cnn: bool = True  # works on convolutional networks
    tokens: bool = True  # works on token models (ViT, DeiT, BEiT, DINOv2, Swin)
    layers: bool = True  # reads the layer stack (a layer to pick, one map per layer); False: only the output
    class_specific: bool = True  # explains the chosen class; False: the same map for any class (the top-1 named)
    before_after: bool = False  # offered in "Before / after fine-tuning"


EXPLAIN_METHODS: Records[Method] = Records("key")


def explain_method(key: str, label: str, *, name: str, help: str, cost: str, **flags) -> Callable[[Callable], Callable]:
    """Declare the decorated function as the runner of the Explain method ``key`` (see :class:`Method`
    for the fields and the runner's signature); registration order is the order the tab shows."""

    def declare(runner: Callable) -> Callable:
        EXPLAIN_METHODS.register(Method(key, label, name, help, cost, runner, **flags))
        return runner

    return declare


def all_methods() -> tuple[Method, ...]:
    """Every method, in the order the tab shows them."""
    return EXPLAIN_METHODS.all()


def method_keys() -> list[str]:
    return [m.key for m in all_methods()]


def before_after_methods() -> tuple[Method, ...]:
    """The methods offered before / after fine-tuning."""
    return tuple(m for m in all_methods() if m.before_after)


def find_method(key) -> Method | None:
    """The record of ``key``, or None."""
    try:
        return EXPLAIN_METHODS.get(key)
    except (KeyError, TypeError):
        return None


def get_method(key) -> Method:
    """The record of ``key``; an :class:`ExplainError` naming the methods when there is none."""
    record = find_method(key)
    if record is None:
        raise ExplainError(f"Unknown method '{clip(key)}': pick one of {', '.join(method_keys())}.")
    return record


def method_name(key) -> str:
    """The short name of a method ("Grad-CAM"); the key itself when none is registered under it."""
    record = find_method(key)
    return record.name if record else str(key)
