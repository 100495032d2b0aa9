"""What is ready to run and what needs a download: a model's state, with its size.

A model is *ready* when it runs without the network: a demo model (built on first use), a run
fine-tuned here, a local folder, or a Hub model whose config and weights are in the local
Hugging Face cache (``huggingface_hub.try_to_load_from_cache``). Sizes on disk come from
``huggingface_hub.scan_cache_dir`` (memoised for a few seconds: every dropdown refresh asks);
a model not downloaded yet shows an estimate from its parameter count (4 bytes each, the
float32 safetensors most checkpoints ship).

:class:`ByteProgress` is the ``tqdm_class`` handed to ``snapshot_download``: it turns the
library's byte counters into ``on_progress(done, total)`` calls (a progress bar in the page)
instead of bars in the terminal. Nothing here imports torch or transformers.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlparse

from tlweb.catalog import ModelSpec
from tlweb.config import Settings, get_settings

READY, DOWNLOAD = "ready", "download"
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
SCAN_TTL_S = 5.0


@dataclass(frozen=True)
class ModelState:
    """Whether a model runs here without a download, and how big it is."""

    kind: str  # "cached" | "download" | "demo" | "run" | "local" | "hub" (a typed id, cached or not)
    ready: bool
    size_bytes: int | None = None  # on disk when ready, else the estimated download
    built: bool | None = None  # demo models: built already (None for the others)

    @property
    def size_text(self) -> str:
        return human_size(self.size_bytes) if self.size_bytes else ""

    def short(self) -> str:
        """A few characters for a dropdown label: "✓ cached 346 MB", "⬇ download ≈ 346 MB"."""
        if not self.ready:
            return f"⬇ download ≈ {self.size_text}" if self.size_bytes else "⬇ download"
        if self.kind == "cached":
            return f"✓ cached {self.size_text}".rstrip()
        # a run's label already says "(fine-tuned here)"
        return {"demo": "✓ demo", "run": "✓", "local": "✓ local folder"}.get(self.kind, "✓ ready")

    def column(self) -> str:
        """The status column of ``tlweb models``."""
        if self.kind == "demo":
            return "demo (built)" if self.built else "demo (built on first use)"
        if self.kind == "run":
            return "fine-tuned here"
        if self.kind == "local":
            return "local folder"
        if self.ready:
            return f"cached {self.size_text}".rstrip()
        return f"download ≈ {self.size_text}" if self.size_bytes else "download"


def human_size(n: int | float | None) -> str:
    """"346 MB", "1.2 GB", "81 KB" (decimal units, as the Hub shows them)."""
    if not n:
        return ""
    for unit, div in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= div:
            value = n / div
            return f"{value:.1f} {unit}" if value < 10 and unit == "GB" else f"{value:,.0f} {unit}"
    return f"{int(n)} B"


def estimated_bytes(spec: ModelSpec) -> int | None:
    """Download size guessed from the parameter count (float32 weights)."""
    return int(spec.params_m * 1e6 * 4) if spec.params_m else None


# --------------------------------------------------------------------------- the Hugging Face cache

_SCAN: dict[str, object] = {"at": 0.0, "sizes": {}}
_SCAN_LOCK = threading.Lock()


def forget_cache_scan() -> None:
    """Scan the cache again on the next question (after a download)."""
    with _SCAN_LOCK:
        _SCAN["at"] = 0.0


def cached_sizes() -> dict[str, int]:
    """Repo id → bytes on disk for every model in the local Hugging Face cache."""
    with _SCAN_LOCK:
        if time.monotonic() - float(_SCAN["at"]) < SCAN_TTL_S:
            return dict(_SCAN["sizes"])
        try:
            from huggingface_hub import scan_cache_dir

            info = scan_cache_dir()
            sizes = {r.repo_id: int(r.size_on_disk) for r in info.repos if r.repo_type == "model"}
        except Exception:  # noqa: BLE001 - no cache folder yet, or an unreadable one: nothing cached
            sizes = {}
        _SCAN.update(at=time.monotonic(), sizes=sizes)
        return dict(sizes)


def is_cached(repo_id: str, revision: str | None = None) -> bool:
    """Config and weights of ``repo_id`` are in the local cache (no network needed to load it)."""
    from huggingface_hub import try_to_load_from_cache

    def have(filename: str) -> bool:
        try:
            return isinstance(try_to_load_from_cache(repo_id, filename, revision=revision), str)
        except Exception:  # noqa: BLE001 - an id the library rejects is not cached
            return False

    return have("config.json") and any(have(f) for f in WEIGHT_FILES)


# --------------------------------------------------------------------------- states


def model_state(spec: ModelSpec, settings: Settings | None = None, sizes: dict[str, int] | None = None) -> ModelState:
    """The state of one model (``sizes``: a :func:`cached_sizes` result to reuse across a list)."""
    settings = settings or get_settings()
    if spec.source == "demo":
        from tlweb.engine.demo import is_built

        return ModelState("demo", True, built=is_built(spec.key, settings))
    if spec.source in ("run", "local"):
        return ModelState(spec.source, True)
    if is_cached(spec.hub_id, spec.revision):
        sizes = cached_sizes() if sizes is None else sizes
        return ModelState("cached", True, sizes.get(spec.hub_id))
    return ModelState(DOWNLOAD, False, estimated_bytes(spec))


def model_states(specs: list[ModelSpec], settings: Settings | None = None) -> list[ModelState]:
    sizes = cached_sizes()
    return [model_state(s, settings, sizes) for s in specs]


def state_sentence(spec: ModelSpec, state: ModelState, hub_up: bool) -> str:
    """What the page says under the picker when the picked model is not ready."""
    name = spec.hub_id
    if state.ready:
        return ""
    size = f" (≈ {state.size_text})" if state.size_bytes else ""
    if hub_up:
        return f"'{name}' is not downloaded yet{size}: press Download to fetch it once; it then works offline."
    return (f"'{name}' is not downloaded yet{size}, and the Hugging Face Hub cannot be reached from this machine. "
            f"Pick a model marked ✓, or run `python -m tlweb download {spec.key}` where the Hub is reachable "
            "and copy the Hugging Face cache folder over.")


# --------------------------------------------------------------------------- download progress


class ByteProgress:
    """A stand-in for ``tqdm`` that reports bytes to a callback and draws nothing.

    ``huggingface_hub.snapshot_download(tqdm_class=...)`` makes a few bars: a file counter and
    byte counters whose totals grow as each file's size becomes known. The byte bars (unit "B")
    are summed into ``on_progress(done_bytes, total_bytes)``; the file counter is ignored.
    """

    def __init__(self, on_progress: Callable[[int, int], None]):
        self._on_progress = on_progress
        self._bars: list[_Bar] = []
        self._lock = threading.Lock()

    def __call__(self, *args, **kwargs) -> _Bar:  # used as a class: ByteProgress(cb) is the tqdm_class
        bar = _Bar(self, kwargs.get("unit") == "B", kwargs.get("total") or 0, kwargs.get("initial") or 0)
        with self._lock:
            self._bars.append(bar)
        return bar

    def report(self) -> None:
        with self._lock:
            byte_bars = [b for b in self._bars if b.bytes and b.total]
            if not byte_bars:
                return
            # Both byte bars start from the files' sizes; the transfer bar's total may only grow
            # (compression), so the smallest total is the bytes written to disk (last made on a tie).
            lead = min(reversed(byte_bars), key=lambda b: b.total)
            done, total = min(lead.n, lead.total), lead.total
        self._on_progress(int(done), int(total))


class _Bar:
    """One bar of :class:`ByteProgress`: counts, forwards, prints nothing."""

    def __init__(self, owner: ByteProgress, is_bytes: bool, total: float, initial: float):
        self._owner, self.bytes, self.total, self.n = owner, is_bytes, total, initial
        self.disable = False
        self.format_dict: dict = {"rate": None}

    def update(self, n: float | None = 1) -> None:
        self.n += n or 0
        if self.bytes:
            self._owner.report()

    def refresh(self, *args, **kwargs) -> None:
        if self.bytes:
            self._owner.report()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __iter__(self):
        return iter(())

    def close(self) -> None:
        pass

    def __getattr__(self, name):  # set_description, set_postfix_str, reset … : accepted, ignored
        if name.startswith("_"):
            raise AttributeError(name)
        return lambda *args, **kwargs: None


# --------------------------------------------------------------------------- hub reachability

_REACH: dict[str, tuple[float, bool]] = {}


def hub_offline_forced() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def hub_reachable(timeout: float | None = None, settings: Settings | None = None) -> bool:
    """A fast TCP check that the Hub answers (cached for 30 s). False when offline mode is set."""
    if hub_offline_forced():
        return False
    settings = settings or get_settings()
    timeout = settings.hub_timeout_s if timeout is None else timeout
    endpoint = os.environ.get("HF_ENDPOINT", "https://huggingface.co")
    now = time.monotonic()
    hit = _REACH.get(endpoint)
    if hit and now - hit[0] < 30:
        return hit[1]
    parsed = urlparse(endpoint)
    host = parsed.hostname or "huggingface.co"
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            ok = True
    except OSError:
        ok = False
    _REACH[endpoint] = (now, ok)
    return ok
