"""Maps in the original picture's frame: a low-resolution grid that covers the whole image.

The model sees the picture squashed to its square input (see :mod:`tlweb.engine.explain.inputs`),
so a map computed on the model's grid (7×7 Grad-CAM cells, 14×14 patches, 224×224 occlusion
pixels) covers the whole original image uniformly: cell ``(i, j)`` of an ``h×w`` grid is the
rectangle ``[j·W/w, (j+1)·W/w) × [i·H/h, (i+1)·H/h)`` of a ``W×H`` photo. Maps are therefore kept
small and brought to any size on demand (:meth:`ExplainMap.resized`, bilinear with pixel
centres, as ``F.interpolate(align_corners=False)``); :meth:`ExplainMap.full` is the map at the
original size and :attr:`ExplainMap.peak` its maximum in original pixels — computed from the grid,
so an 8000×8000 photo never needs its 256 MB float map just to report where the peak is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class ExplainMap:
    grid: np.ndarray  # h×w float32 on the model's grid, covering the whole original image
    width: int  # the original image's size in pixels
    height: int
    label: str = ""  # "stage 3", "layer 5 · head 2", "channel 17" …
    layer: int | None = None
    # display from the map's minimum (feature activations can be negative; attention and rollout have a
    # floor, every patch gets some) instead of from 0 (Grad-CAM, occlusion: 0 means "no evidence")
    stretch: bool = False

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height

    @property
    def is_flat(self) -> bool:
        g = self.grid
        return g.size == 0 or not np.isfinite(g).all() or float(g.max() - g.min()) <= 1e-12 * max(1.0, float(np.abs(g).max()))

    @property
    def peak(self) -> tuple[int, int]:
        """(x, y) of the map's maximum in original pixels: the pixel holding the centre of the grid's
        maximal cell (where the bilinear map at the original size peaks, to within a pixel)."""
        h, w = self.grid.shape
        i, j = np.unravel_index(int(np.nanargmax(self.grid)) if self.grid.size else 0, (h, w))
        x = int(np.clip(np.floor((j + 0.5) * self.width / w), 0, self.width - 1))
        y = int(np.clip(np.floor((i + 0.5) * self.height / h), 0, self.height - 1))
        return x, y

    def resized(self, width: int, height: int) -> np.ndarray:
        """The map bilinearly resampled to ``height×width`` (pixel centres, edges clamped)."""
        import torch
        from captum.attr import LayerAttribution

        g = torch.from_numpy(np.ascontiguousarray(self.grid, dtype=np.float32))[None, None]
        return LayerAttribution.interpolate(g, (int(height), int(width)), interpolate_mode="bilinear")[0, 0].numpy()

    def full(self) -> np.ndarray:
        """The map at the original image's size (H×W float32)."""
        return self.resized(self.width, self.height)

    def normalized(self) -> np.ndarray:
        """The grid scaled to [0, 1] for display: 0..max for importance maps (negative evidence
        shows as 0), min..max for stretched ones; a flat map is all zeros."""
        g = np.nan_to_num(self.grid.astype(np.float32))
        lo = float(g.min()) if self.stretch else 0.0
        hi = float(g.max())
        if hi - lo <= 1e-12:
            return np.zeros_like(g)
        return np.clip((g - lo) / (hi - lo), 0.0, 1.0)

    def mass_fraction(self, box: tuple[float, float, float, float]) -> float:
        """Share of the map's positive mass inside ``box`` = (x0, y0, x1, y1) in original pixels."""
        full = np.clip(self.full(), 0, None)
        total = float(full.sum())
        if total <= 0:
            return 0.0
        x0, y0, x1, y1 = (int(round(v)) for v in box)
        return float(full[max(0, y0):max(0, y1), max(0, x0):max(0, x1)].sum()) / total

    def as_dict(self) -> dict:
        return {"label": self.label, "layer": self.layer, "grid": list(self.grid.shape), "peak": list(self.peak)}


def pca_rgb(features: np.ndarray) -> np.ndarray:
    """h×w×C features → h×w×3 uint8: the first three principal components as red, green, blue.

    Each component's sign is fixed so that its largest loading is positive (the same picture on every
    run). All three share one scale — the 1st–99th percentile range of the first component — so a
    component that carries little variance stays near mid-grey instead of being stretched into noise.
    """
    h, w, c = features.shape
    x = features.reshape(h * w, c).astype(np.float64)
    x = x - x.mean(axis=0, keepdims=True)
    out = np.full((h * w, 3), 0.5)
    if h * w >= 2 and np.abs(x).max() > 0:
        _, _, vt = np.linalg.svd(x, full_matrices=False)
        scale = None
        for k in range(min(3, vt.shape[0])):
            v = vt[k] if vt[k][np.argmax(np.abs(vt[k]))] >= 0 else -vt[k]
            proj = x @ v
            if scale is None:
                scale = float(np.percentile(proj, 99) - np.percentile(proj, 1)) or float(np.abs(proj).max()) or 1.0
            out[:, k] = np.clip(0.5 + (proj - np.median(proj)) / scale, 0, 1)
    return (out.reshape(h, w, 3) * 255).round().astype(np.uint8)


def correlation(a: ExplainMap, b: ExplainMap, side: int = 32) -> float | None:
    """Pearson correlation of two maps of the same picture on a common ``side×side`` grid
    (None when either map is flat)."""
    if a.is_flat or b.is_flat:
        return None
    x = ExplainMap(a.grid, side, side).full().ravel()
    y = ExplainMap(b.grid, side, side).full().ravel()
    if x.std() == 0 or y.std() == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])
