"""Compare backbones: the same images through 2–6 classifiers, side by side.

Each image is decoded once (:func:`tlweb.engine.images.load_image`) and the decoded pictures are
shared by every model; each model preprocesses the whole list in one processor call (models whose
processors have the same class and settings reuse the same pixels) and runs it as a batch.
Per model we report:

- top-k per image;
- ``gflops``: GFLOPs per image, counted by ``torch.utils.flop_counter.FlopCounterMode`` on one
  image (2 FLOPs per multiply-add; convolutions, matmuls and attention — elementwise ops,
  norms and softmax are not counted);
- ``peak_memory_mb``: memory to run one image = weights + input + peak activations (on CUDA the
  allocator's peak; on CPU the peak of the tensors the forward pass keeps alive, tracked op by op);
- ``latency_ms``: time per image = median over warm runs of the forward pass on the batch of all
  images, divided by the number of images (``batch_ms`` is that median for the whole batch;
  ``preprocess_ms`` is the processor's time per image, measured once). After a one-image
  warm-up, up to ``runs`` passes after the first are timed within ``time_budget_s``; a model
  so slow that its first batch pass fills the budget is timed by that pass (``latency_warm``
  False);
- parameters, input size, family, device and dtype.

Models load through the shared cache (:func:`tlweb.engine.loading.load`); when they don't all fit
the memory budget the least recently used are evicted and each row lists what its load evicted.
A model that fails to load or run gets its sentence in ``error``; the others still compare.
"""

from __future__ import annotations

import os
import statistics
import time
import weakref
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from tlweb.catalog import CLASSIFICATION, ModelSpec
from tlweb.config import Settings, get_settings
from tlweb.engine.classify import Prediction, label_name
from tlweb.engine.images import load_image
from tlweb.engine.listing import list_models
from tlweb.engine.zerogpu import gpu_task
from tlweb.errors import ImageError, ModelError, clip, explain, first_line

MIN_MODELS = 2
MAX_MODELS = 6

CNN_FAMILIES = ("resnet", "convnext", "efficientnet", "mobilenet_v2", "mobilenet_v1", "regnet", "bit", "convnextv2")
VIT_FAMILIES = ("vit", "deit", "swin", "swinv2", "dinov2", "dinov2_with_registers", "beit", "data2vec-vision")

# name → button text; see :func:`preset_models`.
PRESETS = {
    "cnn-vs-vit": "CNNs vs ViTs",
    "small-fast": "small & fast",
    "large-accurate": "large & accurate",
}


# --------------------------------------------------------------------------- results


@dataclass
class ModelRow:
    """One model's side of the comparison."""

    model: str  # exactly as the user gave it (catalog key, Hub id or folder)
    spec: ModelSpec | None = None
    family: str = ""
    params: int | None = None
    gflops: float | None = None  # per image
    latency_ms: float | None = None  # forward time per image (median batch time / images)
    batch_ms: float | None = None  # median forward time of the whole batch
    preprocess_ms: float | None = None  # processor time per image
    preprocess_shared_with: str | None = None  # an earlier model with an identical processor (pixels reused)
    runs: int = 0  # timed batch passes in the median
    warm: bool = False  # the median excludes the first batch pass (False: one pass was all the budget allowed)
    batch_size: int = 0
    peak_memory_mb: float | None = None  # weights + input + activations for one image
    memory_method: str = ""
    device: str = ""
    dtype: str = ""
    input_size: int | None = None
    load_s: float | None = None
    evicted: list[str] = field(default_factory=list)  # unloaded to make room for this model
    error: str | None = None
    predictions: list[list[Prediction]] = field(default_factory=list)  # per image, top-k
    display: str = ""  # unique display name, set by the comparison

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def name(self) -> str:
        """A short display name: the catalog/demo key, else what the user typed."""
        if self.display:
            return self.display
        return self.short_name()

    def short_name(self) -> str:
        if self.spec is not None and self.spec.source in ("catalog", "demo", "run"):
            return self.spec.key
        text = self.model.rstrip("/\\")
        looks_like_folder = (self.spec is not None and self.spec.source == "local") or text.startswith(
            ("/", ".", "~")) or "\\" in text or text.count("/") > 1  # never a disk look-up: no oracle
        return clip((Path(text).name or text) if looks_like_folder else text)

    def top1(self) -> list[str | None]:
        return [preds[0].label if preds else None for preds in self.predictions]

    def as_dict(self) -> dict:
        return {
            "model": self.model if len(self.model) <= 256 else clip(self.model, 120),  # as given (CLI JSON)
            "name": self.name,
            "params": self.params,
            "gflops": None if self.gflops is None else round(self.gflops, 6),
            "latency_ms": _round(self.latency_ms),
            "batch_ms": _round(self.batch_ms),
            "preprocess_ms": _round(self.preprocess_ms),
            "preprocess_shared_with": self.preprocess_shared_with,
            "runs": self.runs,
            "latency_warm": self.warm,
            "batch_size": self.batch_size,
            "peak_memory_mb": _round(self.peak_memory_mb),
            "memory_method": self.memory_method,
            "device": self.device,
            "dtype": self.dtype,
            "input_size": self.input_size,
            "family": self.family,
            "source": self.spec.source if self.spec is not None else None,
            "load_s": _round(self.load_s),
            "evicted": list(self.evicted),
            "error": self.error,
            "predictions": [[p.as_dict() for p in preds] for preds in self.predictions],
        }


