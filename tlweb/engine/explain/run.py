"""``explain(image, model, method, …)``: one picture, one model, one method → an :class:`ExplainResult`.

The five methods' runners are declared here, each with its record (:func:`~tlweb.engine.explain.registry.explain_method`:
key, label, help, flags), in the order the tab shows them; :func:`explain_loaded` dispatches through the record."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace

import numpy as np

from tlweb.catalog import CLASSIFICATION, ModelSpec
from tlweb.config import Settings, get_settings
from tlweb.engine.classify import Prediction, label_name, probabilities, top_k
from tlweb.engine.explain import methods as M
from tlweb.engine.explain.hooks import instrumented
from tlweb.engine.explain.inputs import model_input
from tlweb.engine.explain.layers import (
    ExplainError,
    LayerInfo,
    as_spatial,
    attention_refusal,
    blocks,
    has_attention,
    layer_infos,
    patch_size,
)
from tlweb.engine.explain.maps import ExplainMap, pca_rgb
from tlweb.engine.explain.registry import explain_method, get_method
from tlweb.engine.images import load_image
from tlweb.engine.loading import LoadedModel, RunFacts, facts_json, load, run_facts
from tlweb.engine.zerogpu import gpu_task

TOP_K = 5
TOP_CHANNELS = 8
RANDOM_SEED = 0


@dataclass
class ExplainResult(RunFacts):
    method: str
    map: ExplainMap  # the main map (at the original size on demand: map.full(); peak: map.peak)
    layer: int | None  # index into ``layers`` (None: occlusion reads no layer)
    layers: list[LayerInfo]
    target: str  # the class explained (class-agnostic methods: the model's top-1)
    target_index: int
    predictions: list[Prediction]  # the model's top-5 on this picture (squashed to its input)
    width: int
    height: int
    head: int | None = None  # attention: the head shown (None: mean of the heads)
    num_heads: int | None = None
    strip: list[ExplainMap] = field(default_factory=list)  # one small map per layer, input side first
    channels: list[ExplainMap] = field(default_factory=list)  # features: the most active channels
    pca: np.ndarray | None = None  # features: h×w×3 uint8, first three principal components as RGB
    random_weights: bool = False  # computed on a random-init copy (the sanity check)
    notes: list[str] = field(default_factory=list)

    @property
    def layer_info(self) -> LayerInfo | None:
        return self.layers[self.layer] if self.layer is not None and self.layer < len(self.layers) else None

    @property
    def layer_name(self) -> str | None:
        info = self.layer_info
        return info.name if info else None

    @property
    def class_agnostic(self) -> bool:
        return not get_method(self.method).class_specific

    def as_dict(self) -> dict:
        return {
            **facts_json(self),
            "method": self.method,
            "layer": self.layer,
            "layer_name": self.layer_name,
            "target": self.target,
            "target_index": self.target_index,
            "class_agnostic": self.class_agnostic,
            "head": self.head,
            "num_heads": self.num_heads,
            "map_size": [self.width, self.height],
            "peak": list(self.map.peak),
            "map_grid": list(self.map.grid.shape),
            "random_weights": self.random_weights,
            "predictions": [p.as_dict() for p in self.predictions],
            "layers": [info.as_dict() for info in self.layers],
            "notes": list(self.notes),
        }


# --------------------------------------------------------------------------- loading


def load_for_explain(model: str | ModelSpec, settings: Settings | None = None) -> LoadedModel:
    """The classifier with eager attention (attention weights are returned), as its own cache entry."""
    return load(model, task=CLASSIFICATION, settings=settings or get_settings(), attn_implementation="eager")


_RANDOM: dict[tuple, LoadedModel] = {}
_RANDOM_LOCK = threading.Lock()


def random_twin(loaded: LoadedModel) -> LoadedModel:
    """The same architecture with fresh random weights (``from_config``, seed 0), for the sanity check of
    Adebayo et al. 2018: a faithful explanation changes when what the model learned is destroyed.
    The latest one is kept, so toggling back and forth costs one build."""
    import torch
    from transformers import AutoModelForImageClassification

    key = (loaded.spec.hub_id, loaded.device, loaded.dtype)
    with _RANDOM_LOCK:
        hit = _RANDOM.get(key)
        if hit is not None:
            return hit
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(RANDOM_SEED)
            model = AutoModelForImageClassification.from_config(loaded.model.config, attn_implementation="eager")
        model.eval()
        model = model.to(device=loaded.device, dtype=next(loaded.model.parameters()).dtype)
        twin = replace(loaded, model=model, evicted=[])
        _RANDOM.clear()
        _RANDOM[key] = twin
        return twin


def describe(model: str | ModelSpec, settings: Settings | None = None) -> dict:
    """What the controls need before a run: the layers, the attention heads, whether attention applies."""
    loaded = load_for_explain(model, settings)
    name = loaded.spec.key if loaded.spec.source != "catalog" else loaded.spec.hub_id
    try:
        names = [n for n, _ in blocks(loaded.model)]
    except ExplainError:
        names = []
    heads = getattr(loaded.model.config, "num_attention_heads", None)
    refusal = attention_refusal(loaded.model, name)
    return {"layers": names, "heads": heads if isinstance(heads, int) and refusal is None else None,
            "attention": refusal is None, "refusal": refusal,
            "labels": [label_name(loaded.model.config, i) for i in range(int(loaded.model.config.num_labels))]}


# --------------------------------------------------------------------------- targets and layers


def resolve_target(loaded: LoadedModel, target) -> int | None:
    """A class index from a label name (any case), an index, or "class N"; None → the top-1."""
    if target is None or (isinstance(target, str) and target.strip().lower() in ("", "top-1", "top1", "auto")):
        return None
    n = int(getattr(loaded.model.config, "num_labels", 0) or 0)
    if isinstance(target, (int, np.integer)):
        idx = int(target)
    else:
        text = str(target).strip()
        names = {label_name(loaded.model.config, i).lower(): i for i in range(n)}
        if text.lower() in names:
            return names[text.lower()]
        low = text.lower().removeprefix("class ").strip()
        if not low.lstrip("-").isdigit():
            sample = ", ".join(label_name(loaded.model.config, i) for i in range(min(n, 8)))
            raise ExplainError(f"'{text}' is not one of this model's classes (it knows {n}: {sample}"
                               f"{' …' if n > 8 else ''}).")
        idx = int(low)
    if not 0 <= idx < n:
        raise ExplainError(f"Class index {idx} is out of range: this model has {n} classes (0–{n - 1}).")
    return idx


def pick_layer(layer, names: list[str]) -> int | None:
    """An index into ``names`` from an int (negative counts from the end) or a module name; None → default."""
    if layer is None or (isinstance(layer, str) and layer.strip().lower() in ("", "auto", "default")):
        return None
    n = len(names)
    if isinstance(layer, str) and not layer.strip().lstrip("-").isdigit():
        if layer.strip() in names:
            return names.index(layer.strip())
        raise ExplainError(f"This model has no layer '{layer}'; its layers are {', '.join(names[:4])}"
                           f"{' …' if n > 4 else ''} (or give an index 0–{n - 1}).")
    idx = int(layer)
    if not -n <= idx < n:
        raise ExplainError(f"Layer {idx} does not exist: this model has {n} layers (0–{n - 1}, or -1 for the last).")
    return idx % n


# --------------------------------------------------------------------------- running


@gpu_task(images="image", models="model", image_factor=8.0)  # forward + backward (+ Captum, occlusion batches)
def explain(image, model: str | ModelSpec, method: str = "gradcam", *, layer=None, head: int | None = None,
            target=None, random_weights: bool = False, strip: bool = False, settings: Settings | None = None,
            **options) -> ExplainResult:
    """Explain one image (path, bytes, PIL or array) with ``model``: see :func:`explain_loaded`."""
    settings = settings or get_settings()
    get_method(method)  # an unknown method is a sentence before any model loads
    loaded = load_for_explain(model, settings)
    img = load_image(image, settings)
    return explain_loaded(img, loaded, method, layer=layer, head=head, target=target, random_weights=random_weights,
                          strip=strip, **options)


def explain_loaded(img, loaded: LoadedModel, method: str, *, layer=None, head: int | None = None, target=None,
                   random_weights: bool = False, strip: bool = False, top_channels: int = TOP_CHANNELS,
                   occlusion_window: int | None = None) -> ExplainResult:
    """The map of ``method`` for an RGB PIL image.

    ``layer``: index (negative from the end) or module name; None → the method's default (the last
    layer whose map depends on the input — for a ViT whose head reads only the CLS token, Grad-CAM
    uses the block before the last). ``head``: attention head (None: mean). ``target``: class label
    or index (None: top-1). ``strip``: also one small map per layer. ``random_weights``: the same
    architecture re-initialised (the sanity check)."""
    record = get_method(method)
    name = loaded.spec.key if loaded.spec.source != "catalog" else loaded.spec.hub_id
    if record.attention:
        refusal = attention_refusal(loaded.model, name)
        if refusal:
            raise ExplainError(refusal)
    subject = random_twin(loaded) if random_weights else loaded
    t0 = time.perf_counter()
    inp = model_input(img, subject)
    want = resolve_target(subject, target)
    model = subject.model
    stack_names = [n for n, _ in blocks(model)] if record.layers else []
    with instrumented(model) as probe:
        if stack_names:
            probe.capture({n: m for n, m in model.named_modules() if n in set(stack_names)})
        parts = record.runner(subject, inp, probe, stack_names, want, layer=layer, head=head, strip=strip,
                              top_channels=top_channels, window=occlusion_window)
    logits = parts.pop("logits")
    probs = probabilities(subject, logits)[0]
    preds = top_k(subject, probs, TOP_K)
    t_idx = parts.pop("target")
    notes = parts.pop("notes", [])
    if parts["map"].is_flat and not any("empty" in n for n in notes):
        notes.append("This map is flat: nothing in the picture changes it, so there is nothing to show (typical of a "
                     "random-weight demo model whose signal dies out before the head).")
    if random_weights:
        notes.insert(0, "Random weights (sanity check): the same architecture re-initialised with seed 0; its "
                        "predictions are noise, and a faithful explanation should look different from the trained one.")
    latency_ms = (time.perf_counter() - t0) * 1000
    return ExplainResult(method=method, target=label_name(model.config, t_idx), target_index=t_idx,
                         predictions=preds, width=inp.width, height=inp.height, latency_ms=latency_ms,
                         random_weights=random_weights, notes=notes, **parts, **run_facts(loaded))


def _emap(grid, inp, label: str = "", layer: int | None = None, stretch: bool = False) -> ExplainMap:
    return ExplainMap(np.asarray(grid, dtype=np.float32), inp.width, inp.height, label, layer, stretch)


@explain_method(
    "gradcam", "Grad-CAM", name="Grad-CAM", before_after=True,
    help="**Grad-CAM** (Selvaraju et al., 2017) asks which parts of a layer's output raise the chosen class's "
         "score: each channel is weighted by the average gradient of the score with respect to it, the weighted "
         "channels are summed and the negative part dropped. Deep layers give coarse but class-specific maps; "
         "early layers are sharp but light up edges for any class. On ViTs the patch tokens are laid out on "
         "their grid; there Grad-CAM is less reliable than on CNNs (Chefer et al., 2021), so compare it with "
         "rollout and occlusion. When the head reads only the CLS token, the last block is skipped.",
    cost="one forward and one backward pass, then a map for every layer")
def _gradcam(loaded, inp, probe, names, want, *, layer, strip, **_):
    """One pass with gradients for every layer when the strip is wanted or the layers give tokens (the
    hand-written Grad-CAM); a plain feature-map layer's main map goes through Captum's LayerGradCam."""
    model = loaded.model
    patch = patch_size(model.config)
    idx = pick_layer(layer, names)
    maps = None
    if strip or patch is not None or has_attention(model):
        logits, t, maps, outputs = M.gradcam_all(model, inp.pixel_values, probe, names, want, inp.side, patch)
    else:
        first = M.forward(model, inp.pixel_values, probe)
        outputs, logits = first.outputs, first.logits.detach().float().cpu()
        t = M.top1(logits) if want is None else want
    infos = layer_infos(outputs, names, inp.side, inp.side, patch)
    notes = []
    token_model = infos[-1].kind == "tokens"
    if token_model and maps is None:  # tokens from a model not recognised above
        logits, t, maps, outputs = M.gradcam_all(model, inp.pixel_values, probe, names, want, inp.side, patch)
    if idx is None:
        idx = len(names) - 1
        if maps is not None and token_model:
            live = [i for i, g in enumerate(maps) if float(np.abs(g).max()) > 0]
            if live and live[-1] != idx:
                notes.append(f"The classifier reads only the CLS token after the last block, so Grad-CAM uses "
                             f"{infos[live[-1]].label}, the last layer whose patch tokens reach the class score.")
                idx = live[-1]
    if _single_tensor(outputs[names[idx]]):  # a plain feature map: Captum's LayerGradCam
        main = M.gradcam_captum(model, inp.pixel_values, dict(model.named_modules())[names[idx]], t)
    else:
        main = maps[idx]
    if float(np.abs(main).max()) == 0:
        notes.append(f"The class score does not depend on {infos[idx].label}'s patch tokens (or no part of it "
                     "raises the score), so this Grad-CAM map is empty; pick an earlier layer.")
    out = {"logits": logits, "target": t, "notes": notes, "layers": infos, "layer": idx,
           "map": _emap(main, inp, infos[idx].label, idx)}
    if strip and maps is not None:
        out["strip"] = [_emap(g, inp, infos[i].label, i) for i, g in enumerate(maps)]
    return out


def _single_tensor(output) -> bool:
    import torch

    return isinstance(output, torch.Tensor) and output.dim() == 4


@explain_method(
    "rollout", "Attention rollout", name="Attention rollout", attention=True, cnn=False, class_specific=False,
    before_after=True,
    help="**Attention rollout** (Abnar & Zuidema, 2020) follows attention through the layers: each layer's mean "
         "attention plus the skip connection, multiplied from the first layer up to the chosen one, says how "
         "much of each patch has flowed into the CLS token. It does not depend on the class: it shows what the "
         "model gathers from the picture.",
    cost="one forward pass, following the attention through every layer")
def _rollout(loaded, inp, probe, names, want, **options):
    return _attention(loaded, inp, probe, names, want, rolled=True, **options)


@explain_method(
    "attention", "Attention (one layer, one head)", name="Attention", attention=True, cnn=False,
    class_specific=False,
    help="**Attention** shows, for one layer and one head (or the mean of the heads), how strongly the CLS "
         "token — the summary the classifier reads — attends to each image patch. It shows what the model "
         "*mixes*, not proof of why it decided: a layer can attend broadly and still pass on the answer. "
         "Transformers with a CLS token only (ViT, DeiT, BEiT, DINOv2); Swin attends within windows.",
    cost="one forward pass, reading the attention of every layer")
def _one_layer_attention(loaded, inp, probe, names, want, **options):
    return _attention(loaded, inp, probe, names, want, rolled=False, **options)


def _attention(loaded, inp, probe, names, want, *, rolled: bool, layer, head, strip, **_):
    """CLS-to-patch attention of one layer and head, or its rollout through the layers (``rolled``)."""
    model = loaded.model
    patch = patch_size(model.config)
    p = M.forward(model, inp.pixel_values, probe, attentions=True)
    infos = layer_infos(p.outputs, names, inp.side, inp.side, patch)
    first = next(i for i in infos if i.kind == "tokens") if any(i.kind == "tokens" for i in infos) else None
    if first is None:
        raise ExplainError("This model's layers give no tokens, so there is no CLS-to-patch attention to show.")
    tokens = first.shape[0]
    stack = M.attention_stack(p.attentions or (), tokens)
    n_layers, n_heads = stack.shape[0], stack.shape[1]
    if len(infos) != n_layers:  # attention per layer must line up with the layers listed
        infos = [LayerInfo(i, f"attention.{i}", "tokens", (tokens, first.shape[1]), first.grid, first.prefix)
                 for i in range(n_layers)]
    idx = pick_layer(layer, [i.name for i in infos])
    idx = n_layers - 1 if idx is None else idx
    notes = []
    if head is not None and not 0 <= int(head) < n_heads:
        raise ExplainError(f"Head {head} does not exist: this model has {n_heads} heads per layer (0–{n_heads - 1}).")
    grid, prefix = first.grid, first.prefix
    if rolled:
        rolled = M.rollout(stack)
        maps = [M.rollout_map(rolled, i, prefix, grid) for i in range(n_layers)]
        if head is not None:
            notes.append("Rollout always averages the heads (as Abnar & Zuidema do); the head choice applies to "
                         "single-layer attention.")
            head = None
    else:
        maps = [M.cls_attention(stack, i, head, prefix, grid) for i in range(n_layers)]
    if getattr(model.config, "use_mean_pooling", False) or getattr(model.config, "model_type", "") == "dinov2":
        notes.append("This model's head also reads the average of the patch tokens, not only the CLS token: the CLS "
                     "token's attention shows what it gathers, not everything the classifier reads.")
    logits = p.logits.detach().float().cpu()
    t = M.top1(logits) if want is None else want
    suffix = "" if head is None else f" · head {head}"
    out = {"logits": logits, "target": t, "notes": notes, "layers": infos, "layer": idx, "head": head,
           "num_heads": n_heads, "map": _emap(maps[idx], inp, infos[idx].label + suffix, idx, stretch=True)}
    if strip:
        out["strip"] = [_emap(g, inp, infos[i].label, i, stretch=True) for i, g in enumerate(maps)]
    return out


@explain_method(
    "occlusion", "Occlusion", name="Occlusion", layers=False,
    help="**Occlusion** (Zeiler & Fergus, 2014) hides one square of the picture at a time (filled with the "
         "average colour) and measures how much the class's probability drops. It only uses the model's "
         "output, so it works for every model and is easy to trust — but it is slow: one forward pass per "
         "square (about 120 for the default grid).",
    cost="one forward pass for each hidden square of the picture (about 120)")
def _occlusion(loaded, inp, probe, names, want, *, window, **_):
    model = loaded.model
    p = M.forward(model, inp.pixel_values, probe)
    logits = p.logits.detach().float().cpu()
    t = M.top1(logits) if want is None else want
    grid = M.occlusion(model, inp.pixel_values, t, lambda lg: probabilities(loaded, lg), window=window)
    return {"logits": logits, "target": t, "layers": [], "layer": None, "notes": [],
            "map": _emap(grid, inp, "occlusion")}


@explain_method(
    "features", "Feature maps", name="Feature maps", class_specific=False,
    help="**Feature maps** show what a layer computes: its most active channels on this picture (blue = low, "
         "red = high; the main map is their mean). The PCA picture colours each position by the first three "
         "principal components of its feature vector, so regions the model groups together share a colour "
         "(the DINO-style view). Early layers respond to colours and edges, deep layers to parts and objects.",
    cost="one forward pass, reading what every layer computes")
def _features(loaded, inp, probe, names, want, *, layer, strip, top_channels, **_):
    model = loaded.model
    patch = patch_size(model.config)
    p = M.forward(model, inp.pixel_values, probe)
    infos = layer_infos(p.outputs, names, inp.side, inp.side, patch)
    idx = pick_layer(layer, names)
    idx = len(names) - 1 if idx is None else idx
    spatial, _ = as_spatial(p.outputs[names[idx]], inp.side, inp.side, patch)
    mean, channels, feats = M.feature_maps(spatial, top_channels)
    logits = p.logits.detach().float().cpu()
    t = M.top1(logits) if want is None else want
    out = {"logits": logits, "target": t, "layers": infos, "layer": idx,
           "map": _emap(mean, inp, f"{infos[idx].label} · mean of the top {len(channels)} channels", idx, stretch=True),
           "channels": [_emap(g, inp, f"channel {c}", idx, stretch=True) for c, g in channels],
           "pca": pca_rgb(feats), "notes": []}
    if strip:
        out["strip"] = []
        for i, n in enumerate(names):
            sp, _ = as_spatial(p.outputs[n], inp.side, inp.side, patch)
            out["strip"].append(_emap(M.feature_maps(sp, top_channels)[0], inp, infos[i].label, i, stretch=True))
    return out
