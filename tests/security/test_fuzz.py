"""Fuzzing the two parsers a client feeds directly: image decoding (files and inline data URLs) and
zip ingest. Property: a result within the limits or a one-sentence error of our own, never another
exception, and never a file written outside the folder an extraction owns.

Bounded for CI (about a minute on two busy cores in all: 5,300 cases): ``FUZZ_EXAMPLES`` scales the example
counts (``FUZZ_EXAMPLES=10 python -m pytest tests/security/test_fuzz.py`` fuzzes ten times longer).
No example database is written (the repository stays clean).
"""

from __future__ import annotations

import io
import os
import struct
import time
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from tlweb.config import Settings
from tlweb.errors import DataError, ImageError

SCALE = float(os.environ.get("FUZZ_EXAMPLES", "1"))
STATS: dict[str, list] = {}  # test → [cases, seconds]; printed at the end of the module


def fuzz_settings(n: int):
    return hsettings(max_examples=max(1, int(n * SCALE)), deadline=None, database=None, derandomize=False,
                     suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                            HealthCheck.function_scoped_fixture])


def _count(name: str, t0: float) -> None:
    entry = STATS.setdefault(name, [0, 0.0])
    entry[0] += 1
    entry[1] += time.perf_counter() - t0


@pytest.fixture(scope="module", autouse=True)
def report():
    yield
    for name, (cases, seconds) in STATS.items():
        print(f"\nfuzz {name}: {cases} cases in {seconds:.1f} s")


# --------------------------------------------------------------------------- images

LIMITS = Settings(max_upload_mb=1, max_pixels=2_000_000)


