"""Loading models: Auto classes, an LRU cache with a memory budget, offline-aware errors.

Rules: never ``trust_remote_code``; outside the curated catalog only ``model.safetensors`` weights
load (``use_safetensors=True``), whatever else a folder holds, unless ``Settings.allow_pickle``
(``TLWEB_ALLOW_PICKLE=1``); a damaged weights file gets a sentence; when a Hub model is not cached
and the Hub cannot be reached, fail at once with a sentence that says what to do. In shared mode
Hub models load from a snapshot folder: one already in a cache, or one downloaded into the app's
own cache (``cache_dir/hub``) after its size was checked against the budgets
(:mod:`tlweb.engine.budget`); a Hub id is then never read as a folder under the working directory.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlparse

from tlweb import registry
from tlweb.catalog import CLASSIFICATION, FEATURES, SEGMENTATION, ModelSpec, resolve, shown_name, task_from_config
from tlweb.config import Settings, get_settings
from tlweb.errors import ModelError, ModelUnavailableError, explain, first_line

log = logging.getLogger(__name__)

# Kept for callers of the old names; the records in tlweb.registry are the source.
TASK_NAMES = {t.name: t.noun for t in registry.tasks()}  # with their article, for sentences
UNIVERSAL_SEGMENTATION = frozenset(registry.task(SEGMENTATION).auto_class_for)


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


@dataclass(kw_only=True)
class RunFacts:
    """The fields every inference result carries about the model that produced it: the base of the
    result dataclasses (keyword-only, so each result keeps its own fields' order), filled with
    ``Result(..., latency_ms=..., **run_facts(loaded))`` and shown by :func:`facts_json`."""

    latency_ms: float  # preprocessing + forward + post-processing, this call
    model: str  # the id or folder as resolved
    spec: ModelSpec
    device: str
    dtype: str
    params: int
    evicted: list[str] = field(default_factory=list)  # models unloaded to make room for this one

    def summary(self, **extra) -> dict:
        """What a facts card shows about this call, as plain values (``extra``: the task's own)."""
        spec = self.spec
        return {"latency_ms": self.latency_ms, "device": self.device, "dtype": self.dtype, "params": self.params,
                "family": spec.family, "source": spec.source, "pretrained_on": spec.pretrained_on,
                "license": spec.license, "evicted": list(self.evicted), **extra}


def run_facts(loaded: LoadedModel) -> dict:
    """The :class:`RunFacts` fields but the latency, from the loaded model
    (splat into a result dataclass: ``Result(..., **run_facts(loaded))``)."""
    return {"model": shown_name(loaded.spec), "spec": loaded.spec, "device": loaded.device, "dtype": loaded.dtype,
            "params": loaded.params, "evicted": list(loaded.evicted)}


def facts_json(result) -> dict:
    """The JSON view of those fields (plus latency) for a result's ``as_dict``."""
    return {"model": result.model, "latency_ms": round(result.latency_ms, 3), "device": result.device,
            "dtype": result.dtype, "params": result.params, "family": result.spec.family,
            "input_size": result.spec.input_size, "license": result.spec.license}


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


def offline_message(model_id: str, settings: Settings | None = None) -> str:
    """What to do about a model that is neither cached nor reachable (in demo mode: pick a demo model, not
    "start the app with --demo", which it already was)."""
    head = (f"The model '{model_id}' is not in the local cache and the Hugging Face Hub cannot be reached "
            "from this machine.")
    download = f"`python -m tlweb download {model_id}` where the Hub is reachable (copy the cache folder over)"
    if (settings or get_settings()).demo:
        return f"{head} Pick a model marked ✓ (the demo models run offline), or run {download}."
    return (f"{head} Download it with {download}, pick a cached or local model, or start the app with --demo for "
            "tiny random-weight demo models.")


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


# --------------------------------------------------------------------------- loading


def _quiet_transformers() -> None:
    from tlweb.events import quiet_libraries

    quiet_libraries()


def auto_model_class(task: str, model_type: str | None = None):
    """The transformers Auto class for ``task`` (per the task's record; some families differ)."""
    try:
        record = registry.task(task)
    except KeyError:
        raise ModelError(f"Unknown task '{task}'.") from None
    return record.auto_model_class(model_type)


SAFETENSORS_NAMES = ("model.safetensors", "model.safetensors.index.json")  # what from_pretrained reads


def _weights_kind(folder: Path) -> str:
    """"safetensors" when the folder holds the weights file transformers reads with
    ``use_safetensors=True``; "pickle" when it has only pickle weights; else "none". Any other
    ``*.safetensors`` file (a decoy next to a ``pytorch_model.bin``) does not count."""
    names = {p.name for p in folder.iterdir()} if folder.is_dir() else set()
    if any(n in names for n in SAFETENSORS_NAMES):
        return "safetensors"
    if any(n.endswith((".bin", ".pt", ".pth", ".ckpt", ".pkl")) for n in names):
        return "pickle"
    return "none"


def _user_typed(spec: ModelSpec) -> bool:
    """Anything but the curated catalog: pickle weights need ``TLWEB_ALLOW_PICKLE=1``."""
    return spec.source != "catalog"


def load(name: str | ModelSpec, task: str | None = None, settings: Settings | None = None,
         attn_implementation: str | None = None) -> LoadedModel:
    """Load (or fetch from the cache) a model and its processor, ready for inference.

    ``name`` is anything :func:`tlweb.catalog.resolve` accepts. ``task`` is what the caller
    needs; a checkpoint made for another task is refused with a clear message.
    ``attn_implementation`` ("eager" for attention maps) is a load option, so it is part of the
    cache key: an eager copy never replaces the default (SDPA) one other tabs use.
    """
    settings = settings or get_settings()
    spec = name if isinstance(name, ModelSpec) else resolve(name, task=task, settings=settings)
    task = task or spec.task
    device = pick_device(settings)
    dtype = pick_dtype(device, settings)
    key = (spec.hub_id, task, device, str(dtype)) + ((attn_implementation,) if attn_implementation else ())
    return get_cache(settings).get_or_load(
        key, lambda: _load_uncached(spec, task, device, dtype, settings, attn_implementation))


def _load_uncached(spec: ModelSpec, task: str, device: str, dtype, settings: Settings,
                   attn_implementation: str | None = None) -> LoadedModel:
    _quiet_transformers()
    t0 = time.perf_counter()
    if spec.source == "demo":
        from tlweb.engine.demo import ensure_built

        ensure_built(spec.key, settings)

    shown = shown_name(spec)
    source = spec.hub_id
    if settings.shared and spec.source in ("catalog", "hub"):
        source = hub_folder(spec, settings)  # an absolute snapshot folder: never a path the client named
    local = Path(source).is_absolute() and Path(source).is_dir() if settings.shared else Path(source).is_dir()
    kwargs: dict = {"trust_remote_code": False}
    if attn_implementation:
        kwargs["attn_implementation"] = attn_implementation
    if spec.revision and not local:
        kwargs["revision"] = spec.revision
    pickle_ok = settings.allow_pickle or not _user_typed(spec)
    if local:
        kind = _weights_kind(Path(source))
        if kind == "none":
            raise ModelError(f"The model '{shown}' has a config.json but no weights (model.safetensors).")
        if kind == "pickle" and not pickle_ok:
            raise ModelError(
                f"The model '{shown}' only has pickle weights (.bin), which can run code when loaded. "
                "Convert them to safetensors, or start the app with TLWEB_ALLOW_PICKLE=1 if you trust them."
            )
        kwargs["local_files_only"] = True
    if not pickle_ok:
        kwargs["use_safetensors"] = True  # never the .bin beside a decoy *.safetensors

    config = _load_config(spec, source, local, settings)
    model_type = getattr(config, "model_type", None)
    actual_task = task_from_config(config.to_dict()) if spec.source in ("hub", "local") else spec.task
    if not _task_compatible(task, actual_task, model_type):
        raise ModelError(
            f"'{shown}' looks like {registry.task_noun(actual_task)} ({model_type}), "
            f"not {registry.task_noun(task)}. Pick a model made for this tab."
        )

    cls = auto_model_class(task, model_type)
    model = _from_pretrained(cls, spec, source, local, kwargs, settings)
    processor = _load_processor(spec, source, local, task, settings)

    import torch

    model.eval()
    if dtype != torch.float32:
        model = model.to(dtype=dtype)
    model = model.to(device)
    nbytes = sum(p.numel() * p.element_size() for p in model.parameters())
    nbytes += sum(b.numel() * b.element_size() for b in model.buffers())
    spec = _enrich(spec, model, processor, task)
    return LoadedModel(spec=spec, model=model, processor=processor, device=device, dtype=str(dtype).replace("torch.", ""),
                       nbytes=nbytes, load_s=time.perf_counter() - t0)


def _task_compatible(wanted: str, actual: str, model_type: str | None) -> bool:
    if wanted == actual:
        return True
    if wanted == FEATURES:
        return True  # any backbone gives features
    if wanted == CLASSIFICATION and actual == FEATURES:
        return False
    return False


def _fetch(fn, spec: ModelSpec, local: bool, settings: Settings, errors: tuple, describe):
    """``fn(**kw)`` through :func:`_with_offline_fallback`; ``errors`` become ``ModelError(describe(text))``;
    a damaged weights file (SafetensorError, UnpicklingError) or an over-long name its own sentence."""
    try:
        return _with_offline_fallback(fn, spec, local, settings)
    except (ModelError, ModelUnavailableError):
        raise
    except Exception as exc:  # noqa: BLE001 - known classes become sentences, the rest is re-raised
        known = explain(exc)
        if known is not None and not isinstance(exc, FileNotFoundError) and (not isinstance(exc, errors)
                                                                           or "name too long" in str(known)):
            raise ModelError(f"'{shown_name(spec)}' could not be loaded. {known}") from None
        if isinstance(exc, errors) or _weights_error(exc):
            raise ModelError(describe(first_line(exc, 240))) from None
        raise


def _weights_error(exc: BaseException) -> bool:
    """transformers wraps a damaged weights file in other classes (OSError, ValueError …)."""
    text = str(exc)
    return any(word in text for word in ("SafetensorError", "Unpickling", "deserializ", "invalid load key"))


def _load_config(spec: ModelSpec, source: str, local: bool, settings: Settings):
    from transformers import AutoConfig

    return _fetch(lambda **kw: AutoConfig.from_pretrained(source, trust_remote_code=False, **_rev(spec, local), **kw),
                  spec, local, settings, (ValueError,),
                  lambda msg: f"'{shown_name(spec)}' is not a model architecture transformers knows ({msg}). "
                              "tlweb never runs a repository's own code.")


def _from_pretrained(cls, spec: ModelSpec, source: str, local: bool, kwargs: dict, settings: Settings):
    def describe(msg: str) -> str:
        shown = shown_name(spec)
        low = msg.lower()
        if _weights_error_text(low):
            return (f"'{shown}' could not be loaded: its weights file is damaged or not a weights file "
                    "(not a readable safetensors or pickle file).")
        if "safetensors" in low and kwargs.get("use_safetensors"):
            return (f"'{shown}' has no model.safetensors weights, only pickle files that can run code when loaded. "
                    "Pick another model, or start the app with TLWEB_ALLOW_PICKLE=1 if you trust it.")
        return f"'{shown}' could not be loaded as {registry.task_noun(spec.task)}: {msg}"

    return _fetch(lambda **kw: cls.from_pretrained(source, **{**kwargs, **kw}), spec, local, settings,
                  (OSError, ValueError, KeyError, RuntimeError), describe)


def _weights_error_text(low: str) -> bool:
    return any(w in low for w in ("safetensorerror", "header", "deserializ", "unpickl", "invalid load key",
                                  "weights only load failed"))


def _load_processor(spec: ModelSpec, source: str, local: bool, task: str, settings: Settings):
    from transformers import AutoImageProcessor, AutoProcessor

    cls = AutoProcessor if registry.task(task).needs_text else AutoImageProcessor
    return _fetch(lambda **kw: cls.from_pretrained(source, trust_remote_code=False, **_rev(spec, local), **kw),
                  spec, local, settings, (OSError, ValueError, KeyError),
                  lambda msg: f"'{shown_name(spec)}' has no usable image processor: {msg}")


def _rev(spec: ModelSpec, local: bool) -> dict:
    return {"revision": spec.revision} if spec.revision and not local else {}


def _with_offline_fallback(fn, spec: ModelSpec, local: bool, settings: Settings):
    """Try the local cache first (instant); only go to the Hub when it answers."""
    if local:
        return fn(local_files_only=True)
    try:
        return fn(local_files_only=True)
    except (OSError, ValueError) as exc:  # not cached (or incomplete)
        cached_error = exc
    if not hub_reachable(settings=settings):
        raise ModelUnavailableError(offline_message(shown_name(spec))) from None
    try:
        return fn()
    except OSError as exc:
        name = type(exc).__name__
        text = first_line(exc, 240)
        if "RepositoryNotFound" in name or "not a valid model identifier" in text or "404" in text:
            raise ModelError(
                f"There is no model '{shown_name(spec)}' on the Hugging Face Hub (or it is private or gated). "
                "Check the spelling, e.g. 'google/vit-base-patch16-224'."
            ) from None
        if "GatedRepo" in name or "401" in text or "403" in text:
            raise ModelError(f"'{shown_name(spec)}' is gated or private: accept its licence on the Hub and log in first.") from None
        if not hub_reachable(settings=settings):
            raise ModelUnavailableError(offline_message(shown_name(spec))) from None
        raise ModelError(f"'{shown_name(spec)}' could not be downloaded: {text}") from cached_error



def _patterns(spec: ModelSpec, settings: Settings) -> list[str]:
    """The files a Hub model needs: configs, processor files and safetensors weights (pickle
    weights only for the curated catalog or with TLWEB_ALLOW_PICKLE=1)."""
    patterns = ["*.json", "*.safetensors", "*.txt", "*.model"]
    if settings.allow_pickle or not _user_typed(spec):
        patterns.append("*.bin")
    return patterns


def hub_folder(spec: ModelSpec, settings: Settings) -> str:
    """Shared mode: the absolute snapshot folder of a Hub model. One already downloaded (the
    operator's Hugging Face cache, then the app's own ``cache_dir/hub``) costs nothing; otherwise
    the size in the Hub's file listing is checked against ``TLWEB_MAX_DOWNLOAD_MB`` and the home
    budget (:func:`tlweb.engine.budget.check_download`) before the download into ``cache_dir/hub``."""
    from huggingface_hub import snapshot_download

    from tlweb.engine import budget

    patterns = _patterns(spec, settings)
    own = settings.cache_dir / "hub"
    for cache_dir in (None, own):
        try:
            folder = snapshot_download(spec.hub_id, revision=spec.revision, cache_dir=cache_dir,
                                       local_files_only=True, allow_patterns=patterns)
        except Exception:  # noqa: BLE001 - not there: try the next cache, then the Hub
            continue
        if cache_dir is not None:
            budget.touch(own / f"models--{spec.hub_id.replace('/', '--')}")
        return folder
    if not hub_reachable(settings=settings):
        raise ModelUnavailableError(offline_message(shown_name(spec)))
    nbytes = budget.hub_size(spec.hub_id, spec.revision, "model", patterns)
    budget.check_download(spec.hub_id, nbytes, settings)
    own.mkdir(parents=True, exist_ok=True)
    try:
        return snapshot_download(spec.hub_id, revision=spec.revision, cache_dir=own, allow_patterns=patterns)
    except Exception as exc:  # noqa: BLE001 - one sentence
        raise ModelError(f"Downloading '{shown_name(spec)}' failed ({type(exc).__name__}).") from None


def processor_input_size(processor) -> int | None:
    """The square side the processor feeds the model (crop size when it crops, else resize size)."""
    proc = getattr(processor, "image_processor", processor)
    attrs = ("crop_size", "size") if getattr(proc, "do_center_crop", False) else ("size", "crop_size")
    for attr in attrs:
        size = getattr(proc, attr, None)
        if size is None:
            continue
        if isinstance(size, int):
            return size
        for k in ("height", "shortest_edge", "width", "longest_edge"):
            v = size.get(k) if isinstance(size, dict) else getattr(size, k, None)
            if v:
                return int(v)
    return None


def _enrich(spec: ModelSpec, model, processor, task: str) -> ModelSpec:
    params_m = spec.params_m
    if params_m is None or spec.source != "catalog":
        params_m = round(sum(p.numel() for p in model.parameters()) / 1e6, 4)
    input_size = spec.input_size or processor_input_size(processor)
    family = spec.family if spec.family not in ("unknown", "") else getattr(model.config, "model_type", "unknown")
    return replace(spec, params_m=params_m, input_size=input_size, family=family, task=task)


def download(model_id: str, settings: Settings | None = None, on_progress=None) -> str:
    """Fetch a Hub model (safetensors + configs) into the local cache; returns the folder.

    ``on_progress(done_bytes, total_bytes)`` is called as bytes arrive (a progress bar in the
    page); no bar is drawn in the terminal."""
    settings = settings or get_settings()
    spec = resolve(model_id, settings=settings)
    if spec.is_local:
        return spec.hub_id
    if settings.shared:  # a client asked (e.g. ZeroGPU's prefetch): sized first, into the app's own cache
        return hub_folder(spec, settings)
    if not hub_reachable(settings=settings):
        raise ModelUnavailableError(
            f"The Hugging Face Hub cannot be reached from this machine, so '{spec.hub_id}' cannot be downloaded here."
        )
    from huggingface_hub import list_repo_files, snapshot_download

    patterns = ["*.json", "*.safetensors", "*.txt", "*.model"]
    try:
        files = list_repo_files(spec.hub_id, revision=spec.revision)
        if not any(f.endswith(".safetensors") for f in files):
            # Curated catalog entries are trusted (transformers loads .bin with weights_only=True);
            # a typed id needs the operator's permission for pickle weights.
            if spec.source == "catalog" or settings.allow_pickle:
                patterns.append("*.bin")
            else:
                raise ModelError(
                    f"'{spec.hub_id}' only has pickle weights (.bin); start with TLWEB_ALLOW_PICKLE=1 to allow them."
                )
        from tlweb.engine.availability import ByteProgress, forget_cache_scan, human_size
        from tlweb.events import event

        t0 = time.perf_counter()
        folder = snapshot_download(spec.hub_id, revision=spec.revision, allow_patterns=patterns,
                                   tqdm_class=ByteProgress(on_progress or (lambda done, total: None)))
        forget_cache_scan()
        size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
        event("downloaded %s (%s) in %.0f s", spec.hub_id, human_size(size), time.perf_counter() - t0)
        return folder
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - surfaced as a sentence
        raise ModelError(f"Downloading '{spec.hub_id}' failed: {first_line(exc, 240)}") from None
