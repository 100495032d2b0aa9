"""Safe image decoding: limits on bytes and pixels, EXIF orientation, every mode → RGB.

Everything a user hands the app goes through :func:`load_image`; it either returns an RGB
``PIL.Image`` or raises :class:`~tlweb.errors.ImageError` with a sentence a person understands.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from tlweb.config import Settings, get_settings
from tlweb.engine.budget import human as _human
from tlweb.errors import ImageError, clip, first_line

# Truncated files must fail loudly rather than decode half an image silently.
ImageFile.LOAD_TRUNCATED_IMAGES = False

# PIL's decompression-bomb guard is process-wide (``Image.MAX_IMAGE_PIXELS``: a warning above it,
# an error above twice it). It is never changed per request: each call checks its own limit
# (``Settings.max_pixels``) against the header before decoding (see :func:`_decode`). PIL's global
# is raised once, here, to a fixed ceiling so limits up to it can be honoured; other code in the
# process keeps a guard (it is never disabled).
PIL_PIXEL_CEILING = 2**28  # 268 megapixels (PIL refuses outright above twice that)
if Image.MAX_IMAGE_PIXELS is not None and Image.MAX_IMAGE_PIXELS < PIL_PIXEL_CEILING:
    Image.MAX_IMAGE_PIXELS = PIL_PIXEL_CEILING

IMAGE_EXTENSIONS = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm", ".pbm"}


def _to_rgb(img: Image.Image) -> Image.Image:
    """Convert any PIL mode to RGB; transparency is composited on white."""
    mode = img.mode
    if mode == "RGB":
        return img
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        return Image.fromarray(_stretched(img), mode="L").convert("RGB")
    if mode == "P" and "transparency" in img.info:
        img = img.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    if mode == "CMYK":
        return img.convert("RGB")
    return img.convert("RGB")


def _stretched(img: Image.Image) -> np.ndarray:
    """A 16-bit or 32-bit grey picture stretched to 0–255 (uint8), NaN and inf pixels clamped; float32,
    in place where it can (a float64 copy of an 8000 × 8000 picture is 512 MB)."""
    with np.errstate(invalid="ignore", over="ignore"):
        arr = np.asarray(img).astype(np.float32)
    finite = np.isfinite(arr)
    if not finite.any():
        return np.zeros(arr.shape, dtype=np.uint8)
    lo, hi = float(arr[finite].min()), float(arr[finite].max())
    del finite
    np.nan_to_num(arr, copy=False, nan=lo, posinf=hi, neginf=lo)
    if hi <= lo:
        return np.zeros(arr.shape, dtype=np.uint8)
    arr -= lo
    arr *= 255.0 / (hi - lo)
    np.rint(arr, out=arr)
    return arr.astype(np.uint8)


def load_image(source, settings: Settings | None = None, name: str | None = None,
               draft: int | None = None) -> Image.Image:
    """Decode ``source`` (path, bytes, file object, PIL image or numpy array) into RGB.

    ``draft``: the caller only needs at least this many pixels on the short side (a classifier
    that resizes to 224 anyway). JPEGs at least 4x that size are then decoded at 1/2, 1/4 or
    1/8 scale by the JPEG decoder itself (keeping >= 2x the needed side), which is several
    times faster than decoding full size and resizing.
    Never use it where coordinates in the original image matter (segmentation, detection).

    Raises :class:`ImageError` for non-images, truncated or corrupt files, files over the byte
    limit and images over the pixel limit (decompression bombs). Animated images give their
    first frame; EXIF orientation is applied.
    """
    settings = settings or get_settings()
    label = name or (Path(source).name if isinstance(source, (str, os.PathLike)) else "the image")

    if source is None:
        raise ImageError("No image was given: upload one, paste one or pick an example.")
    if isinstance(source, Image.Image):
        _check_pixels(source.size, settings, label)
        return _to_rgb(ImageOps.exif_transpose(source) if source.mode != "P" else source)
    if isinstance(source, np.ndarray):
        return _from_array(source, settings, label)

    if isinstance(source, (str, os.PathLike)):
        path = Path(source)
        label = clip(label)
        try:
            if not path.exists():
                raise ImageError(f"The file '{label}' does not exist.")
            if path.is_dir():
                raise ImageError(f"'{label}' is a folder, not an image.")
            size = path.stat().st_size
        except OSError as exc:  # a name too long for the file system, a file that cannot be read
            raise ImageError(f"The file '{label}' cannot be read ({exc.strerror or type(exc).__name__}).") from None
        if size == 0:
            raise ImageError(f"The file '{label}' is empty (0 bytes).")
        if size > settings.max_upload_bytes:
            raise ImageError(
                f"The file '{label}' is {_human(size)}; the limit is {settings.max_upload_mb} MB. "
                "Resize or compress it and try again."
            )
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageError(f"The file '{label}' cannot be read ({exc.strerror or type(exc).__name__}).") from None
    elif isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
    elif hasattr(source, "read"):
        data = source.read(settings.max_upload_bytes + 1)
    else:
        raise ImageError(f"Cannot read an image from a {type(source).__name__}.")

    if len(data) == 0:
        raise ImageError(f"The file '{label}' is empty (0 bytes).")
    if len(data) > settings.max_upload_bytes:
        raise ImageError(
            f"The file '{label}' is over {settings.max_upload_mb} MB, the upload limit. "
            "Resize or compress it and try again."
        )
    return _guarded(_decode, data, settings, label, draft)


def _guarded(fn, data: bytes, settings: Settings, label: str, *args):
    """``fn(data, settings, label, *args)`` with any decoder failure as an :class:`ImageError`:
    malformed files raise more than PIL's documented classes (struct.error, IndexError …)."""
    try:
        return fn(data, settings, label, *args)
    except ImageError:
        raise
    except MemoryError:
        raise ImageError(f"'{label}' needs more memory to decode than this server has free.") from None
    except Exception as exc:  # noqa: BLE001 - found by fuzzing: one sentence, never a trace
        raise ImageError(f"'{label}' is truncated or corrupt and cannot be decoded ({type(exc).__name__}).") from None


