"""Features for the linear probe: the input of the classifier head, computed once and cached.

The feature vector of an image is whatever the model feeds its final ``nn.Linear`` head,
captured with a forward hook — so it is the right thing for every family without special
cases: the CLS token for ViT/DeiT/BEiT(pooled), CLS + mean patch token for DINOv2, the pooled
map for ConvNeXt/Swin/EfficientNet/MobileNet, the flattened pool for ResNet's
``Sequential(Flatten, Linear)`` head. Vectors are cached on disk under
``settings.cache_dir/features`` keyed by (model weights, data fingerprint, processor geometry,
precision), so a second linear run on the same data (another learning rate, another
images-per-class budget) starts training the head at once.

The same cache serves the linear probe, the backbone leaderboard, k-NN and the projector
(:func:`split_features` is the one entry point; :class:`Backbone` loads the model only when a
forward pass is really needed). What a model costs is split by how it can change: parameters and
GFLOPs are counted once per (weights, input geometry, device, precision) and kept beside the
features; the latency per image is timed afresh on every call (median of warm passes,
:func:`model_facts`) — one stale measurement taken while the machine was busy must not decide a
Pareto front for good. A second leaderboard on the same data runs no forward pass over the data
(:func:`forward_passes` counts them); only the few timing passes (:func:`timing_passes`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tlweb.config import Settings, get_settings

log = logging.getLogger(__name__)

HEAD_NAMES = ("classifier", "head", "fc", "score", "heads")
FEATURES_VERSION = 1  # the "v" of a cache key (bump when what is cached changes meaning)
_COUNT = {"forward": 0, "timing": 0}


def forward_passes() -> int:
    """Forward passes (batches of data, and FLOP counts) run by this module since the process started
    (tests count them); the latency timing passes are counted apart (:func:`timing_passes`)."""
    return _COUNT["forward"]


def timing_passes() -> int:
    """One-image forward passes run to time a model's latency (warm-ups included)."""
    return _COUNT["timing"]


def find_head(model):
    """(top-level head attribute, its final nn.Linear, qualified name of that Linear)."""
    import torch.nn as nn

    for attr in HEAD_NAMES:
        mod = getattr(model, attr, None)
        if mod is None or not isinstance(mod, nn.Module):
            continue
        if isinstance(mod, nn.Linear):
            return attr, mod, attr
        linears = [(n, m) for n, m in mod.named_modules() if isinstance(m, nn.Linear)]
        if linears:
            name, lin = linears[-1]
            return attr, lin, f"{attr}.{name}"
    num = getattr(model.config, "num_labels", None)
    last = None
    for name, m in model.named_modules():
        if isinstance(m, nn.Linear) and (num is None or m.out_features == num):
            last = (name, m)
    if last is None:
        from tlweb.errors import ModelError

        raise ModelError("This model has no linear classification head that tlweb can replace.")
    name, lin = last
    return name.split(".")[0], lin, name


def find_blocks(model):
    """(qualified name, ModuleList) of the backbone's main stack of blocks: the ModuleList holding
    the most parameters (encoder layers for ViTs, stages for ConvNeXt/ResNet/Swin, blocks for
    EfficientNet, layers for MobileNet)."""
    import torch.nn as nn

    head_attr = find_head(model)[0]
    best = None
    for name, m in model.named_modules():
        if not isinstance(m, nn.ModuleList) or len(m) < 1 or name.split(".")[0] == head_attr:
            continue
        n = sum(p.numel() for p in m.parameters())
        if best is None or n > best[2]:
            best = (name, m, n)
    return (best[0], best[1]) if best else (None, None)


def model_identity(spec) -> str:
    """A stamp of the backbone weights: Hub id, or folder + weight files' sizes and mtimes."""
    parts = [spec.hub_id]
    folder = Path(spec.hub_id)
    if spec.is_local and folder.is_dir():  # a Hub id is never looked up as a folder
        for p in sorted(folder.glob("*.safetensors")) + sorted(folder.glob("*.bin")):
            st = p.stat()
            parts.append(f"{p.name}:{st.st_size}:{st.st_mtime_ns}")
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def extract(model, pixels, normalizer, runtime, batch_size: int = 64, should_stop=None, on_progress=None,
            channels_last: bool = False):
    """Head-input vectors for uint8 images [N,3,H,W] (float32, CPU). None if stopped."""
    import torch

    _, lin, _ = find_head(model)
    captured = []
    handle = lin.register_forward_hook(lambda m, inp, out: captured.append(inp[0].detach().float().cpu()))
    was_training = model.training
    model.eval()
    n = pixels.shape[0]
    try:
        with torch.inference_mode():
            for i in range(0, n, batch_size):
                if should_stop is not None and should_stop():
                    return None
                x = normalizer(pixels[i:i + batch_size].to(runtime.device, non_blocking=True))
                if channels_last:
                    x = x.contiguous(memory_format=torch.channels_last)
                with runtime.autocast():
                    model(pixel_values=x)
                _COUNT["forward"] += 1
                if on_progress:
                    on_progress(min(n, i + batch_size), n)
    finally:
        handle.remove()
        model.train(was_training)
    feats = torch.cat(captured) if captured else torch.zeros(0, lin.in_features)
    return feats.reshape(feats.shape[0], -1)


