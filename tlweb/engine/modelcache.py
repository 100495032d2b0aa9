"""Loaded models in memory: what a load returns (:class:`LoadedModel`), the device and precision it
runs at, and the LRU cache bounded by a memory budget. The loading itself (where files come from,
which weights may load) is :mod:`tlweb.engine.loading`, which re-exports these names."""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from dataclasses import dataclass, field

from tlweb.catalog import ModelSpec, shown_name
from tlweb.config import Settings, get_settings
from tlweb.errors import ModelError

log = logging.getLogger(__name__)


@dataclass
class LoadedModel:
    spec: ModelSpec
    model: object  # a transformers PreTrainedModel, in eval mode, on ``device``
    processor: object  # image processor (or processor with a tokenizer for zero-shot models)
    device: str
    dtype: str
    nbytes: int
    load_s: float
    evicted: list[str] = field(default_factory=list)  # models evicted to make room for this one
    warm: bool = False  # has run once (the first call pays one-time set-up; see engine.classify)

    _params: int | None = None

    @property
    def params(self) -> int:
        if self._params is None:
            self._params = sum(p.numel() for p in self.model.parameters())
        return self._params

    @property
    def input_size(self) -> int | None:
        return self.spec.input_size


# --------------------------------------------------------------------------- devices


def pick_device(settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    import torch

    want = (settings.device or "auto").lower()
    if want != "auto":
        if want.startswith("cuda") and not torch.cuda.is_available():
            raise ModelError(f"TLWEB_DEVICE={settings.device} but no CUDA GPU is available on this machine.")
        return want
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(device: str, settings: Settings | None = None):
    """bf16 for inference on CUDA GPUs that support it, fp32 elsewhere (or what settings say)."""
    settings = settings or get_settings()
    import torch

    named = {"float32": torch.float32, "fp32": torch.float32, "bfloat16": torch.bfloat16, "bf16": torch.bfloat16,
             "float16": torch.float16, "fp16": torch.float16}
    if settings.dtype and settings.dtype.lower() in named:
        return named[settings.dtype.lower()]
    if device.startswith("cuda") and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


# --------------------------------------------------------------------------- cache


class ModelCache:
    """LRU cache of loaded models bounded by a memory budget (bytes of weights)."""

    def __init__(self, budget_bytes: int):
        self.budget = budget_bytes
        self._items: OrderedDict[tuple, LoadedModel] = OrderedDict()
        self._lock = threading.RLock()
        self._key_locks: dict[tuple, threading.Lock] = {}
        self.evictions: list[str] = []

    def __contains__(self, key) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def used(self) -> int:
        return sum(m.nbytes for m in self._items.values())

    def keys(self) -> list[tuple]:
        return list(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def get_or_load(self, key: tuple, loader) -> LoadedModel:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                hit = self._items[key]
                hit.evicted = []
                return hit
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:  # one load per key even when several requests race
            with self._lock:
                if key in self._items:
                    self._items.move_to_end(key)
                    return self._items[key]
            loaded = loader()
            with self._lock:
                evicted = []
                while self._items and self.used + loaded.nbytes > self.budget:
                    old_key, old = self._items.popitem(last=False)
                    evicted.append(shown_name(old.spec))
                    log.info("evicted %s to stay under the model memory budget", old_key)
                loaded.evicted = evicted
                self.evictions.extend(evicted)
                self._items[key] = loaded
                if evicted:
                    _free_device_memory()
                return loaded


def _free_device_memory() -> None:
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # pragma: no cover - best effort
        pass


_CACHE: ModelCache | None = None


def get_cache(settings: Settings | None = None) -> ModelCache:
    global _CACHE
    settings = settings or get_settings()
    if _CACHE is None:
        _CACHE = ModelCache(settings.model_budget_mb * 1024 * 1024)
    return _CACHE


def reset_cache(budget_mb: int | None = None) -> ModelCache:
    """Empty the cache (tests, settings changes); optionally with a new budget."""
    global _CACHE
    settings = get_settings()
    _CACHE = ModelCache((budget_mb or settings.model_budget_mb) * 1024 * 1024)
    _free_device_memory()
    return _CACHE
