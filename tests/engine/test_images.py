"""Safe decoding: every mode to RGB, EXIF orientation, and a clear error for each bad input."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from tlweb.config import Settings
from tlweb.engine.images import load_image
from tlweb.errors import ImageError


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that *declares* width×height but carries one tiny IDAT (a decompression-bomb shape)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


@pytest.mark.parametrize("mode", ["1", "L", "LA", "P", "RGBA", "CMYK", "I;16", "I", "F", "RGB", "YCbCr"])
def test_every_mode_becomes_rgb(tmp_path, mode):
    arr = (np.arange(40 * 30 * 3) % 251).astype(np.uint8).reshape(30, 40, 3)
    img = Image.fromarray(arr, "RGB").convert(mode) if mode not in ("I;16", "I", "F") else None
    if mode == "I;16":
        img = Image.fromarray((np.arange(1200).reshape(30, 40) * 50).astype(np.uint16), "I;16")
    elif mode == "I":
        img = Image.fromarray((np.arange(1200).reshape(30, 40) * 1000).astype(np.int32), "I")
    elif mode == "F":
        img = Image.fromarray(np.linspace(-3, 7, 1200).reshape(30, 40).astype(np.float32), "F")
    fmt = {"CMYK": "JPEG", "F": "TIFF", "I": "PNG", "YCbCr": "JPEG"}.get(mode, "PNG")
    if mode == "I;16":
        fmt = "PNG"
    path = tmp_path / f"x.{fmt.lower()}"
    img.save(path, format=fmt)
    out = load_image(path)
    assert out.mode == "RGB" and out.size == (40, 30)


def test_high_bit_depth_is_scaled_not_clipped(tmp_path):
    img = Image.fromarray(np.full((8, 8), 40000, dtype=np.uint16), "I;16")
    img.putpixel((0, 0), 0)
    path = tmp_path / "deep.png"
    img.save(path)
    out = np.asarray(load_image(path))
    assert out[0, 0, 0] == 0 and out[4, 4, 0] == 255


def test_transparency_composited_on_white(tmp_path):
    img = Image.new("RGBA", (10, 10), (255, 0, 0, 0))
    path = tmp_path / "clear.png"
    img.save(path)
    assert load_image(path).getpixel((5, 5)) == (255, 255, 255)


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (60, 20), "red")
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise on display
    path = tmp_path / "rot.jpg"
    img.save(path, exif=exif)
    assert load_image(path).size == (20, 60)


def test_animated_gif_gives_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 16), c) for c in ("red", "blue", "green")]
    path = tmp_path / "anim.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=50, loop=0)
    r, g, b = load_image(path).getpixel((8, 8))
    assert r > 200 and b < 60


def test_numpy_and_pil_inputs():
    assert load_image(np.zeros((5, 7, 3), dtype=np.uint8)).size == (7, 5)
    assert load_image(np.zeros((5, 7), dtype=np.float32)).mode == "RGB"
    assert load_image(Image.new("L", (3, 4))).mode == "RGB"


def _bad_inputs(tmp_path):
    """(name, path or bytes, expected words in the message) — at least 12 kinds."""
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(good, format="JPEG")
    jpeg = good.getvalue()
    png = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(png, format="PNG")
    cases = {
        "empty.jpg": (b"", "empty"),
        "text.jpg": (b"hello, I am not a picture\n" * 10, "not an image"),
        "truncated.jpg": (jpeg[: len(jpeg) // 2], "truncated or corrupt"),
        "truncated.png": (png.getvalue()[:60], "truncated or corrupt"),
        "bomb.png": (_png_header_only(20000, 20000), "megapixels"),
        "html.png": (b"<html><body>nope</body></html>", "not an image"),
        "zip.jpg": (b"PK\x03\x04" + b"\x00" * 100, "not an image"),
        "pdf.png": (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n" + b"0" * 200, "not an image"),
        "garbage-jpeg.jpg": (b"\xff\xd8\xff\xe0" + bytes(range(256)) * 4, "not an image|truncated or corrupt"),
        "svg.svg": (b"<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'></svg>", "not an image"),
        "random.bin": (bytes(np.random.default_rng(0).integers(0, 255, 4096, dtype=np.uint8)), "not an image"),
    }
    out = []
    for name, (data, words) in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        out.append((name, p, words))
    out.append(("missing.png", tmp_path / "missing.png", "does not exist"))
    out.append(("a-folder", tmp_path, "folder"))
    return out


def test_at_least_twelve_bad_inputs_give_clear_errors(tmp_path):
    cases = _bad_inputs(tmp_path)
    assert len(cases) >= 12
    for name, path, words in cases:
        with pytest.raises(ImageError) as info:
            load_image(path)
        message = str(info.value)
        assert any(w in message for w in words.split("|")), (name, message)
        assert "Traceback" not in message and len(message) < 400


def test_byte_and_pixel_limits(tmp_path):
    small = Settings(max_upload_mb=1, max_pixels=10_000)
    big = tmp_path / "big.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (700, 700, 3), dtype=np.uint8)).save(big)
    with pytest.raises(ImageError, match="limit is 1 MB"):
        load_image(big, small)
    px = tmp_path / "px.png"
    Image.new("RGB", (200, 200)).save(px)
    with pytest.raises(ImageError, match="megapixels"):
        load_image(px, small)
    with pytest.raises(ImageError, match="megapixels"):
        load_image(np.zeros((200, 200, 3), dtype=np.uint8), small)


def test_extreme_aspect_ratios_are_fine(tmp_path):
    for size in ((1, 4000), (4000, 1)):
        p = tmp_path / f"{size[0]}x{size[1]}.png"
        Image.new("RGB", size, "white").save(p)
        assert load_image(p).size == size


def _png(w: int, h: int, seed: int = 1) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (h, w, 3), dtype=np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


def test_concurrent_decodes_each_keep_their_own_pixel_limit():
    """Two threads decode at the same moments with different pixel limits, many rounds, started
    together by a barrier: the small-limit thread decodes a picture within its limit and refuses
    one over it, the large-limit thread decodes a picture that is over the *other* thread's limit.
    Every call obeys its own limit, and PIL's process-wide ``Image.MAX_IMAGE_PIXELS`` never moves
    (a per-call toggle of it lets one thread's limit leak into the other's decode)."""
    import sys
    import threading

    small, small_over, big = _png(150, 150), _png(200, 200, 2), _png(400, 400, 3)  # 22.5k, 40k, 160k pixels
    strict, loose = Settings(max_pixels=30_000), Settings(max_pixels=1_000_000)
    rounds = 150
    barrier = threading.Barrier(3)
    errors: list[str] = []
    ceiling = Image.MAX_IMAGE_PIXELS
    seen_ceilings: set = set()

    def decodes(i, data, settings, size, what):
        try:
            assert load_image(data, settings, name="x.png").size == size
        except ImageError as exc:
            errors.append(f"round {i}: {what} was refused: {exc}")

    def refuses(i, data, settings, what):
        try:
            load_image(data, settings, name="x.png")
            errors.append(f"round {i}: {what} got through")
        except ImageError as exc:
            if "megapixels" not in str(exc):
                errors.append(f"round {i}: {what} failed for another reason: {exc}")

    def strict_worker():
        for i in range(rounds):
            barrier.wait()
            decodes(i, small, strict, (150, 150), "22,500 pixels under a 30,000-pixel limit")
            refuses(i, small_over, strict, "40,000 pixels under a 30,000-pixel limit")

    def loose_worker():
        for i in range(rounds):
            barrier.wait()
            decodes(i, big, loose, (400, 400), "160,000 pixels under a 1,000,000-pixel limit")

    def watcher():
        for _ in range(rounds):
            barrier.wait()
            for _ in range(50):
                seen_ceilings.add(Image.MAX_IMAGE_PIXELS)

    threads = [threading.Thread(target=f) for f in (strict_worker, loose_worker, watcher)]
    old_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # switch threads often so the calls really interleave
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        sys.setswitchinterval(old_interval)
    assert not any(t.is_alive() for t in threads)
    assert not errors, f"{len(errors)} calls broke their limit, e.g. {errors[:3]}"
    assert seen_ceilings == {ceiling}, seen_ceilings
