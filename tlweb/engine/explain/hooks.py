"""Hooks on a shared, cached model without leaks between requests.

:func:`instrumented` holds the model's own lock for the whole explanation (two requests on the
same cached model run one after the other; different models run in parallel) and always removes
every hook it registered — on success, on an error, on a stop. Its hooks also ignore forward
passes made by other threads, so even a caller that does not take the lock (another tab sharing
the model object) is never captured. Captum's own hooks are registered and removed inside the
same ``with`` block, under the same lock.

The explain engine loads models with eager attention (a different model-cache entry from the
SDPA copy other tabs use), so in the app only explanations touch these model objects at all.
"""

from __future__ import annotations

import threading
import weakref
from contextlib import contextmanager

_GUARD = threading.Lock()
_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def model_lock(model) -> threading.RLock:
    """The lock of one model object (created on first use; freed with the model)."""
    with _GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = threading.RLock()
            _LOCKS[model] = lock
        return lock


def first_tensor(output):
    """The main tensor of a module's output (a tensor, or the first tensor of a tuple / ModelOutput)."""
    import torch

    if isinstance(output, torch.Tensor):
        return output
    items = output.values() if isinstance(output, dict) else output
    for item in items if isinstance(output, (tuple, list, dict)) else ():
        if isinstance(item, torch.Tensor):
            return item
    return None


def tensors_of(output) -> list:
    import torch

    if isinstance(output, torch.Tensor):
        return [output]
    items = output.values() if isinstance(output, dict) else output
    return [t for t in items if isinstance(t, torch.Tensor)] if isinstance(output, (tuple, list, dict)) else []


class Probe:
    """Records module outputs of the forward passes made by the thread that owns it."""

    def __init__(self, model):
        self.model = model
        self.owner = threading.get_ident()
        self.outputs: dict[str, object] = {}
        self._handles: list = []

    def capture(self, modules: dict) -> None:
        """Record the output of each module in ``{name: module}`` (the last pass wins)."""
        for name, module in modules.items():
            self._handles.append(module.register_forward_hook(self._hook(name)))

    def _hook(self, name: str):
        def hook(_module, _args, output):
            if threading.get_ident() == self.owner:
                self.outputs[name] = output

        return hook

    def clear(self) -> None:
        self.outputs.clear()

    def remove(self) -> None:
        while self._handles:
            self._handles.pop().remove()
        self.outputs.clear()


@contextmanager
def instrumented(model):
    """``with instrumented(model) as probe:`` — the model's lock held, eval mode, hooks removed at exit."""
    lock = model_lock(model)
    with lock:
        probe = Probe(model)
        was_training = model.training
        model.eval()
        try:
            yield probe
        finally:
            probe.remove()
            model.train(was_training)


def hook_count(model) -> int:
    """Forward/backward hooks on any module of ``model`` other than transformers' own output recorders
    (which a model installs on its first forward and keeps). Tests: the same before and after explaining."""
    names = ("_forward_hooks", "_forward_pre_hooks", "_backward_hooks", "_backward_pre_hooks")
    return sum(1 for m in model.modules() for attr in names for fn in (getattr(m, attr, None) or {}).values()
               if "output_capturing_hook" not in getattr(fn, "__qualname__", ""))