@dataclass
class Agreement:
    """Who agrees with whom on the top-1 label."""

    models: list[str]  # display names of the models that ran
    matrix: list[list[float | None]]  # fraction of images where models i and j share the top-1
    per_image: list[dict]  # {"image", "top1": {model: label}, "groups": [{"label", "models"}], "all_agree"}

    def as_dict(self) -> dict:
        return {"models": self.models, "matrix": self.matrix, "per_image": self.per_image}


@dataclass
class CompareResult:
    images: list[str]  # display names, in order
    rows: list[ModelRow]
    agreement: Agreement
    top_k: int
    decode_ms: float  # decoding every image once, in total
    elapsed_s: float

    @property
    def ok_rows(self) -> list[ModelRow]:
        return [r for r in self.rows if r.ok]

    @property
    def evicted(self) -> list[str]:
        out: list[str] = []
        for r in self.rows:
            out.extend(e for e in r.evicted if e not in out)
        return out

    def as_dict(self) -> dict:
        return {
            "images": list(self.images),
            "top_k": self.top_k,
            "decode_ms": _round(self.decode_ms),
            "elapsed_s": _round(self.elapsed_s),
            "models": [r.as_dict() for r in self.rows],
            "agreement": self.agreement.as_dict(),
            "evicted": self.evicted,
        }


@dataclass
class CompareProgress:
    """What :func:`iter_compare` yields: how far it got, and the result so far."""

    done: int  # models finished
    total: int
    message: str
    result: CompareResult
    finished: bool = False


