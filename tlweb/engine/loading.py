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
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tlweb import access, registry
from tlweb.catalog import CLASSIFICATION, FEATURES, ModelSpec, shown_name, task_from_config
from tlweb.config import Settings, get_settings
from tlweb.engine import availability
from tlweb.engine.listing import resolve
from tlweb.engine.modelcache import (  # noqa: F401 - re-exported: callers import them from here
    LoadedModel,
    ModelCache,
    get_cache,
    pick_device,
    pick_dtype,
    reset_cache,
)
from tlweb.errors import ModelError, ModelUnavailableError, explain, first_line

log = logging.getLogger(__name__)



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


# --------------------------------------------------------------------------- the gate


def quiet_transformers() -> None:
    """No library progress bars or advice in the terminal (see :func:`tlweb.events.quiet_libraries`)."""
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


@dataclass(frozen=True)
class _Where:
    """Where a model's files are read from, as decided by :func:`_locate` (nowhere else)."""

    spec: ModelSpec
    source: str  # what from_pretrained reads: a folder (absolute in shared mode) or a Hub id
    local: bool  # a folder on this machine: nothing is fetched
    kwargs: dict  # the weights rules as from_pretrained arguments


def _spec(name: str | ModelSpec, task: str | None, settings: Settings) -> ModelSpec:
    """The spec a name means: every name from a client or the command line goes through
    :func:`tlweb.engine.listing.resolve` (mode-aware); a spec handed in is checked again by :func:`_locate`."""
    return name if isinstance(name, ModelSpec) else resolve(name, task=task, settings=settings)


def _inside(path: Path, root: Path) -> bool:
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, ValueError):
        return False


def _locate(spec: ModelSpec, settings: Settings, weights: bool = True) -> _Where:
    """The location and weights rules, once for every way a model is loaded.

    Shared mode: catalog and Hub models come from an absolute snapshot folder (:func:`hub_folder`:
    a cache, or a download sized first), so a Hub-shaped name never reads a folder under the working
    directory; a folder is read only when it is a demo model or a run this client may see; anything
    else is refused with the shared-mode sentence. Local mode: a folder is read where it is.
    Everywhere: never remote code; pickle weights only for the curated catalog or with
    ``TLWEB_ALLOW_PICKLE=1`` (``use_safetensors=True`` otherwise, whatever else a folder holds).
    ``weights=False``: only the config and the processor are read (random initialisation)."""
    shown = shown_name(spec)
    if spec.source == "demo":
        from tlweb.engine.demo import ensure_built

        ensure_built(spec.key, settings)
    source = spec.hub_id
    if settings.shared:
        if spec.source in ("catalog", "hub"):
            source = hub_folder(spec, settings)  # an absolute snapshot folder: never a path the client named
        elif not _trusted_folder(spec, settings):
            raise access.refuse_path(spec.key)
        local = True
    else:
        try:
            local = Path(source).is_dir()
        except OSError:  # a name too long for the file system
            local = False
    kwargs: dict = {"trust_remote_code": False}
    if spec.revision and not local:
        kwargs["revision"] = spec.revision
    pickle_ok = settings.allow_pickle or not _user_typed(spec)
    if local:
        kind = _weights_kind(Path(source))
        if weights and kind == "none":
            raise ModelError(f"The model '{shown}' has a config.json but no weights (model.safetensors).")
        if weights and kind == "pickle" and not pickle_ok:
            raise ModelError(
                f"The model '{shown}' only has pickle weights (.bin), which can run code when loaded. "
                "Convert them to safetensors, or start the app with TLWEB_ALLOW_PICKLE=1 if you trust them.")
        kwargs["local_files_only"] = True
    if not pickle_ok:
        kwargs["use_safetensors"] = True  # never the .bin beside a decoy *.safetensors
    return _Where(spec, source, local, kwargs)


def _trusted_folder(spec: ModelSpec, settings: Settings) -> bool:
    """Shared mode: a folder may be read only when it is a demo model or a run this client may see."""
    from tlweb.engine import owners

    folder = Path(spec.hub_id)
    if spec.source == "demo":
        return _inside(folder, settings.demo_dir)
    if spec.source == "run":
        return _inside(folder, settings.runs_dir) and owners.visible(folder.parent, settings)
    return False