def _cache_path(key_parts: dict, settings: Settings, prefix: str = "", suffix: str = ".pt") -> Path:
    key = hashlib.sha256(json.dumps(key_parts, sort_keys=True, default=str).encode()).hexdigest()[:32]
    return settings.cache_dir / "features" / f"{prefix}{key}{suffix}"


def cached_blob(key_parts: dict, compute, settings: Settings | None = None) -> tuple[dict | None, bool]:
    """``({"features": tensor, **meta}, hit)`` for ``key_parts`` from the disk cache, or from
    ``compute()`` (a tensor, or a dict with "features" and JSON-able extras such as
    "seconds"), stored atomically. ``(None, False)`` when ``compute()`` returns None (stopped)."""
    import torch

    settings = settings or get_settings()
    path = _cache_path(key_parts, settings)
    if path.exists():
        try:
            blob = torch.load(path, map_location="cpu", weights_only=True)
            if isinstance(blob, dict) and "features" in blob:
                return blob, True
        except Exception:  # noqa: BLE001 - rebuilt below
            pass
    out = compute()
    if out is None:
        return None, False
    blob = dict(out) if isinstance(out, dict) else {"features": out}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({**blob, "key": key_parts}, tmp)
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not cache features: %s", exc)
    return blob, False


def cached_features(key_parts: dict, compute, settings: Settings | None = None):
    """Load features for ``key_parts`` from the disk cache, or ``compute()`` and store them."""
    blob, hit = cached_blob(key_parts, compute, settings)
    return (None, False) if blob is None else (blob["features"], hit)


# --------------------------------------------------------------------------- backbones


def _is_cnn(model) -> bool:
    import torch.nn as nn

    return sum(1 for m in model.modules() if isinstance(m, nn.Conv2d)) > 4


def _check_backbone_config(spec, config) -> None:
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES

    from tlweb import registry
    from tlweb.catalog import CLASSIFICATION, FEATURES, task_from_config
    from tlweb.errors import ModelError

    task = task_from_config(config.to_dict())
    if config.model_type in ("clip", "siglip", "siglip2", "owlvit", "owlv2"):
        raise ModelError(f"'{spec.key}' is a zero-shot model (image + text); use it as the zero-shot row, "
                         "not as a backbone.")
    if task not in (CLASSIFICATION, FEATURES):
        noun = next((t.noun for t in registry.tasks() if t.name == task), task)  # with its article
        raise ModelError(f"'{spec.key}' is {noun}, not an image classifier or backbone.")
    if config.model_type not in MODEL_FOR_IMAGE_CLASSIFICATION_MAPPING_NAMES:
        raise ModelError(f"transformers has no image-classification head for '{config.model_type}' models, "
                         "so tlweb cannot take features from them.")


class Backbone:
    """A frozen backbone for features, loaded lazily.

    ``processor`` is loaded at once (it is needed to decode the images and to key the cache);
    the model is loaded on first access of :attr:`model` — a cache hit never loads it. Any
    classifier or backbone checkpoint works (an ``AutoModelForImageClassification`` is built so
    the head input can be captured); ``random_init`` builds the same architecture from its config
    with seeded random weights (the "what pretraining buys" baseline).
    """

    def __init__(self, name, settings: Settings | None = None, random_init: bool = False, seed: int = 0,
                 model=None, processor=None):
        from tlweb.engine.listing import resolve

        self.settings = settings or get_settings()
        self.spec = name if not isinstance(name, str) else resolve(name, settings=self.settings)
        self.random_init = bool(random_init)
        self.seed = int(seed)
        self._model = model
        self.processor = processor
        if self.processor is None:
            from tlweb.catalog import CLASSIFICATION
            from tlweb.engine import loading

            self.spec, config = loading.load_config(self.spec, settings=self.settings)
            _check_backbone_config(self.spec, config)
            self.processor = loading.load_processor(self.spec, task=CLASSIFICATION, settings=self.settings)

    @classmethod
    def loaded(cls, spec, model, processor, settings: Settings | None = None) -> Backbone:
        """Wrap a model already in memory (the Fine-tune tab's linear strategy)."""
        return cls(spec, settings, model=model, processor=processor)

    @property
    def name(self) -> str:
        spec = self.spec
        return spec.key if spec.source in ("catalog", "demo", "run") else spec.hub_id

    def identity(self) -> str:
        """The weights' stamp; random-init backbones also name their seed."""
        ident = model_identity(self.spec)
        return f"{ident}|random-init:{self.seed}" if self.random_init else ident

    @property
    def is_loaded(self) -> bool:
        return self._model is not None

    @property
    def model(self):
        if self._model is None:
            self._model = load_backbone(self.spec, self.random_init, self.seed, self.settings)
        return self._model


