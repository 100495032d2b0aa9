"""The five methods, as arrays on the model's grid. Each runs inside
:func:`tlweb.engine.explain.hooks.instrumented` (the caller holds the model's lock).

- **Grad-CAM** (Selvaraju et al. 2017): the class score's gradient, averaged over the map, weights
  each channel of a layer's output; the map is ReLU(Σ weight·channel). CNN layers go through
  Captum's ``LayerGradCam``. Token layers (ViT, DeiT, BEiT, DINOv2, Swin) are reshaped to the
  patch grid first — Captum reads dimension 1 as channels, which for ``[B, tokens, C]`` would be the
  tokens — so :func:`gradcam_all` computes the same formula by hand (tested against Captum on CNN
  layers and against numpy on tokens), for every layer in one forward + backward pass.
- **Attention**: the CLS token's attention over the patch tokens, for one layer and one head (or
  the mean of the heads); needs a model loaded with eager attention.
- **Rollout** (Abnar & Zuidema 2020): per layer, the heads' mean attention plus the identity for
  the residual connection, rows renormalised, multiplied from the first layer up.
- **Occlusion** (Zeiler & Fergus 2014) through Captum's ``Occlusion``: how much the class's
  probability drops when a square of the input is replaced by the dataset mean (0 after
  normalisation). Needs nothing from the model but its output, so it works for any classifier.
- **Feature maps**: a layer's output channels; the most active ones, their mean, and a
  3-component PCA of the per-position feature vectors as RGB.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tlweb.engine.explain.layers import ExplainError, as_spatial

OCCLUSION_WINDOWS = 6  # the occluding square is 1/6 of the input side, moved by half its side


@dataclass
class Pass:
    logits: object  # float32 [1, K] on the CPU
    outputs: dict  # block name → raw output of that block in this pass
    attentions: tuple | None = None


def forward(model, pixel_values, probe, attentions: bool = False, grad: bool = False) -> Pass:
    import torch

    probe.clear()
    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx:
        kwargs = {"output_attentions": True} if attentions else {}
        out = model(pixel_values=pixel_values, **kwargs)
    atts = getattr(out, "attentions", None) if attentions else None
    return Pass(logits=out.logits, outputs=dict(probe.outputs), attentions=atts)


def top1(logits) -> int:
    """The top class as :func:`tlweb.engine.classify.top_k` ranks it (ties: the same order)."""
    import torch

    return int(torch.topk(logits[0].detach().float(), 1).indices[0])


def _tokens_to_spatial(t, kind: str, prefix: int, grid: tuple[int, int]):
    if kind == "conv":
        return t
    b, _, c = t.shape
    return t[:, prefix:, :].reshape(b, grid[0], grid[1], c).permute(0, 3, 1, 2)


def gradcam_formula(acts, grads):
    """ReLU(Σ_c mean_hw(∂y/∂A_c) · A_c) for acts/grads [B, C, h, w] → [B, h, w]."""
    import torch

    weights = grads.mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * acts).sum(dim=1))


def gradcam_all(model, pixel_values, probe, names: list[str], target: int | None, side: int, patch: int | None):
    """One forward + backward: the logits, the target used, a Grad-CAM grid per layer in ``names``
    (float32 numpy; all zeros where the class score does not depend on that layer) and the layers' outputs."""
    import torch

    x = pixel_values.detach().requires_grad_(True)  # activations need a graph even with frozen weights
    p = forward(model, x, probe, grad=True)
    logits = p.logits
    t = top1(logits) if target is None else int(target)
    spatial = [as_spatial(p.outputs[n], side, side, patch) for n in names]
    raws = [info[2] for _, info in spatial]
    with torch.enable_grad():
        grads = torch.autograd.grad(logits[0, t], raws, allow_unused=True)
    maps = []
    for (acts, (kind, prefix, raw)), g in zip(spatial, grads):
        if g is None:
            g = torch.zeros_like(raw)
        gs = _tokens_to_spatial(g, kind, prefix, (acts.shape[2], acts.shape[3]))
        maps.append(gradcam_formula(acts.detach().float(), gs.float())[0].cpu().numpy().astype(np.float32))
    return logits.detach().float().cpu(), t, maps, p.outputs


