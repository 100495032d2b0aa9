"""Zero-shot classification with CLIP and SigLIP: the classes are words, no training image.

Each label is written into one or more prompt templates ("a photo of a {}."); the text embeddings
of a label's prompts are L2-normalised, averaged and normalised again (prompt ensembling, as in
the CLIP paper). An image's score for a label is ``exp(logit_scale) · cos(image, label)`` (+
``logit_bias`` for SigLIP), read as each model is meant to be read:

- CLIP: **softmax** over the labels (the scores sum to 1: "which of these is it");
- SigLIP: a **sigmoid** per label (independent yes/no scores: "is it this").

:func:`classify_labels` classifies one picture with the user's labels (the Classify tab and
``python -m tlweb classify IMG --model CLIP --labels "a,b,c"``). :func:`zero_shot_eval` classifies
the test split of a :class:`~tlweb.engine.data.PreparedData` from its class names — the
leaderboard's "0 images per class" row; its image embeddings, text embeddings, parameters and
GFLOPs are cached like every other feature (:mod:`tlweb.engine.features`), so a second run passes
no image through the model again — it only loads it to time its latency afresh.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from tlweb.catalog import ZERO_SHOT_CLASSIFICATION
from tlweb.config import Settings, get_settings
from tlweb.engine.classify import ClassifyResult, Prediction
from tlweb.engine.pipeline import inference_task
from tlweb.errors import DataError, ModelError

DEFAULT_TEMPLATE = "a photo of a {}."
DEFAULT_TEMPLATES = ("a photo of a {}.", "a blurry photo of a {}.", "a close-up photo of a {}.",
                     "a drawing of a {}.")
FAMILIES = ("clip", "siglip")
MAX_LABELS = 100
SIGLIP_TEXT_LEN = 64  # SigLIP reads texts padded to 64 tokens (how it was trained)


# --------------------------------------------------------------------------- inputs


def parse_labels(text, minimum: int = 1) -> list[str]:
    """Comma-separated (or listed) labels; blanks dropped, duplicates once."""
    items = text if isinstance(text, (list, tuple)) else str(text or "").replace("\n", ",").split(",")
    out: list[str] = []
    for item in items:
        label = " ".join(str(item).split())
        if label and label not in out:
            out.append(label)
    if len(out) < minimum:
        raise DataError(f"Type at least {minimum} label{'s' if minimum > 1 else ''}, separated by commas "
                        "(for example: cat, dog, car).")
    if len(out) > MAX_LABELS:
        raise DataError(f"{len(out)} labels were given; the limit is {MAX_LABELS}.")
    return out


def parse_templates(text) -> list[str]:
    """Prompt templates, one per line (or a list); each must hold ``{}`` where the label goes."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return list(DEFAULT_TEMPLATES)
    items = text if isinstance(text, (list, tuple)) else str(text).splitlines()
    out = []
    for item in items:
        t = str(item).strip()
        if not t:
            continue
        t = t.replace("{label}", "{}").replace("{class}", "{}")
        if t.count("{}") != 1 or t.replace("{}", "").count("{") or t.replace("{}", "").count("}"):
            raise DataError(f"The prompt template '{t}' must contain {{}} exactly once, where the label goes "
                            "(for example: a photo of a {}).")
        if t not in out:
            out.append(t)
    return out or list(DEFAULT_TEMPLATES)


def prompt_label(class_name: str) -> str:
    """A dataset class name as words ("golden_retriever" → "golden retriever")."""
    return " ".join(str(class_name).replace("_", " ").split())


def scoring(model) -> str:
    """"sigmoid" for SigLIP, "softmax" for CLIP."""
    return "sigmoid" if "siglip" in str(getattr(model.config, "model_type", "")) else "softmax"


