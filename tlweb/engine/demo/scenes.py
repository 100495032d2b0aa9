"""Generated outdoor scenes whose depth is known at every pixel (numpy only: no torch, gradio or plotly).

A pinhole camera at eye height (1.5-1.7 m) looks level over a textured ground plane that recedes to a
horizon (its row moves with the camera's pitch); boxes, balls and posts stand on the ground at known
distances (2.5-25 m), drawn with a depth buffer, so near things hide far ones. The picture carries the
cues a person reads depth from: the ground's rows (a thing's foot sits lower the nearer it is), texture
that gets finer and fades with distance, haze that pulls far colours toward the sky's, the same kinds of
things looking smaller farther away, shading, contact shadows and occlusion.

:func:`make_scene` returns the picture and its depth (metres along the optical axis, ``inf`` for the sky);
:func:`inverse_depth` turns depth into what the demo depth model predicts (``INVERSE_SCALE / depth``:
larger = nearer, 0 for the sky, as MiDaS DPT and Depth Anything predict).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

SIZE = 64  # pixels per side
FOCAL = 1.0  # focal length in image widths (a 53° field of view)
EYE = (1.5, 1.7)  # camera height above the ground, metres
HORIZON = (0.2, 0.5)  # the horizon's row as a share of the height (the camera's pitch)
NEAR, FAR = 2.5, 25.0  # where things stand, metres
INVERSE_SCALE = 10.0  # inverse depth unit: 1.0 at 10 m, 4.0 at 2.5 m, 0 for the sky


@dataclass(frozen=True)
class Scene:
    image: np.ndarray  # (size, size, 3) uint8 RGB
    depth: np.ndarray  # (size, size) float32 metres; inf where the sky is
    things: np.ndarray  # (size, size) bool: the nearest surface is a thing standing on the ground
    horizon: float  # row of the horizon, pixels


def inverse_depth(depth: np.ndarray) -> np.ndarray:
    """``INVERSE_SCALE / depth`` (0 where the depth is infinite)."""
    with np.errstate(divide="ignore"):
        return np.where(np.isfinite(depth), INVERSE_SCALE / np.maximum(depth, 1e-3), 0.0).astype(np.float32)


def make_scene(seed: int, size: int = SIZE) -> Scene:
    """One scene, the same for the same ``seed`` and ``size``."""
    rng = np.random.default_rng(seed)
    f = FOCAL * size
    eye = rng.uniform(*EYE)
    horizon = rng.uniform(*HORIZON) * size
    cx = size / 2 + rng.uniform(-0.1, 0.1) * size
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float64) + 0.5
    sky_top, sky_low = rng.uniform(0.35, 0.6, 3) * [0.6, 0.8, 1.0], rng.uniform(0.75, 0.95, 3) * [0.9, 0.95, 1.0]
    haze = sky_low
    fog = rng.uniform(18.0, 45.0)  # metres at which 63 % of a colour is haze
    light = _unit(np.abs(rng.normal([0.0, 1.0, 0.7], [0.6, 0.3, 0.3])) * [rng.choice([-1, 1]), 1, 1])
    # light: toward the sun (x right, y up, z toward the camera)

    # sky: a vertical gradient, brightest at the horizon
    t = np.clip((horizon - ys) / max(horizon, 1.0), 0, 1)[..., None]
    image = sky_low * (1 - t) + sky_top * t
    depth = np.full((size, size), np.inf)

    # ground plane: depth from the row, texture in world coordinates, faded where a pixel covers a cell
    below = ys > horizon + 0.5
    z = np.where(below, f * eye / np.maximum(ys - horizon, 1e-6), np.inf)
    x_world = (xs - cx) * np.where(below, z, 0.0) / f
    cell = rng.uniform(0.4, 1.2)
    base = rng.uniform(0.25, 0.55, 3) * rng.choice([[0.6, 1.0, 0.5], [1.0, 0.85, 0.6], [0.8, 0.8, 0.8]])
    other = np.clip(base * rng.uniform(0.55, 0.8) + rng.uniform(-0.05, 0.05, 3), 0, 1)
    kind = rng.integers(3)
    zc = np.where(below, z, 0.0)
    if kind == 0:  # checker
        pattern = (np.floor(x_world / cell) + np.floor(zc / cell)) % 2
    elif kind == 1:  # stripes across the view (furrows, paving)
        pattern = np.floor(zc / cell) % 2
    else:  # stripes along the view (rows of a field)
        pattern = np.floor(x_world / cell) % 2
    footprint = np.where(below, zc * zc / (f * eye), 0.0) + zc / f  # metres one pixel covers
    contrast = np.clip(1.5 - footprint / cell * 1.5, 0, 1)
    mix = 0.5 + (pattern - 0.5) * contrast
    ground = base * (1 - mix[..., None]) + other * mix[..., None]
    ground = ground * (0.85 + 0.15 * np.clip(1 - ys / size, 0, 1))[..., None]
    image = np.where(below[..., None], _hazed(ground, z, haze, fog), image)
    depth = np.where(below, z, depth)
    things = np.zeros((size, size), dtype=bool)

    # things on the ground, far to near; the depth buffer keeps the nearest surface
    for _ in range(rng.integers(1, 6)):
        zo = float(np.exp(rng.uniform(np.log(NEAR), np.log(FAR))))
        xo = rng.uniform(-0.5, 0.5) * zo * size / f  # across the view, metres
        colour = rng.uniform(0.15, 0.95, 3)
        thing = rng.integers(3)
        if thing == 0:
            surf = _box(rng, xs, ys, f, cx, horizon, eye, zo, xo, light)
        elif thing == 1:
            surf = _ball(rng, xs, ys, f, cx, horizon, eye, zo, xo, light)
        else:
            surf = _post(rng, xs, ys, f, cx, horizon, eye, zo, xo, light)
        zs, shade, shadow = surf
        # a contact shadow on the ground around the thing's foot
        image = np.where((shadow & (depth > zo - 0.5))[..., None], image * 0.6, image)
        front = zs < depth
        lit = colour * shade[..., None]
        image = np.where(front[..., None], _hazed(lit, zs, haze, fog), image)
        depth = np.where(front, zs, depth)
        things |= front

    image = image * rng.uniform(0.85, 1.15) + rng.normal(0, 0.015, image.shape)
    return Scene((np.clip(image, 0, 1) * 255).round().astype(np.uint8), depth.astype(np.float32), things,
                 float(horizon))


def _unit(v) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64)
    return v / np.linalg.norm(v)


def _hazed(colour: np.ndarray, z: np.ndarray, haze: np.ndarray, fog: float) -> np.ndarray:
    k = 1 - np.exp(-np.where(np.isfinite(z), z, 1e9) / fog)
    return colour * (1 - k[..., None]) + haze * k[..., None]


def _row(f, horizon, eye, height, z):
    """Image row of a point ``height`` metres above the ground at depth ``z``."""
    return horizon + f * (eye - height) / z


def _shadow(xs, ys, f, cx, horizon, eye, z, x0, half_width, depth_half):
    """A flat ellipse of shadow on the ground around (x0, z)."""
    zy = np.where(ys > horizon + 0.5, f * eye / np.maximum(ys - horizon, 1e-6), np.inf)
    xw = (xs - cx) * zy / f
    return ((xw - x0) / (half_width * 1.3)) ** 2 + ((zy - z) / (depth_half * 1.3 + 0.3)) ** 2 < 1


def _box(rng, xs, ys, f, cx, horizon, eye, z, x0, light):
    """A box: its front face (constant depth) and, when the eye is above it, its top (depth by row)."""
    w, h, d = rng.uniform(0.5, 2.0), rng.uniform(0.4, 2.2), rng.uniform(0.4, 1.5)
    zf = z - d / 2
    left, right = cx + f * (x0 - w / 2) / zf, cx + f * (x0 + w / 2) / zf
    top, bottom = _row(f, horizon, eye, h, zf), _row(f, horizon, eye, 0.0, zf)
    front = (xs >= left) & (xs < right) & (ys >= top) & (ys < bottom)
    zs = np.where(front, zf, np.inf)
    shade = np.where(front, 0.35 + 0.65 * max(0.0, light[2]), 0.0)
    if h < eye:  # the top face, seen from above: rows between the front's and the back's top edges
        zt = np.where(ys < top, f * (eye - h) / np.maximum(ys - horizon, 1e-6), np.inf)
        xt = (xs - cx) * zt / f
        topf = (ys > horizon) & (zt >= zf) & (zt <= z + d / 2) & (np.abs(xt - x0) <= w / 2) & ~front
        zs = np.where(topf, zt, zs)
        shade = np.where(topf, 0.35 + 0.65 * max(0.0, light[1]), shade)
    return zs, shade, _shadow(xs, ys, f, cx, horizon, eye, z, x0, w / 2, d / 2)


def _ball(rng, xs, ys, f, cx, horizon, eye, z, x0, light):
    """A ball resting on the ground: depth and Lambert shading from its surface normal."""
    r = rng.uniform(0.25, 0.9)
    u = (xs - (cx + f * x0 / z)) / (f * r / z)
    v = (ys - _row(f, horizon, eye, r, z)) / (f * r / z)
    inside = u * u + v * v < 1
    n_z = np.sqrt(np.clip(1 - u * u - v * v, 0, 1))  # toward the camera
    zs = np.where(inside, z - r * n_z, np.inf)
    lam = np.clip(u * light[0] - v * light[1] + n_z * light[2], 0, 1)
    shade = np.where(inside, 0.25 + 0.75 * lam, 0.0)
    return zs, shade, _shadow(xs, ys, f, cx, horizon, eye, z, x0, r, r)


def _post(rng, xs, ys, f, cx, horizon, eye, z, x0, light):
    """A tall thin post (a cylinder): shaded across its width."""
    r, h = rng.uniform(0.08, 0.3), rng.uniform(1.5, 4.0)
    u = (xs - (cx + f * x0 / z)) / (f * r / z)
    inside = (np.abs(u) < 1) & (ys >= _row(f, horizon, eye, h, z)) & (ys < _row(f, horizon, eye, 0.0, z))
    n_z = np.sqrt(np.clip(1 - u * u, 0, 1))
    zs = np.where(inside, z - r * n_z, np.inf)
    lam = np.clip(u * light[0] + n_z * light[2], 0, 1)
    shade = np.where(inside, 0.3 + 0.7 * lam, 0.0)
    return zs, shade, _shadow(xs, ys, f, cx, horizon, eye, z, x0, r, r)