def load_backbone(spec, random_init: bool = False, seed: int = 0, settings: Settings | None = None):
    """An fp32 eval-mode ``AutoModelForImageClassification`` on the CPU, through the one gate
    (:func:`tlweb.engine.loading.load_backbone`: the serving mode's location rules, safetensors
    unless pickle is allowed, cached files first, never remote code)."""
    from tlweb.engine import loading

    return loading.load_backbone(spec, random_init=random_init, seed=seed, settings=settings)


# --------------------------------------------------------------------------- features of a split


@dataclass
class FeatureSet:
    """Head-input vectors of one split for one backbone."""

    features: object  # torch.float32 [N, D] on the CPU
    labels: object  # torch.long [N]
    rows: list[int]  # row of each vector in the split's dataset (unreadable images are skipped)
    split: str
    cached: bool  # read from the disk cache: no forward pass ran
    seconds: float  # forward time of the extraction (the stored one on a cache hit)

    def __len__(self) -> int:
        return len(self.rows)


def feature_key(backbone: Backbone, data, split: str, precision: str, n: int) -> dict:
    """The cache key: weights, data content, split, processor geometry, precision, image count.
    For pretrained weights it is the key the Fine-tune tab's linear probe has always used."""
    from tlweb.engine.data import processor_geometry

    key = {"model": model_identity(backbone.spec), "data": data.fingerprint(), "split": split,
           "geometry": processor_geometry(backbone.processor), "precision": precision, "n": n, "v": FEATURES_VERSION}
    if backbone.random_init:
        key["init"] = f"random:{backbone.seed}"
    return key


def split_features(data, split: str, backbone: Backbone, runtime=None, settings: Settings | None = None,
                   should_stop=None, on_progress=None, batch_size: int | None = None) -> FeatureSet | None:
    """Features of ``split`` ("train" | "test") of a :class:`~tlweb.engine.data.PreparedData`:
    decoded once (:func:`~tlweb.engine.data.encode_split`), computed once in batches, cached on
    disk. A subsample indexes its base data's vectors (one cache entry whatever the budget).
    ``on_progress(done, total)`` follows the batches; None when ``should_stop()`` turned true."""
    import torch

    from tlweb.engine.accel import Normalizer, Runtime
    from tlweb.engine.data import encode_split

    settings = settings or get_settings()
    runtime = runtime or Runtime(settings)
    if data.base is not None:
        full = split_features(data.base, split, backbone, runtime, settings, should_stop, on_progress, batch_size)
        if full is None or split != "train":
            return full
        enc = encode_split(data, "train", backbone.processor, settings)
        pos = {r: i for i, r in enumerate(full.rows)}
        idx = torch.tensor([pos[data.train_rows[r]] for r in enc.rows], dtype=torch.long)
        return FeatureSet(full.features[idx], full.labels[idx], list(enc.rows), split, full.cached, full.seconds)
    enc = encode_split(data, split, backbone.processor, settings)
    key = feature_key(backbone, data, split, runtime.precision, len(enc))
    bs = batch_size or (256 if runtime.device.type == "cuda" else 64)

    def compute():
        model = backbone.model
        channels_last = runtime.device.type == "cuda" and _is_cnn(model)
        model.to(runtime.device)
        if channels_last:
            model.to(memory_format=torch.channels_last)
        t0 = time.perf_counter()
        feats = extract(model, enc.pixels, Normalizer(backbone.processor, runtime.device), runtime, batch_size=bs,
                        should_stop=should_stop, on_progress=on_progress, channels_last=channels_last)
        runtime.synchronize()
        if feats is None:
            return None
        return {"features": feats, "seconds": time.perf_counter() - t0, "device": str(runtime.device)}

    blob, hit = cached_blob(key, compute, settings)
    if blob is None:
        return None
    if hit and on_progress:
        on_progress(len(enc), len(enc))
    return FeatureSet(blob["features"], enc.labels, list(enc.rows), split, hit, float(blob.get("seconds") or 0.0))