def is_zero_shot(name, settings: Settings | None = None) -> bool:
    """Whether ``name`` (a key, label, folder or Hub id) is a CLIP/SigLIP model — decided from the
    catalog or the folder's config.json, without loading anything (a Hub id outside the catalog:
    from its name)."""
    from tlweb.engine.listing import resolve

    if not name or not str(name).strip():
        return False
    try:
        spec = resolve(str(name), settings=settings or get_settings())
    except ModelError:
        return False
    if spec.source == "hub":
        low = spec.hub_id.lower()
        return any(f in low for f in FAMILIES)
    return spec.task == ZERO_SHOT_CLASSIFICATION


def load_zero_shot(model, settings: Settings | None = None):
    """A :class:`~tlweb.engine.loading.LoadedModel` of a CLIP or SigLIP checkpoint."""
    from tlweb.engine.loading import load

    loaded = load(model, task=ZERO_SHOT_CLASSIFICATION, settings=settings)
    mt = str(getattr(loaded.model.config, "model_type", ""))
    if mt not in FAMILIES:
        raise ModelError(f"'{loaded.spec.key}' is a {mt} model; zero-shot classification here takes CLIP or SigLIP.")
    return loaded


# --------------------------------------------------------------------------- embeddings and scores


def _unit(x):
    return x / x.norm(dim=-1, keepdim=True).clamp_min(1e-12)


def _pooled(out):
    return out.pooler_output if hasattr(out, "pooler_output") else out


def text_embeddings(loaded, labels: list[str], templates: list[str]):
    """[labels, dim] float32 CPU: the normalised mean of each label's normalised prompt embeddings."""
    import torch

    model, tok = loaded.model, loaded.processor.tokenizer
    texts = [t.format(label) for label in labels for t in templates]
    max_len = int(getattr(model.config.text_config, "max_position_embeddings", 77) or 77)
    if scoring(model) == "sigmoid":
        kw = {"padding": "max_length", "max_length": min(SIGLIP_TEXT_LEN, max_len)}
    else:
        kw = {"padding": True, "max_length": max_len}
    enc = tok(texts, truncation=True, return_tensors="pt", **kw)
    enc = {k: v.to(loaded.device) for k, v in enc.items() if k in ("input_ids", "attention_mask")}
    with torch.inference_mode():
        emb = _unit(_pooled(model.get_text_features(**enc)).float().cpu())
    emb = emb.view(len(labels), len(templates), -1).mean(1)
    return _unit(emb)


def image_embeddings(loaded, pixel_values):
    """[N, dim] float32 CPU, normalised."""
    import torch

    dtype = next(loaded.model.parameters()).dtype
    with torch.inference_mode():
        out = loaded.model.get_image_features(pixel_values=pixel_values.to(loaded.device, dtype=dtype))
    return _unit(_pooled(out).float().cpu())


def logit_params(model) -> tuple[float, float]:
    """(exp(logit_scale), logit_bias) — the bias is 0 for CLIP."""
    scale = float(model.logit_scale.detach().float().exp())
    bias = getattr(model, "logit_bias", None)
    return scale, float(bias.detach().float()) if bias is not None else 0.0


def score(image_emb, text_emb, scale: float, bias: float, kind: str):
    """Probabilities [N, labels]: softmax (CLIP) or sigmoid (SigLIP) of the scaled similarities."""
    import torch

    logits = scale * (image_emb @ text_emb.T) + bias
    return torch.sigmoid(logits) if kind == "sigmoid" else torch.softmax(logits, dim=-1)


# --------------------------------------------------------------------------- one picture


@dataclass
class ZeroShotResult(ClassifyResult):
    labels: list[str] = field(default_factory=list)
    templates: list[str] = field(default_factory=list)
    scoring: str = "softmax"

    def as_dict(self) -> dict:
        return {**super().as_dict(), "labels": list(self.labels), "templates": list(self.templates),
                "scoring": self.scoring}