def _seed_images() -> list[bytes]:
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    base = Image.fromarray(rng.integers(0, 255, (12, 16, 3), dtype=np.uint8))
    out = []
    for fmt, mode in (("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("PNG", "I;16"), ("JPEG", "RGB"),
                      ("JPEG", "L"), ("GIF", "P"), ("BMP", "RGB"), ("TIFF", "RGB"), ("TIFF", "F"), ("WEBP", "RGB"),
                      ("PPM", "RGB")):
        buf = io.BytesIO()
        img = base.convert(mode) if mode not in ("I;16", "F") else base.convert("L").convert(mode)
        img.save(buf, format=fmt)
        out.append(buf.getvalue())
    return out


SEEDS = _seed_images()


@st.composite
def image_bytes(draw):
    """A valid small image of some format, then damaged: bytes flipped or overwritten (sizes in the
    header too), cut short, spliced with another, or pure noise."""
    kind = draw(st.sampled_from(["mutate", "mutate", "mutate", "truncate", "splice", "noise", "header"]))
    if kind == "noise":
        return draw(st.binary(min_size=0, max_size=2048))
    data = bytearray(draw(st.sampled_from(SEEDS)))
    if kind == "truncate":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if kind == "splice":
        other = draw(st.sampled_from(SEEDS))
        cut = draw(st.integers(0, len(data)))
        return bytes(data[:cut] + other[draw(st.integers(0, len(other))):])
    if kind == "header":  # huge or zero sizes where formats keep them (bytes 16–24 in PNG, 18–26 in BMP …)
        pos = draw(st.integers(0, min(40, len(data) - 4)))
        data[pos:pos + 4] = struct.pack(">I", draw(st.sampled_from([0, 1, 65535, 100_000, 2**31 - 1, 2**32 - 1])))
        return bytes(data)
    for _ in range(draw(st.integers(1, 8))):
        pos = draw(st.integers(0, len(data) - 1))
        data[pos] = draw(st.integers(0, 255))
    return bytes(data)


def _check_image(img) -> None:
    assert img.mode == "RGB" and img.width * img.height <= LIMITS.max_pixels and img.width > 0


@fuzz_settings(3000)
@given(data=image_bytes())
def test_fuzz_image_decode(data):
    from tlweb.engine.images import load_image, probe

    t0 = time.perf_counter()
    try:
        _check_image(load_image(data, LIMITS, name="fuzz"))
    except ImageError as exc:
        assert "\n" not in str(exc) and "Traceback" not in str(exc)
    try:
        fmt = probe(data, LIMITS, "fuzz")  # the header alone: a format name, within the limits
        assert isinstance(fmt, str) and fmt
    except ImageError:
        pass
    _count("image decode", t0)


@fuzz_settings(800)
@given(data=image_bytes())
def test_fuzz_inline_image(data, tmp_path_factory):
    import base64

    from tlweb.ui.guard import data_url_to_file

    t0 = time.perf_counter()
    folder = tmp_path_factory.mktemp("inline")
    url = "data:image/png;base64," + base64.b64encode(data).decode()
    try:
        path = Path(data_url_to_file(url, str(folder), LIMITS))
        assert folder in path.parents and path.read_bytes() == data
    except ImageError:
        assert not any(p.is_file() for p in folder.rglob("*"))  # a refused image leaves nothing behind
    _count("inline image", t0)


# --------------------------------------------------------------------------- zips

NAMES = st.one_of(
    st.sampled_from(["cats/1.png", "dogs/2.png", "train/cats/a.png", "test/dogs/b.jpg", "../evil.png",
                     "../../evil.png", "/abs/evil.png", "C:/evil.png", "a/../../evil.png", "cats\\..\\..\\evil.png",
                     "./cats/./x.png", "cats//y.png", ".hidden/z.png", "__MACOSX/cats/._1.png", "cats/", "x" * 300,
                     "cats/" + "é" * 40 + ".png", "cats/\x00nul.png", "dogs/link.png", "readme.txt"]),
    st.text(alphabet="abc./\\-_é", min_size=1, max_size=30),
)


@st.composite
def zip_bytes(draw):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for _ in range(draw(st.integers(0, 8))):
            name = draw(NAMES)
            content = draw(st.one_of(st.sampled_from(SEEDS), st.binary(max_size=512)))
            info = zipfile.ZipInfo(name)
            info.compress_type = draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
            if draw(st.integers(0, 9)) == 0:
                info.external_attr = 0o120777 << 16  # a symlink entry
                content = draw(st.sampled_from([b"/etc/passwd", b"../../outside", b"cats"]))
            try:
                zf.writestr(info, content)
            except (ValueError, UnicodeEncodeError):
                pass
    data = bytearray(buf.getvalue())
    for _ in range(draw(st.integers(0, 3))):  # damage: bytes of headers, sizes, the directory
        if data:
            data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


def _files(root: Path) -> set[Path]:
    return {p for p in root.rglob("*")} if root.exists() else set()


@fuzz_settings(1500)
@given(data=zip_bytes())
def test_fuzz_zip_ingest(data, tmp_path_factory):
    from tlweb.engine.data import _load_folder, extract_zip

    t0 = time.perf_counter()
    box = tmp_path_factory.mktemp("zipbox")  # everything an extraction may touch lives under box/home
    upload = box / "upload"
    upload.mkdir()
    path = upload / "data.zip"
    path.write_bytes(data)
    st_ = Settings(home=box / "home", max_upload_mb=1, max_pixels=2_000_000, max_unzipped_mb=8, session_disk_mb=16)
    before = _files(box)
    try:
        root, skipped = extract_zip(path, st_)
        zips = (st_.cache_dir / "zips").resolve()
        for p in root.rglob("*"):
            assert zips in p.resolve().parents and not p.is_symlink()  # no escape, no links
        try:
            data_ = _load_folder(root, source_label="fuzz.zip", settings=st_, pre_skipped=skipped)
            assert data_.num_classes >= 2
        except DataError:
            pass
    except DataError as exc:
        assert "\n" not in str(exc)
    created = _files(box) - before
    outside = [p for p in created if (box / "home") not in p.parents and p != box / "home"]
    assert not outside, outside  # nothing written anywhere but the cache folder
    _count("zip ingest", t0)


@pytest.mark.parametrize("name", ["", ".", "./", "cats/."])
def test_fuzz_findings_stay_fixed(name, tmp_path, settings):
    """Found by the zip fuzzer: an entry named "" crashed ZipInfo.is_dir (IndexError), one named "."
    left no path parts (IndexError); a damaged deflate stream raised zlib.error. All are sentences now."""
    from tlweb.engine.data import extract_zip

    path = tmp_path / "odd.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(zipfile.ZipInfo(name), SEEDS[0])
    with pytest.raises(DataError, match="no image files"):
        extract_zip(path, settings)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cats/1.png", bytes(5000))
        zf.writestr("dogs/1.png", bytes(5000))
    raw = bytearray(path.read_bytes())
    raw[40:60] = b"\xff" * 20  # the first entry's deflate stream
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError):
        extract_zip(path, settings)