def load(name: str | ModelSpec, task: str | None = None, settings: Settings | None = None,
         attn_implementation: str | None = None) -> LoadedModel:
    """Load (or fetch from the cache) a model and its processor, ready for inference.

    ``name`` is anything :func:`tlweb.engine.listing.resolve` accepts. ``task`` is what the caller
    needs; a checkpoint made for another task is refused with a clear message.
    ``attn_implementation`` ("eager" for attention maps) is a load option, so it is part of the
    cache key: an eager copy never replaces the default (SDPA) one other tabs use.
    """
    settings = settings or get_settings()
    spec = _spec(name, task, settings)
    task = task or spec.task
    device = pick_device(settings)
    dtype = pick_dtype(device, settings)
    key = (spec.hub_id, task, device, str(dtype)) + ((attn_implementation,) if attn_implementation else ())
    if settings.shared and spec.source == "run":
        key += (_owner_key(spec, settings),)  # a run is cached per owner: never served to another session
    return get_cache(settings).get_or_load(
        key, lambda: _load_uncached(spec, task, device, dtype, settings, attn_implementation))


def _owner_key(spec: ModelSpec, settings: Settings) -> str:
    from tlweb.engine import owners

    if not _trusted_folder(spec, settings):
        raise access.refuse_path(spec.key)
    return owners.owner_of(Path(spec.hub_id).parent, settings) or ""


def _load_uncached(spec: ModelSpec, task: str, device: str, dtype, settings: Settings,
                   attn_implementation: str | None = None) -> LoadedModel:
    quiet_transformers()
    t0 = time.perf_counter()
    where = _locate(spec, settings)
    config = _config(where, settings)
    model_type = getattr(config, "model_type", None)
    actual_task = task_from_config(config.to_dict()) if spec.source in ("hub", "local") else spec.task
    if not _task_compatible(task, actual_task, model_type):
        raise ModelError(
            f"'{shown_name(spec)}' looks like {registry.task_noun(actual_task)} ({model_type}), "
            f"not {registry.task_noun(task)}. Pick a model made for this tab."
        )
    extra = {"attn_implementation": attn_implementation} if attn_implementation else {}
    model = _weights(auto_model_class(task, model_type), where, settings, **extra)
    processor = _processor(where, task, settings)

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
    return wanted == FEATURES  # any backbone gives features


# --------------------------------------------------------------------------- the gate for training and features


def load_config(name: str | ModelSpec, *, task: str | None = None,
                settings: Settings | None = None) -> tuple[ModelSpec, object]:
    """(spec, transformers config) of a model, through the same rules as :func:`load` (no weights read)."""
    settings = settings or get_settings()
    quiet_transformers()
    spec = _spec(name, task, settings)
    return spec, _config(_locate(spec, settings, weights=False), settings)


def load_processor(name: str | ModelSpec, *, task: str, settings: Settings | None = None):
    """The image processor (with its tokenizer for image-text tasks) of a model, through the same rules."""
    settings = settings or get_settings()
    quiet_transformers()
    return _processor(_locate(_spec(name, task, settings), settings, weights=False), task, settings)


ZERO_SHOT_FAMILIES = frozenset(t for record in registry.tasks() if record.needs_text for t in record.model_types)


def load_for_training(name: str | ModelSpec, *, task: str, class_names, pretrained: bool = True, seed: int = 0,
                      settings: Settings | None = None):
    """(model, processor, spec) to fine-tune for ``task`` on ``class_names``: the task's Auto class (per its
    record in :mod:`tlweb.registry`: a classifier, a semantic or universal (Mask2Former, MaskFormer)
    segmentation model, an object detector) with a new head sized to the classes (``id2label`` /
    ``label2id``, mismatched head weights dropped), or the same architecture with seeded random weights
    when not ``pretrained``; fp32, on the CPU, in train mode. Uncached: each run gets its own copy.
    A model that cannot do the task gets a sentence."""
    import torch

    settings = settings or get_settings()
    quiet_transformers()
    spec = _spec(name, task, settings)
    where = _locate(spec, settings, weights=pretrained)
    config = _config(where, settings)
    cls = _trainable_class(spec, config, task)
    names = [str(n) for n in class_names]
    id2label = dict(enumerate(names))
    label2id = {n: i for i, n in enumerate(names)}
    torch.manual_seed(seed)
    if pretrained:
        model = _weights(cls, where, settings, id2label=id2label, label2id=label2id, ignore_mismatched_sizes=True)
    else:  # the architecture only, random weights
        config.id2label = id2label
        config.label2id = label2id
        config.num_labels = len(names)
        model = cls.from_config(config)
    processor = _processor(where, task, settings)
    spec = _enrich(spec, model, processor, task)
    model = model.float().cpu()
    model.train()
    return model, processor, spec