def _check_pixels(size: tuple[int, int], settings: Settings, label: str) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageError(f"'{label}' has no pixels ({w}×{h}).")
    if w * h > settings.max_pixels:
        raise ImageError(
            f"'{label}' is {w}×{h} pixels ({w * h / 1e6:.0f} megapixels); the limit is "
            f"{settings.max_pixels / 1e6:.0f} megapixels. Downscale it and try again."
        )


def probe(data: bytes, settings: Settings | None = None, label: str = "the image") -> str:
    """Check ``data`` as an image without decoding a pixel: the byte limit, a format this app
    reads, the pixel limit from the header. Returns the format ("jpeg", "png" …); raises
    :class:`ImageError`. For images that arrive inline (base64 data URLs) before they are stored."""
    settings = settings or get_settings()
    if not data:
        raise ImageError(f"{label[:1].upper()}{label[1:]} is empty (0 bytes).")
    if len(data) > settings.max_upload_bytes:
        raise ImageError(f"{label[:1].upper()}{label[1:]} is over {settings.max_upload_mb} MB, the upload limit. "
                         "Resize or compress it and try again.")
    img = _guarded(_open, data, settings, label)
    check_header(img, settings, label)
    return (img.format or "png").lower()


def _open(data: bytes, settings: Settings, label: str) -> Image.Image:
    """PIL's lazy open (the header only), its errors as sentences."""
    try:
        img = Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise ImageError(
            f"'{label}' is not an image this app can read (supported: JPEG, PNG, WebP, GIF, BMP, TIFF)."
        ) from None
    except Image.DecompressionBombError:
        raise ImageError(
            f"'{label}' declares more than {min(settings.max_pixels, 2 * PIL_PIXEL_CEILING) / 1e6:.0f} megapixels "
            "and was refused (it may be a decompression bomb). Downscale it and try again."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"'{label}' is truncated or corrupt and cannot be decoded ({first_line(exc, 120)}).") from None
    return img


def decoded_bytes(img: Image.Image) -> int:
    """Bytes the image decodes to, from its header: width × height × bands × bytes per sample (a 16-bit
    RGBA PNG counts 8 bytes a pixel, whatever PIL keeps of it)."""
    w, h = img.size
    bands = len(img.getbands())
    raw = " ".join(str(getattr(t, "args", "") or "") for t in (getattr(img, "tile", None) or []))
    if img.mode in ("I", "F") or "32" in raw:
        per_sample = 4
    elif img.mode.startswith("I;16") or ";16" in raw:
        per_sample = 2
    else:
        per_sample = 1
    return w * h * bands * per_sample


