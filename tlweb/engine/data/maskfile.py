"""One mask file: read it as class ids (palette PNGs give their indices), check it against its image and
the classes, convert colour masks, write a label map as PNG."""

from __future__ import annotations

import io
import os
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.errors import DataError, ImageError, clip

IGNORE = 255  # mask value of pixels that count for nothing (borders, unlabelled)
LOSSY = (".jpg", ".jpeg")  # lossy compression turns class ids into their neighbours


def read_mask(source, settings: Settings | None = None, name: str = "the mask"):
    """A mask as a 2-D integer array (class ids). Palette PNGs give their indices, greyscale its values;
    a colour (RGB) mask whose channels differ, or a lossy JPEG mask, is refused with a sentence."""
    import numpy as np
    from PIL import Image

    from tlweb.engine import images

    settings = settings or get_settings()
    if isinstance(source, np.ndarray):
        arr = source
        if arr.ndim >= 2:
            images._check_pixels((int(arr.shape[1]), int(arr.shape[0])), settings, clip(name))
    else:
        if isinstance(source, (str, os.PathLike)):
            if Path(source).suffix.lower() in LOSSY:
                raise DataError(f"The mask '{clip(name)}' is a JPEG: lossy compression changes class ids; save masks "
                                "as PNG.")
            try:
                data = Path(source).read_bytes()
            except OSError as exc:
                raise ImageError(f"The mask '{clip(name)}' cannot be read ({exc.strerror or type(exc).__name__}).") from None
        elif isinstance(source, Image.Image):
            data = None
        else:
            data = bytes(source)
        if data is not None and len(data) > settings.max_upload_bytes:
            raise ImageError(f"The mask '{clip(name)}' is over {settings.max_upload_mb} MB, the upload limit.")
        img = source if data is None else images._guarded(_open_mask, data, settings, clip(name))
        if getattr(img, "format", None) == "JPEG":
            raise DataError(f"The mask '{clip(name)}' is a JPEG: lossy compression changes class ids; save masks as "
                            "PNG.")
        arr = _mask_array(img, name)
    arr = np.asarray(arr)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        rgb = arr[..., :3]
        if (rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 0] == rgb[..., 2]).all():
            arr = rgb[..., 0]
        else:
            raise DataError(_rgb_sentence(name))
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[..., 0]
    if arr.ndim != 2:
        raise DataError(f"The mask '{clip(name)}' has the shape {tuple(arr.shape)}; a mask is one class id per pixel.")
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or (arr != np.round(arr)).any():
            raise DataError(f"The mask '{clip(name)}' holds fractions; a mask holds whole class ids.")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.uint8)
    if arr.size and int(arr.min()) < 0:
        raise DataError(f"The mask '{clip(name)}' holds negative values; class ids start at 0 (255 = ignore).")
    return arr


def _rgb_sentence(name: str) -> str:
    return (f"The mask '{clip(name)}' is a colour (RGB) image: a mask holds one class id per pixel (0, 1, 2 …, "
            "255 = ignore). Convert colour masks with tlweb.engine.data.masks.convert_rgb_masks(folder, palette) "
            "(palette: one colour a class, in labels.txt's order), or save them as palette PNGs.")


def _open_mask(data: bytes, settings: Settings, label: str):
    from tlweb.engine import images

    img = images._open(data, settings, label)
    images._check_pixels(img.size, settings, label)
    if getattr(img, "n_frames", 1) > 1:
        img.seek(0)
    img.load()
    return img


def _mask_array(img, name: str):
    """Class ids from a PIL mask: palette indices, greyscale values, or RGB (checked by the caller)."""
    import numpy as np

    mode = img.mode
    if mode in ("P", "L", "1", "I", "I;16", "I;16B", "I;16L", "F"):
        return np.asarray(img)
    if mode in ("LA", "PA"):
        return np.asarray(img)[..., 0]
    if mode in ("RGB", "RGBA", "RGBX"):
        return np.asarray(img.convert("RGB"))
    raise DataError(f"The mask '{clip(name)}' is a {mode} image; save masks as greyscale or palette PNGs.")


def check_mask(arr, num_classes: int, name: str, image_size: tuple[int, int] | None = None,
               image_name: str = "its image"):
    """Which classes ``arr`` holds (bool [num_classes]); refuses a size other than ``image_size`` (width,
    height) and values beyond the classes (255 aside) with a sentence naming the file."""
    import numpy as np

    h, w = arr.shape
    if image_size is not None and (w, h) != tuple(image_size):
        iw, ih = image_size
        raise DataError(f"The mask '{clip(name)}' is {w}×{h} pixels but {clip(image_name)} is {iw}×{ih}; a mask must "
                        "be the size of its image.")
    counts = np.bincount(arr.ravel().astype(np.int64), minlength=num_classes)
    beyond = [v for v in np.flatnonzero(counts[num_classes:]) + num_classes if v != IGNORE]
    if beyond:
        raise DataError(f"The mask '{clip(name)}' holds the value {int(beyond[0])}, but there are {num_classes} classes "
                        f"(ids 0–{num_classes - 1}; 255 = ignore): fix the mask or add the class to labels.txt.")
    return counts[:num_classes] > 0


# --------------------------------------------------------------------------- colour masks


def rgb_to_indices(rgb, palette, unknown: int = IGNORE):
    """A colour mask (H×W×3) → class ids: ``palette[i]`` is class i's colour (a list of RGB triples, or a
    ``{(r, g, b): id}`` dict). Colours in no class become ``unknown`` (255: ignored)."""
    import numpy as np

    rgb = np.asarray(rgb)[..., :3].astype(np.int64)
    items = palette.items() if isinstance(palette, dict) else ((tuple(c), i) for i, c in enumerate(palette))
    lut = {}
    for color, idx in items:
        r, g, b = (int(v) for v in color)
        lut[(r << 16) | (g << 8) | b] = int(idx)
    codes = (rgb[..., 0] << 16) | (rgb[..., 1] << 8) | rgb[..., 2]
    out = np.full(codes.shape, unknown, dtype=np.uint8)
    for code, idx in lut.items():
        out[codes == code] = idx
    return out


def convert_rgb_masks(folder, palette, out=None) -> int:
    """Convert every colour mask in ``folder`` into a class-id PNG (in ``out``, or in place); returns how
    many were written. ``palette``: as :func:`rgb_to_indices`."""
    import numpy as np
    from PIL import Image

    from tlweb.engine.images import IMAGE_EXTENSIONS

    folder = Path(folder)
    out = Path(out) if out else folder
    out.mkdir(parents=True, exist_ok=True)
    n = 0
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in IMAGE_EXTENSIONS or not path.is_file():
            continue
        with Image.open(path) as im:
            ids = rgb_to_indices(np.asarray(im.convert("RGB")), palette)
        Image.fromarray(ids).save(out / f"{path.stem}.png")
        n += 1
    return n




def mask_png(arr) -> bytes:
    """A label map as PNG bytes (greyscale; values are class ids)."""
    import numpy as np
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(np.asarray(arr).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()