def _round(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(float(x), nd)


# --------------------------------------------------------------------------- inputs


def parse_models(models: str | Sequence[str] | None) -> list[str]:
    """Model names from a list and/or comma-separated text; blanks dropped, duplicates once."""
    if models is None:
        return []
    items = [models] if isinstance(models, str) else list(models)
    out: list[str] = []
    for item in items:
        if item is None:
            continue
        for part in str(item).split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


def check_models(models: str | Sequence[str] | None, low: int = MIN_MODELS, high: int = MAX_MODELS,
                 too_few: str = "Pick at least {low} models to compare (you picked {n}).",
                 too_many: str = "Compare at most {high} models at a time (you picked {n}).") -> list[str]:
    """:func:`parse_models`, refused with one sentence unless it names ``low`` to ``high`` models
    (the sentences are formatted with ``low``, ``high`` and ``n``, the number picked)."""
    names = parse_models(models)
    if not low <= len(names) <= high:
        raise ModelError((too_few if len(names) < low else too_many).format(low=low, high=high, n=len(names)))
    return names


def image_names(sources: Sequence) -> list[str]:
    """Short unique names for display ('cat.jpg', 'cat.jpg (2)', 'image 3')."""
    names: list[str] = []
    for i, src in enumerate(sources):
        if isinstance(src, (str, os.PathLike)):
            name = Path(src).name
        else:
            name = getattr(src, "name", None) or f"image {i + 1}"
            name = Path(str(name)).name
        base, n = name, 2
        while name in names:
            name = f"{base} ({n})"
            n += 1
        names.append(name)
    return names


def decode_images(sources: Sequence, settings: Settings) -> list:
    """Decode every image once (shared by all models)."""
    if sources is None or (not isinstance(sources, (str, os.PathLike)) and len(sources) == 0):
        raise ImageError("No images were given: upload one or more images, or use the examples.")
    if isinstance(sources, (str, os.PathLike)):
        sources = [sources]
    if len(sources) > settings.max_images:
        raise ImageError(f"{len(sources)} images were given; the limit is {settings.max_images} at a time.")
    names = image_names(sources)
    return [load_image(src, settings, name=name) for src, name in zip(sources, names)]


# --------------------------------------------------------------------------- measuring


def _sdpa_cpu_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    from torch.utils.flop_counter import sdpa_flop_count

    return sdpa_flop_count(query_shape, key_shape, value_shape)


def _flop_counter():
    """FlopCounterMode, plus the CPU fused attention kernel that torch's table lacks."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    mapping = {}
    cpu_sdpa = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)
    if cpu_sdpa is not None:
        mapping[cpu_sdpa] = _sdpa_cpu_flops
    return FlopCounterMode(display=False, custom_mapping=mapping)


def _activation_tracker(skip_ptrs: set[int]):
    """A dispatch mode that follows every tensor the forward pass creates and records the peak
    bytes alive at once (storages of weights and inputs, in ``skip_ptrs``, are not counted)."""
    import torch
    from torch.utils import _pytree as pytree
    from torch.utils._python_dispatch import TorchDispatchMode

    class ActivationTracker(TorchDispatchMode):
        def __init__(self):
            super().__init__()
            self.live: dict[int, list[int]] = {}  # storage ptr → [bytes, live tensors]
            self.current = 0
            self.peak = 0

        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            out = func(*args, **(kwargs or {}))
            for t in pytree.tree_leaves(out):
                if isinstance(t, torch.Tensor):
                    self._track(t)
            return out

        def _track(self, t) -> None:
            try:
                storage = t.untyped_storage()
                ptr = storage.data_ptr()
            except (RuntimeError, NotImplementedError):
                return
            if ptr == 0 or ptr in skip_ptrs:
                return
            entry = self.live.get(ptr)
            if entry is None:
                entry = self.live[ptr] = [storage.nbytes(), 0]
                self.current += entry[0]
                self.peak = max(self.peak, self.current)
            entry[1] += 1
            weakref.finalize(t, self._release, ptr)

        def _release(self, ptr: int) -> None:
            entry = self.live.get(ptr)
            if entry is None:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                self.current -= entry[0]
                del self.live[ptr]

    return ActivationTracker()


def _sync(device: str) -> None:
    """Wait for queued GPU work so wall-clock timings are real."""
    if device.startswith("cuda"):
        import torch

        torch.cuda.synchronize(device)
    elif device.startswith("mps"):
        import torch

        torch.mps.synchronize()


def count_flops(model, pixel_values) -> int:
    """FLOPs of one forward pass of ``model`` on ``pixel_values`` (torch's flop counter)."""
    import torch

    counter = _flop_counter()
    with torch.inference_mode(), counter:
        model(pixel_values=pixel_values)
    return int(counter.get_total_flops())


# model → {(input shape, dtype): (flops, peak MB, method)}: a loaded model's FLOPs and memory for an
# input shape never change, so a second comparison with the same model skips the instrumented pass.
_MEASURED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _is_measured(model, pixel_values, device: str) -> bool:
    key = (tuple(pixel_values.shape), str(pixel_values.dtype), device)
    try:
        return key in _MEASURED.get(model, {})
    except TypeError:
        return False


def _measure_one_image(model, pixel_values, device: str, weights_bytes: int) -> tuple[int, float, str]:
    """FLOPs and peak memory (MB) for one image, in one instrumented forward pass (cached per
    loaded model and input shape)."""
    key = (tuple(pixel_values.shape), str(pixel_values.dtype), device)
    try:
        hit = _MEASURED.get(model, {}).get(key)
    except TypeError:
        hit = None
    if hit is not None:
        return hit
    measured = _measure_uncached(model, pixel_values, device, weights_bytes)
    try:
        _MEASURED.setdefault(model, {})[key] = measured
    except TypeError:  # not weak-referenceable: just don't cache
        pass
    return measured


def _measure_uncached(model, pixel_values, device: str, weights_bytes: int) -> tuple[int, float, str]:
    import torch

    input_bytes = pixel_values.numel() * pixel_values.element_size()
    counter = _flop_counter()
    if device.startswith("cuda"):
        _sync(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        with torch.inference_mode(), counter:
            model(pixel_values=pixel_values)
        _sync(device)
        activations = max(0, torch.cuda.max_memory_allocated(device) - base)
        method = "CUDA allocator peak"
    else:
        skip = {pixel_values.untyped_storage().data_ptr()}
        skip.update(p.untyped_storage().data_ptr() for p in model.parameters())
        skip.update(b.untyped_storage().data_ptr() for b in model.buffers())
        tracker = _activation_tracker(skip)
        with torch.inference_mode(), tracker, counter:
            out = model(pixel_values=pixel_values)
            del out
        activations = tracker.peak
        method = "tensors alive at once, tracked op by op"
    mb = (weights_bytes + input_bytes + activations) / (1024 * 1024)
    return int(counter.get_total_flops()), mb, method


def _processor_key(processor) -> str | None:
    """Same processor class + same settings ⇒ same pixels; None when it can't be told."""
    import json

    try:
        cfg = json.dumps(processor.to_dict(), sort_keys=True, default=str)
    except Exception:  # noqa: BLE001 - then it is simply not shared
        return None
    return f"{type(processor).__module__}.{type(processor).__qualname__}:{cfg}"


def _preprocess(loaded, images: list, batch_size: int, shared: dict | None = None) -> tuple[list, float, str | None]:
    """Pixel batches (on the model's device and dtype), processor seconds, and the model whose
    identical processor already produced them (the pixels are then reused, not recomputed)."""
    key = _processor_key(loaded.processor) if shared is not None else None
    if key is not None and key in shared:
        cpu_batches, seconds, owner = shared[key]
    else:
        t0 = time.perf_counter()
        cpu_batches = []
        for i in range(0, len(images), batch_size):
            inputs = loaded.processor(images=images[i:i + batch_size], return_tensors="pt")
            cpu_batches.append(inputs["pixel_values"])
        seconds, owner = time.perf_counter() - t0, None
        if key is not None:
            shared[key] = (cpu_batches, seconds, loaded.spec.key)
    dtype = next(loaded.model.parameters()).dtype
    non_blocking = loaded.device.startswith("cuda")
    batches = [b.to(loaded.device, dtype=dtype, non_blocking=non_blocking) for b in cpu_batches]
    return batches, seconds, owner


def _forward_all(model, batches, device: str):
    import torch

    with torch.inference_mode():
        logits = [model(pixel_values=b).logits for b in batches]
    _sync(device)
    return logits


def _run_model(row: ModelRow, loaded, images: list, top_k: int, runs: int, time_budget_s: float,
               batch_size: int, shared: dict | None = None) -> None:
    import torch

    from tlweb.engine.classify import probabilities

    model = loaded.model
    batches, pre_s, row.preprocess_shared_with = _preprocess(loaded, images, batch_size, shared)
    row.preprocess_ms = pre_s * 1000 / len(images)
    row.batch_size = min(batch_size, len(images))
    row.input_size = int(batches[0].shape[-1]) if batches[0].shape[-1] == batches[0].shape[-2] else row.input_size

    already_measured = _is_measured(model, batches[0][:1], loaded.device)
    flops, row.peak_memory_mb, row.memory_method = _measure_one_image(model, batches[0][:1], loaded.device,
                                                                      loaded.nbytes)
    row.gflops = flops / 1e9
    # Warm up on one image (cheap: weights, thread pools and kernels get ready; the instrumented
    # pass just above already did when it ran), then time full batch passes; the first one gives
    # the predictions. It may also pay one-off set-up for the batch shape (on CPU up to 100× a
    # warm call for tiny models), so it leaves the median whenever there is time for more
    # passes: within ``time_budget_s`` and at most ``runs`` more. A model whose first batch pass
    # takes half the budget or more is timed by that pass alone (``warm`` False), so a slow
    # model costs one pass over the images, as a plain pipeline would.
    if already_measured:
        _forward_all(model, [batches[0][:1]], loaded.device)
    t0 = time.perf_counter()
    logits = _forward_all(model, batches, loaded.device)
    first = time.perf_counter() - t0
    times: list[float] = []
    while (first + sum(times) < time_budget_s and len(times) < max(1, runs)
           and (times or first < time_budget_s / 2)):
        t0 = time.perf_counter()
        _forward_all(model, batches, loaded.device)
        times.append(time.perf_counter() - t0)
    row.warm = bool(times)
    times = times or [first]
    row.runs = len(times)
    row.batch_ms = statistics.median(times) * 1000
    row.latency_ms = row.batch_ms / len(images)

    probs = probabilities(loaded, torch.cat([lg.float().cpu() for lg in logits]))
    k = max(1, min(int(top_k), probs.shape[-1]))
    scores, idx = torch.topk(probs, k, dim=-1)
    config = model.config
    row.predictions = [
        [Prediction(label_name(config, int(i)), float(s)) for s, i in zip(srow, irow)]
        for srow, irow in zip(scores, idx)
    ]


def _error_sentence(exc: BaseException) -> str:
    known = explain(exc)
    if known is not None:
        return str(known)
    return f"It failed while running ({type(exc).__name__}: {first_line(exc)})."


# --------------------------------------------------------------------------- agreement


def _norm(label: str | None) -> str | None:
    return None if label is None else " ".join(str(label).lower().split())


def agreement(models: Sequence[str], top1: Sequence[Sequence[str | None]], images: Sequence[str]) -> Agreement:
    """Agreement on the top-1 label.

    ``top1[m][i]`` is model ``m``'s top-1 label on image ``i`` (None when it has none). The
    matrix entry (i, j) is the fraction of images where both models have a label and it is the
    same (labels compared case- and space-insensitively); None when they share no image.
    """
    n = len(models)
    matrix: list[list[float | None]] = [[None] * n for _ in range(n)]
    for a in range(n):
        for b in range(a, n):
            both = [(x, y) for x, y in zip(top1[a], top1[b]) if x is not None and y is not None]
            if not both:
                value = None
            else:
                value = sum(_norm(x) == _norm(y) for x, y in both) / len(both)
            matrix[a][b] = matrix[b][a] = value
    per_image = []
    for i, image in enumerate(images):
        labels = {models[m]: top1[m][i] for m in range(n) if i < len(top1[m]) and top1[m][i] is not None}
        groups: dict[str, dict] = {}
        for model, label in labels.items():
            g = groups.setdefault(_norm(label), {"label": label, "models": []})
            g["models"].append(model)
        ordered = sorted(groups.values(), key=lambda g: (-len(g["models"]), g["label"]))
        per_image.append({
            "image": image,
            "top1": labels,
            "groups": ordered,
            "all_agree": len(labels) >= 2 and len(groups) == 1,
        })
    return Agreement(models=list(models), matrix=matrix, per_image=per_image)


def _agreement_of(rows: Sequence[ModelRow], images: Sequence[str]) -> Agreement:
    ok = [r for r in rows if r.ok and r.predictions]
    return agreement([r.name for r in ok], [r.top1() for r in ok], images)


# --------------------------------------------------------------------------- compare


@gpu_task(images="images", models="models", image_factor=2.0, per_model_s="time_budget_s")
def iter_compare(images, models: str | Sequence[str], top_k: int = 5, settings: Settings | None = None,
                 runs: int = 5, time_budget_s: float = 1.0, batch_size: int = 16) -> Iterator[CompareProgress]:
    """Compare ``models`` on ``images``, yielding progress after each step.

    ``images``: paths, bytes, PIL images or arrays (decoded once, shared). ``models``: 2–6 names
    (catalog keys, dropdown labels, Hub ids or folders), as a list or comma-separated text.
    ``runs``: at most this many timed warm batch passes per model (fewer once ``time_budget_s``
    of timing is spent). The last item yielded has ``finished=True``.
    """
    from tlweb.engine.loading import load

    settings = settings or get_settings()
    t_start = time.perf_counter()
    names = check_models(models)
    t0 = time.perf_counter()
    decoded = decode_images(images, settings)
    decode_ms = (time.perf_counter() - t0) * 1000
    shown = image_names(images if not isinstance(images, (str, os.PathLike)) else [images])
    rows = [ModelRow(model=name) for name in names]
    shared_pixels: dict = {}  # processor settings → preprocessed batches, reused by identical processors

    def snapshot(done: int) -> CompareResult:  # a fresh object per step: consumers may keep them
        return CompareResult(images=list(shown), rows=list(rows[:done]), agreement=_agreement_of(rows[:done], shown),
                             top_k=int(top_k), decode_ms=decode_ms, elapsed_s=time.perf_counter() - t_start)

    total = len(names)
    yield CompareProgress(0, total, f"Decoded {len(decoded)} image(s); loading {clip(names[0])} (1/{total})…", snapshot(0))

    for i, row in enumerate(rows):
        loaded = None
        try:
            loaded = load(row.model, task=CLASSIFICATION, settings=settings)
            row.spec = loaded.spec
            row.family = loaded.spec.family
            row.params = loaded.params
            row.device, row.dtype = loaded.device, loaded.dtype
            row.input_size = loaded.spec.input_size
            row.load_s = loaded.load_s
            row.evicted = list(loaded.evicted)
            _run_model(row, loaded, decoded, top_k, runs, time_budget_s, batch_size, shared_pixels)
        except Exception as exc:  # noqa: BLE001 - one model failing must not stop the others
            row.error = _error_sentence(exc)
            row.predictions = []
        finally:
            loaded = None  # let an evicted model's memory go before the next load
        taken = {r.name for r in rows[:i]}
        name, n = row.short_name(), 2
        row.display = name
        while row.display in taken:
            row.display = f"{name} #{n}"
            n += 1
        status = "failed" if row.error else f"{row.latency_ms:.1f} ms/image"
        nxt = f"; loading {clip(rows[i + 1].model)} ({i + 2}/{total})…" if i + 1 < total else ""
        yield CompareProgress(i + 1, total, f"{row.name}: {status}{nxt}", snapshot(i + 1))

    result = snapshot(total)
    msg = f"Compared {len(result.ok_rows)} of {total} models on {len(decoded)} image(s) in {result.elapsed_s:.1f} s."
    yield CompareProgress(total, total, msg, result, finished=True)


def compare(images, models: str | Sequence[str], top_k: int = 5, settings: Settings | None = None,
            runs: int = 5, time_budget_s: float = 1.0, batch_size: int = 16) -> CompareResult:
    """Run :func:`iter_compare` to the end and return the :class:`CompareResult`."""
    steps = iter_compare(images, models, top_k, settings, runs, time_budget_s, batch_size)
    return list(steps)[-1].result


# --------------------------------------------------------------------------- presets


def _classifiers(settings: Settings) -> tuple[list[ModelSpec], list[ModelSpec]]:
    specs = list_models(CLASSIFICATION, settings)
    catalog = [s for s in specs if s.source == "catalog"]
    demo = [s for s in specs if s.source == "demo"]
    return catalog, demo


def _catalog_pick(name: str, catalog: list[ModelSpec]) -> list[ModelSpec]:
    sized = [s for s in catalog if s.params_m]
    if name == "cnn-vs-vit":
        cnns = [s for s in catalog if s.family in CNN_FAMILIES]
        vits = [s for s in catalog if s.family in VIT_FAMILIES]
        return cnns[:3] + vits[:3]
    if name == "small-fast":
        return sorted(sized, key=lambda s: s.params_m)[:4]
    if name == "large-accurate":
        return sorted(sized, key=lambda s: -s.params_m)[:4]
    raise ModelError(f"Unknown preset '{name}'; pick one of: {', '.join(PRESETS)}.")


def _demo_match(spec: ModelSpec, demo: list[ModelSpec], taken: set[str]) -> ModelSpec | None:
    """The demo model standing in for a catalog model: same name stem first, then same family."""
    for d in demo:
        stem = d.key.removeprefix("demo-")
        if d.key not in taken and spec.key.startswith(stem):
            return d
    for d in demo:
        if d.key not in taken and d.family == spec.family:
            return d
    return None


def preset_models(name: str, settings: Settings | None = None) -> list[str]:
    """Model keys for a preset (see ``PRESETS``).

    From the catalog: "cnn-vs-vit" three CNNs and three vision transformers, "small-fast" the
    four smallest, "large-accurate" the four largest. In demo mode the same picks are mapped
    to the demo models of matching families (the Hub models would need downloads).
    """
    settings = settings or get_settings()
    catalog, demo = _classifiers(settings)
    picks = _catalog_pick(name, catalog)
    if not (settings.demo and demo):
        return [s.key for s in picks]
    taken: set[str] = set()
    out = []
    for spec in picks:
        match = _demo_match(spec, demo, taken)
        if match is not None:
            taken.add(match.key)
            out.append(match.key)
    return out