# --------------------------------------------------------------------------- what a backbone costs


def head_params(model) -> int:
    """Parameters of the classification head (what a linear probe replaces)."""
    attr = find_head(model)[0]
    mod = getattr(model, attr, None)
    return sum(p.numel() for p in mod.parameters()) if mod is not None else 0


def cached_json(key_parts: dict, compute, settings: Settings | None = None, prefix: str = "facts-") -> tuple[dict, bool]:
    """``(dict, hit)``: a small JSON record for ``key_parts`` from the cache, or ``compute()`` stored."""
    settings = settings or get_settings()
    path = _cache_path(key_parts, settings, prefix=prefix, suffix=".json")
    try:
        return json.loads(path.read_text()), True
    except (OSError, ValueError):
        pass
    out = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        tmp.write_text(json.dumps(out))
        tmp.replace(path)
    except OSError as exc:
        log.warning("could not cache %s: %s", prefix.rstrip("-"), exc)
    return out, False


def time_forward(fn, device: str, runtime, runs: int = 20, time_budget_s: float = 1.0, warmup: int = 2,
                 min_runs: int = 3) -> tuple[float, int]:
    """(median milliseconds, timed runs) of ``fn()`` after ``warmup`` untimed calls: up to ``runs`` calls
    within ``time_budget_s`` (but at least ``min_runs``), device work waited for, under the runtime's autocast."""
    import statistics

    import torch

    from tlweb.engine.compare import _sync

    times: list[float] = []
    with torch.inference_mode():
        for i in range(max(0, warmup) + max(1, runs)):
            _sync(device)
            t0 = time.perf_counter()
            with runtime.autocast():
                fn()
            _sync(device)
            _COUNT["timing"] += 1
            if i >= warmup:
                times.append(time.perf_counter() - t0)
            if len(times) >= min_runs and sum(times) > time_budget_s:
                break
    return statistics.median(times) * 1000, len(times)


def model_facts(backbone: Backbone, runtime=None, settings: Settings | None = None, runs: int = 20,
                time_budget_s: float = 1.0) -> dict:
    """``{"params", "gflops", "latency_ms", "input_size", "device", "precision", "runs", "cached"}``
    of the backbone without its head, for one image.

    ``params``, ``gflops`` (torch's FLOP counter on one image, 2 FLOPs per multiply-add, as the Compare
    tab) and ``input_size`` are counted once per (weights, geometry, device, precision) and cached on disk
    beside the features (``cached``: they came from there). ``latency_ms`` is timed afresh on every call:
    the median of up to ``runs`` one-image forward passes after two warm-ups, within ``time_budget_s``, on
    the device and precision the features are computed with (``runs``: how many were timed)."""
    from tlweb.engine.accel import Runtime
    from tlweb.engine.data import processor_geometry

    settings = settings or get_settings()
    runtime = runtime or Runtime(settings)
    key = {"facts": backbone.identity(), "geometry": processor_geometry(backbone.processor),
           "device": str(runtime.device), "precision": runtime.precision, "v": FEATURES_VERSION}
    model = x = None

    def ready():
        nonlocal model, x
        if model is None:
            model = backbone.model.to(runtime.device)
            x = probe_pixels(backbone.processor, runtime.device)
        return model, x

    def count() -> dict:
        from tlweb.engine.compare import count_flops

        m, pixels = ready()
        flops = count_flops(m, pixels)
        _COUNT["forward"] += 1
        total = sum(p.numel() for p in m.parameters())
        return {"params": int(total - head_params(m)), "gflops": flops / 1e9, "input_size": int(pixels.shape[-1]),
                "device": str(runtime.device), "precision": runtime.precision}

    facts, hit = cached_json(key, count, settings)
    m, pixels = ready()
    latency, n = time_forward(lambda: m(pixel_values=pixels), str(runtime.device), runtime, runs, time_budget_s)
    return {**facts, "latency_ms": latency, "runs": n, "cached": hit}


def probe_pixels(processor, device):
    """One grey picture as the model's normalised input (for FLOPs and latency)."""
    from PIL import Image

    from tlweb.engine.accel import Normalizer
    from tlweb.engine.data import preprocess_uint8

    pixels = preprocess_uint8([Image.new("RGB", (256, 256), (128, 128, 128))], processor)
    return Normalizer(processor, device)(pixels.to(device))