@inference_task(ZERO_SHOT_CLASSIFICATION)
def classify_labels(image, model, labels, templates=None, top_k: int | None = None,
                    settings: Settings | None = None) -> ZeroShotResult:
    """Score one image (path, bytes, PIL, array) against the user's ``labels`` with CLIP/SigLIP."""
    from tlweb.engine.images import load_image
    from tlweb.engine.loading import run_facts

    settings = settings or get_settings()
    loaded = load_zero_shot(model, settings)
    kind = scoring(loaded.model)
    labels = parse_labels(labels, minimum=2 if kind == "softmax" else 1)
    templates = parse_templates(templates) if templates else [DEFAULT_TEMPLATE]
    side = loaded.spec.input_size
    img = load_image(image, settings, draft=int(side * 1.15) + 1 if side else None)
    t0 = time.perf_counter()
    pixels = loaded.processor.image_processor(images=[img], return_tensors="pt")["pixel_values"]
    probs = score(image_embeddings(loaded, pixels), text_embeddings(loaded, labels, templates),
                  *logit_params(loaded.model), kind)[0]
    order = probs.argsort(descending=True).tolist()
    k = len(labels) if not top_k else max(1, min(int(top_k), len(labels)))
    preds = [Prediction(labels[i], float(probs[i])) for i in order[:k]]
    return ZeroShotResult(predictions=preds, latency_ms=(time.perf_counter() - t0) * 1000, **run_facts(loaded),
                          labels=labels, templates=templates, scoring=kind)


# --------------------------------------------------------------------------- a whole split


@dataclass
class ZeroShotEval:
    """The zero-shot row: a test split classified from its class names alone."""

    model: str
    accuracy: float
    macro_f1: float
    metrics: dict
    images: int
    templates: list[str]
    scoring: str
    latency_ms: float | None  # image tower, one image (the label embeddings are computed once)
    params: int | None  # image tower + its projection
    gflops: float | None
    seconds: float  # image-embedding time when computed (the stored one on a cache hit)
    cached: bool
    predictions: list[int] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"model": self.model, "zero_shot_accuracy": round(self.accuracy, 6), "macro_f1": round(self.macro_f1, 6),
                "images": self.images, "templates": list(self.templates), "scoring": self.scoring,
                "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 4), "params": self.params,
                "gflops": None if self.gflops is None else round(self.gflops, 6), "feature_s": round(self.seconds, 3),
                "cached": self.cached}


class _ZeroShotBackbone:
    """Processor at once, model on first need (a cache hit never loads it)."""

    def __init__(self, name, settings: Settings):
        from tlweb.engine import loading

        self.settings = settings
        self.spec, config = loading.load_config(name, task=ZERO_SHOT_CLASSIFICATION, settings=settings)
        if config.model_type not in FAMILIES:
            raise ModelError(f"'{self.spec.key}' is not a CLIP or SigLIP model, so it cannot be the zero-shot row.")
        self.kind = "sigmoid" if "siglip" in config.model_type else "softmax"
        self.processor = loading.load_processor(self.spec, task=ZERO_SHOT_CLASSIFICATION, settings=settings)
        self.image_processor = getattr(self.processor, "image_processor", self.processor)
        device = loading.pick_device(settings)
        self.device, self.precision = device, str(loading.pick_dtype(device, settings)).replace("torch.", "")
        self._loaded = None

    @property
    def name(self) -> str:
        return self.spec.key if self.spec.source in ("catalog", "demo", "run") else self.spec.hub_id

    @property
    def loaded(self):
        if self._loaded is None:
            self._loaded = load_zero_shot(self.spec, self.settings)
        return self._loaded


