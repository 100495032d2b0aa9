"""Image classification with any catalog model, Hub id or local folder."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tlweb.catalog import CLASSIFICATION, ModelSpec
from tlweb.config import Settings, get_settings
from tlweb.engine.images import load_image
from tlweb.engine.loading import LoadedModel, RunFacts, facts_json, load, run_facts
from tlweb.engine.pipeline import inference_task


@dataclass
class Prediction:
    label: str
    score: float

    def as_dict(self) -> dict:
        return {"label": self.label, "score": round(float(self.score), 6)}


@dataclass
class ClassifyResult(RunFacts):
    """``latency_ms``: preprocessing + forward + softmax, this call (warm: a second pass after a cold one)."""

    predictions: list[Prediction]
    cold_latency_ms: float | None = None  # the model's first call (one-time set-up), when this was it

    def as_dict(self) -> dict:
        out = {**facts_json(self), "predictions": [p.as_dict() for p in self.predictions]}
        if self.cold_latency_ms is not None:
            out["cold_latency_ms"] = round(self.cold_latency_ms, 3)
        return out


def label_name(config, idx: int) -> str:
    id2label = getattr(config, "id2label", None) or {}
    name = id2label.get(idx, id2label.get(str(idx)))
    return str(name) if name is not None else f"class {idx}"


def run_logits(loaded: LoadedModel, images: list):
    """Preprocess a batch of RGB PIL images and return float32 logits on the CPU."""
    import torch

    inputs = loaded.processor(images=images, return_tensors="pt")
    pixel_values = inputs["pixel_values"].to(loaded.device, dtype=next(loaded.model.parameters()).dtype)
    with torch.inference_mode():
        out = loaded.model(pixel_values=pixel_values)
    return out.logits.float().cpu()


def probabilities(loaded: LoadedModel, logits):
    import torch

    if getattr(loaded.model.config, "problem_type", None) == "multi_label_classification":
        return torch.sigmoid(logits)
    return torch.softmax(logits, dim=-1)


def top_k(loaded: LoadedModel, probs_row, k: int) -> list[Prediction]:
    import torch

    k = max(1, min(int(k), probs_row.shape[-1]))
    scores, idx = torch.topk(probs_row, k)
    return [Prediction(label_name(loaded.model.config, int(i)), float(s)) for s, i in zip(scores, idx)]


@inference_task(CLASSIFICATION)
def classify(image, model: str | ModelSpec, top_k_n: int = 5, settings: Settings | None = None) -> ClassifyResult:
    """Classify one image (path, bytes, PIL or array) with ``model``; returns the top-k labels."""
    settings = settings or get_settings()
    loaded = load(model, task=CLASSIFICATION, settings=settings)
    # The processor shrinks the picture to the model's input anyway: let big JPEGs decode at
    # reduced scale (the short side stays >= 1.15x the input, enough for resize + centre crop).
    side = loaded.spec.input_size
    img = load_image(image, settings, draft=int(side * 1.15) + 1 if side else None)
    return classify_loaded(img, loaded, top_k_n)


def _timed(img, loaded: LoadedModel, top_k_n: int) -> tuple[list[Prediction], float]:
    t0 = time.perf_counter()
    logits = run_logits(loaded, [img])
    preds = top_k(loaded, probabilities(loaded, logits)[0], top_k_n)
    return preds, (time.perf_counter() - t0) * 1000


def classify_loaded(img, loaded: LoadedModel, top_k_n: int = 5, warm_up: bool = True) -> ClassifyResult:
    """Top-k on a loaded model. A model's first call pays one-time set-up (kernel selection,
    memory allocation), so with ``warm_up`` that call is timed as ``cold_latency_ms`` and run
    once more for ``latency_ms``: both numbers are honest, and the headline one is typical."""
    preds, latency_ms = _timed(img, loaded, top_k_n)
    cold = None
    if not loaded.warm:
        loaded.warm = True
        if warm_up:
            cold = latency_ms
            preds, latency_ms = _timed(img, loaded, top_k_n)
    return ClassifyResult(predictions=preds, latency_ms=latency_ms, cold_latency_ms=cold, **run_facts(loaded))