def gradcam_captum(model, pixel_values, module, target: int) -> np.ndarray:
    """Captum's LayerGradCam on a layer whose output is a feature map [B, C, h, w]."""
    from captum.attr import LayerGradCam

    lgc = LayerGradCam(lambda x: model(pixel_values=x).logits, module)
    attr = lgc.attribute(pixel_values.detach(), target=int(target), relu_attributions=True)
    return attr[0, 0].detach().float().cpu().numpy().astype(np.float32)


def attention_stack(attentions, tokens: int) -> np.ndarray:
    """The per-layer attention of one image as float64 [L, heads, T, T]; refuses windowed attention."""
    layers = []
    for a in attentions:
        if a is None or a.dim() != 4 or a.shape[0] != 1 or a.shape[-1] != tokens or a.shape[-2] != tokens:
            raise ExplainError("This model's attention is not one global map over its tokens (it is windowed or "
                               "pooled), so there is no CLS-to-patch attention to show; use Grad-CAM or occlusion.")
        layers.append(a[0].detach().double().cpu().numpy())
    if not layers:
        raise ExplainError("The model returned no attention weights (it must be loaded with eager attention).")
    return np.stack(layers)


def cls_attention(stack: np.ndarray, layer: int, head: int | None, prefix: int, grid: tuple[int, int]) -> np.ndarray:
    """The CLS token's attention over the patches at ``layer`` (``head`` None: mean of the heads)."""
    a = stack[layer].mean(axis=0) if head is None else stack[layer, head]
    return a[0, prefix:].reshape(grid).astype(np.float32)


def rollout(stack: np.ndarray, residual: float = 0.5) -> np.ndarray:
    """Attention rollout after each layer: [L, T, T]; row ``0`` of entry ``l`` is what the CLS token
    has gathered from each input token after layer ``l`` (Abnar & Zuidema 2020, mean over heads)."""
    n_layers, _, t, _ = stack.shape
    eye = np.eye(t)
    joint = eye
    out = np.empty((n_layers, t, t))
    for i in range(n_layers):
        a = residual * eye + (1 - residual) * stack[i].mean(axis=0)
        a = a / a.sum(axis=-1, keepdims=True)
        joint = a @ joint
        out[i] = joint
    return out


def rollout_map(rolled: np.ndarray, layer: int, prefix: int, grid: tuple[int, int]) -> np.ndarray:
    return rolled[layer, 0, prefix:].reshape(grid).astype(np.float32)


def occlusion(model, pixel_values, target: int, probs_fn, window: int | None = None, stride: int | None = None,
              batch: int = 16) -> np.ndarray:
    """Captum Occlusion: drop of the target's probability per input pixel (float32 [side, side])."""
    import torch
    from captum.attr import Occlusion

    side = int(pixel_values.shape[-1])
    window = window or max(2, -(-side // OCCLUSION_WINDOWS))
    stride = stride or max(1, window // 2)
    occ = Occlusion(lambda x: probs_fn(model(pixel_values=x).logits.float()))
    with torch.no_grad():
        attr = occ.attribute(pixel_values.detach(), sliding_window_shapes=(pixel_values.shape[1], window, window),
                             strides=(pixel_values.shape[1], stride, stride), baselines=0.0, target=int(target),
                             perturbations_per_eval=batch)
    return attr[0].sum(dim=0).float().cpu().numpy().astype(np.float32)


def feature_maps(spatial, top_n: int) -> tuple[np.ndarray, list[tuple[int, np.ndarray]], np.ndarray]:
    """(mean of the top channels, [(channel, map)] of the ``top_n`` most active, h×w×C features) for one
    layer's output [1, C, h, w]; channels ranked by their mean activation over the picture."""
    a = spatial[0].detach().float().cpu().numpy()
    order = np.argsort(-a.mean(axis=(1, 2)), kind="stable")[: max(1, top_n)]
    channels = [(int(c), a[c].astype(np.float32)) for c in order]
    return a[order].mean(axis=0).astype(np.float32), channels, a.transpose(1, 2, 0)