def _trainable_class(spec: ModelSpec, config, task: str):
    """The Auto class that fine-tunes ``config`` for ``task``, or a sentence why there is none."""
    model_type = getattr(config, "model_type", "") or ""
    actual = task_from_config(config.to_dict())
    wanted = registry.task_noun(task)
    if actual != task and (actual not in (CLASSIFICATION, FEATURES) or model_type in ZERO_SHOT_FAMILIES):
        what = f"{wanted} or a backbone"
        raise ModelError(f"'{shown_name(spec)}' is {registry.task_noun(actual)}, not {what}; "
                         f"pick {wanted} or a backbone to fine-tune.")
    cls = auto_model_class(task, model_type)
    if type(config) not in cls._model_mapping:
        raise ModelError(f"transformers has no {task} head for '{model_type}' models, "
                         "so they cannot be fine-tuned here.")
    return cls


def load_backbone(name: str | ModelSpec, *, random_init: bool = False, seed: int = 0,
                  settings: Settings | None = None):
    """A frozen fp32 eval-mode ``AutoModelForImageClassification`` on the CPU for features (the head's
    input is what a feature is), through the same rules; ``random_init``: the same architecture with
    seeded random weights. Uncached (the feature cache decides whether it is needed at all)."""
    import torch

    settings = settings or get_settings()
    quiet_transformers()
    spec = _spec(name, CLASSIFICATION, settings)
    where = _locate(spec, settings, weights=not random_init)
    cls = auto_model_class(CLASSIFICATION)
    if random_init:
        torch.manual_seed(seed)
        model = cls.from_config(_config(where, settings))
    else:
        model = _weights(cls, where, settings)
    model = model.float().cpu().eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# --------------------------------------------------------------------------- reading the files


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


def _plain(where: _Where) -> dict:
    """The rules for files that hold no weights (config, processor): no remote code, the revision."""
    return {k: v for k, v in where.kwargs.items() if k in ("trust_remote_code", "revision")}


def _config(where: _Where, settings: Settings):
    from transformers import AutoConfig

    spec = where.spec
    return _fetch(lambda **kw: AutoConfig.from_pretrained(where.source, **_plain(where), **kw),
                  spec, where.local, settings, (ValueError,),
                  lambda msg: f"'{shown_name(spec)}' is not a model architecture transformers knows ({msg}). "
                              "tlweb never runs a repository's own code.")


def _weights(cls, where: _Where, settings: Settings, **extra):
    """``cls.from_pretrained`` under the weights rules of ``where`` (plus ``extra`` load options)."""
    spec, kwargs = where.spec, {**where.kwargs, **extra}

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

    return _fetch(lambda **kw: cls.from_pretrained(where.source, **{**kwargs, **kw}), spec, where.local, settings,
                  (OSError, ValueError, KeyError, RuntimeError), describe)


def _weights_error_text(low: str) -> bool:
    return any(w in low for w in ("safetensorerror", "header", "deserializ", "unpickl", "invalid load key",
                                  "weights only load failed"))


def _processor(where: _Where, task: str, settings: Settings):
    from transformers import AutoImageProcessor, AutoProcessor

    spec = where.spec
    cls = AutoProcessor if registry.task(task).needs_text else AutoImageProcessor
    return _fetch(lambda **kw: cls.from_pretrained(where.source, **_plain(where), **kw),
                  spec, where.local, settings, (OSError, ValueError, KeyError),
                  lambda msg: f"'{shown_name(spec)}' has no usable image processor: {msg}")


def _with_offline_fallback(fn, spec: ModelSpec, local: bool, settings: Settings):
    """Try the local cache first (instant); only go to the Hub when it answers."""
    if local:
        return fn(local_files_only=True)
    try:
        return fn(local_files_only=True)
    except (OSError, ValueError) as exc:  # not cached (or incomplete)
        cached_error = exc
    if not availability.hub_reachable(settings=settings):
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
        if not availability.hub_reachable(settings=settings):
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
    if not availability.hub_reachable(settings=settings):
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
    if not availability.hub_reachable(settings=settings):
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
        from tlweb.events import event

        t0 = time.perf_counter()
        folder = snapshot_download(spec.hub_id, revision=spec.revision, allow_patterns=patterns,
                                   tqdm_class=availability.ByteProgress(on_progress or (lambda done, total: None)))
        availability.forget_cache_scan()
        size = sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
        event("downloaded %s (%s) in %.0f s", spec.hub_id, availability.human_size(size), time.perf_counter() - t0)
        return folder
    except ModelError:
        raise
    except Exception as exc:  # noqa: BLE001 - surfaced as a sentence
        raise ModelError(f"Downloading '{spec.hub_id}' failed: {first_line(exc, 240)}") from None