def zero_shot_eval(data, model, templates=None, split: str = "test", settings: Settings | None = None,
                   on_progress=None, should_stop=None, batch_size: int | None = None) -> ZeroShotEval | None:
    """Classify ``split`` of ``data`` from its class names with a CLIP/SigLIP ``model``."""
    import torch

    from tlweb.engine.accel import Normalizer
    from tlweb.engine.data import encode_split, processor_geometry
    from tlweb.engine.features import _COUNT, cached_blob, cached_json, model_identity, time_forward
    from tlweb.engine.metrics import classification_metrics

    settings = settings or get_settings()
    templates = parse_templates(templates)
    zb = _ZeroShotBackbone(model, settings)
    enc = encode_split(data, split, zb.image_processor, settings)
    ident = model_identity(zb.spec)
    geometry = processor_geometry(zb.image_processor)
    base = {"zeroshot": ident, "geometry": geometry, "precision": zb.precision, "device": zb.device, "v": 1}
    stop = should_stop or (lambda: False)

    def images():
        loaded = zb.loaded
        norm = Normalizer(zb.image_processor, loaded.device)
        bs = batch_size or (256 if loaded.device.startswith("cuda") else 64)
        t0, out = time.perf_counter(), []
        for i in range(0, len(enc), bs):
            if stop():
                return None
            out.append(image_embeddings(loaded, norm(enc.pixels[i:i + bs].to(loaded.device))))
            _COUNT["forward"] += 1
            if on_progress:
                on_progress(min(len(enc), i + bs), len(enc))
        scale, bias = logit_params(loaded.model)
        return {"features": torch.cat(out), "seconds": time.perf_counter() - t0, "scale": scale, "bias": bias}

    blob, hit = cached_blob({**base, "data": data.fingerprint(), "split": split, "n": len(enc)}, images, settings)
    if blob is None:
        return None
    labels = [prompt_label(n) for n in data.class_names]

    def texts():
        _COUNT["forward"] += 1
        return text_embeddings(zb.loaded, labels, templates)

    text, _ = cached_blob({**base, "labels": labels, "templates": templates}, texts, settings)

    def tower_and_probe():
        from tlweb.engine.features import probe_pixels

        m = zb.loaded.model
        x = probe_pixels(zb.image_processor, zb.loaded.device).to(next(m.parameters()).dtype)
        return m, (lambda: m.get_image_features(pixel_values=x)), x

    def measure() -> dict:  # what does not change: counted once, cached
        from tlweb.engine.compare import count_flops

        m, _tower, x = tower_and_probe()
        flops = count_flops(lambda pixel_values: m.get_image_features(pixel_values=pixel_values), x)
        params = sum(p.numel() for p in m.vision_model.parameters())
        proj = getattr(m, "visual_projection", None)
        params += sum(p.numel() for p in proj.parameters()) if proj is not None else 0
        return {"params": int(params), "gflops": flops / 1e9}

    facts, _ = cached_json(base, measure, settings, prefix="zeroshot-facts-")
    # the latency is timed afresh on every run (median of warm passes), like the backbones' (features.model_facts)
    _m, tower, _x = tower_and_probe()
    facts["latency_ms"], facts["runs"] = time_forward(tower, zb.loaded.device, _NoAutocast(), 20, 1.0)
    probs = score(blob["features"], text["features"], blob["scale"], blob["bias"], zb.kind)
    pred = probs.argmax(-1).tolist()
    m = classification_metrics(pred, enc.labels.tolist(), data.class_names)
    return ZeroShotEval(model=zb.name, accuracy=m["accuracy"], macro_f1=m["macro_f1"], metrics=m, images=len(enc),
                        templates=templates, scoring=zb.kind, latency_ms=facts.get("latency_ms"),
                        params=facts.get("params"), gflops=facts.get("gflops"), seconds=float(blob.get("seconds", 0.0)),
                        cached=hit, predictions=pred)


class _NoAutocast:
    """The inference loader already placed the model in its dtype: time it as it is."""

    @staticmethod
    def autocast():
        import contextlib

        return contextlib.nullcontext()


def zero_shot_accuracy(data, model, templates=None, settings: Settings | None = None) -> float:
    """Test accuracy of ``model`` on ``data`` from the class names alone (0..1) — the dashed
    "0 images per class" line of the data-efficiency curve."""
    result = zero_shot_eval(data, model, templates, settings=settings)
    if result is None:
        raise DataError("The zero-shot evaluation was stopped.")
    return result.accuracy