def check_header(img: Image.Image, settings: Settings, label: str) -> None:
    """The limits read from a header, before any pixel is decoded: pixels and decoded bytes."""
    _check_pixels(img.size, settings, label)
    nbytes, limit = decoded_bytes(img), settings.max_decoded_mb * 1024 * 1024
    if nbytes > limit:
        w, h = img.size
        raise ImageError(f"'{label}' is {w}×{h} pixels in {img.mode} ({len(img.getbands())} bands) and would decode "
                         f"to {_human(nbytes)}; the limit is {_human(limit)}. Downscale it or save it as 8-bit RGB.")


def _decode(data: bytes, settings: Settings, label: str, draft: int | None = None) -> Image.Image:
    """Open (header only), check the pixels and the decoded bytes against *this call's* limits, then
    decode within the decode budget (:mod:`tlweb.engine.memory`): at most ``TLWEB_DECODE_BUDGET_MB``
    held by all decodes in flight, and the memory given back once none is.

    PIL's own decompression-bomb check reads the process-wide ``Image.MAX_IMAGE_PIXELS``; it stays
    at :data:`PIL_PIXEL_CEILING` (set once at import) as a backstop, and the per-call limit is
    checked here, in front of the decode, so concurrent calls with different limits never meet.
    """
    from tlweb.engine.memory import decode_budget

    img = _open(data, settings, label)
    check_header(img, settings, label)  # the header's size, before any pixel is decoded
    w, h = img.size
    if draft and img.format == "JPEG" and img.mode in ("RGB", "L") and min(w, h) >= 4 * draft:
        # the JPEG decoder itself decodes at 1/2, 1/4 or 1/8 scale, keeping >= 2x the needed side
        scale = 2 * draft / min(w, h)
        img.draft(img.mode, (max(1, int(w * scale)), max(1, int(h * scale))))
    # PIL keeps up to 4 bytes a pixel; converting a full-size picture to RGB copies it about twice more
    cost = img.size[0] * img.size[1] * 4 * (1 if draft else 3)
    with decode_budget(settings.decode_budget_mb * 1024 * 1024).hold(cost):
        img = _load(img, settings, label)
        if draft and min(img.size) >= 4 * draft:  # other formats: shrink right after decoding, before copies
            img = _reduced(img, max(1, min(img.size) // (2 * draft)))
        try:
            img = ImageOps.exif_transpose(img)
        except Exception:  # a broken EXIF block must not lose the picture
            pass
        try:
            return _to_rgb(img)
        except (OSError, ValueError) as exc:
            raise ImageError(f"'{label}' uses a colour format this app cannot convert ({first_line(exc, 120)}).") from None


def _load(img: Image.Image, settings: Settings, label: str) -> Image.Image:
    try:
        if getattr(img, "n_frames", 1) > 1:
            img.seek(0)
        img.load()
    except Image.DecompressionBombError:
        raise ImageError(
            f"'{label}' is larger than {settings.max_pixels / 1e6:.0f} megapixels once decoded and was refused."
        ) from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"'{label}' is truncated or corrupt and cannot be decoded ({first_line(exc, 120)}).") from None
    _check_pixels(img.size, settings, label)  # a frame may grow the canvas (GIF)
    return img


def _reduced(img: Image.Image, factor: int) -> Image.Image:
    """``img`` shrunk by a whole ``factor`` (box filter), keeping its EXIF for the orientation; as it is
    when the mode cannot be reduced."""
    if factor < 2:
        return img
    try:
        small = img.reduce(factor)
    except (ValueError, OSError):
        return img
    small.info.update(img.info)
    try:
        small.getexif().update(img.getexif())
    except Exception:  # noqa: BLE001 - orientation is a nicety
        pass
    return small


def _from_array(arr: np.ndarray, settings: Settings, label: str) -> Image.Image:
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[2] not in (1, 3, 4):
        raise ImageError(f"{label} has an unexpected array shape {tuple(arr.shape)}; expected H×W×3.")
    _check_pixels((arr.shape[1], arr.shape[0]), settings, label)
    if arr.dtype != np.uint8:
        a = arr.astype(np.float64)
        if a.size and a.max() <= 1.0 and a.min() >= 0.0:
            a = a * 255
        arr = np.clip(np.nan_to_num(a), 0, 255).astype(np.uint8)
    if arr.shape[2] == 1:
        return Image.fromarray(arr[..., 0], mode="L").convert("RGB")
    if arr.shape[2] == 4:
        return _to_rgb(Image.fromarray(arr, mode="RGBA"))
    return Image.fromarray(arr, mode="RGB")


def is_image_name(name: str) -> bool:
    return Path(name).suffix.lower() in IMAGE_EXTENSIONS
