"""Finding 5: images sent inline as base64 data URLs skipped the safe loader: gradio decoded them
to pixels and re-encoded them (a 60 MP image cost about 1.1 GB per request) and a corrupt one came
back as gradio's raw multi-line error with a memory address. Now a data URL meets the same byte
and pixel limits as a file, from its header, before a pixel is decoded."""

from __future__ import annotations

import base64
import io
import re

import pytest
from gradio_client.exceptions import AppError
from PIL import Image

from tests.security.conftest import file_data, raw_call
from tlweb.errors import ImageError
from tlweb.ui.guard import data_url_to_file


def data_url(img: Image.Image, fmt: str = "PNG") -> str:
    buf = io.BytesIO()
    img.save(buf, format=fmt)
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode()


@pytest.fixture(scope="module")
def huge_png_url():
    """60 megapixels of one colour: ~200 KB as PNG, ~180 MB once decoded."""
    return data_url(Image.new("RGB", (10_000, 6_000), (20, 40, 60)))


def test_data_url_is_stored_without_decoding_a_pixel(settings, tmp_path, huge_png_url, monkeypatch):
    def no_decode(self, *a, **k):
        raise AssertionError("pixels were decoded")

    monkeypatch.setattr(Image.Image, "load", no_decode)
    monkeypatch.setattr(Image.Image, "convert", no_decode)
    path = data_url_to_file(huge_png_url, str(tmp_path), settings)
    assert path.endswith(".png")
    assert open(path, "rb").read() == base64.b64decode(huge_png_url.split(",", 1)[1])  # the bytes, unchanged


def test_data_url_meets_the_file_limits(settings, tmp_path, huge_png_url):
    with pytest.raises(ImageError, match="megapixels"):
        data_url_to_file(huge_png_url, str(tmp_path), settings.replace(max_pixels=50_000_000))
    with pytest.raises(ImageError, match="upload limit"):
        data_url_to_file("data:image/png;base64," + "A" * (2 * 1024 * 1024), str(tmp_path),
                         settings.replace(max_upload_mb=1))
    assert list(tmp_path.iterdir()) == []  # nothing was written for a refused image


@pytest.mark.parametrize("url,words", [
    ("data:image/png;base64,@@@@", "not valid base64"),
    ("data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"x" * 50).decode(), "corrupt"),
    ("data:image/png;base64," + base64.b64encode(b"hello world").decode(), "not an image"),
    ("data:image/png;base64,", "empty"),
    ("data:text/plain,hello", "not a base64 data URL"),
])
def test_bad_data_urls_get_sentences(settings, tmp_path, url, words):
    with pytest.raises(ImageError, match=words):
        data_url_to_file(url, str(tmp_path), settings)


def _one_sentence(msg: str) -> None:
    assert "Traceback" not in msg and "\n" not in msg.strip()
    assert not re.search(r"0x[0-9a-f]{6,}", msg), msg  # no memory address


@pytest.mark.parametrize("url,words", [
    ("data:image/png;base64," + base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"x" * 50).decode(), "corrupt"),
    ("data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8\xff\xe0" + b"\x00" * 40).decode(), "corrupt|not an image"),
    ("data:image/png;base64,!!notbase64!!", "base64"),
])
def test_app_answers_bad_inline_images_with_a_sentence(client, url, words):
    with pytest.raises(AppError) as info:
        client.predict(file_data(url=url), "demo-vit", "", 3, api_name="/classify")
    assert re.search(words, str(info.value)), str(info.value)
    _one_sentence(str(info.value))


def test_app_refuses_an_inline_image_over_the_pixel_limit(shared_url):
    kind, payload = raw_call(shared_url, "classify", [file_data(url=data_url(Image.new("RGB", (9_000, 8_000)))),
                                                      "demo-vit", "", 3, ""])
    assert kind == "error" and "megapixels" in str(payload)


def test_app_classifies_a_good_inline_image(client):
    _, facts = client.predict(file_data(url=data_url(Image.new("RGB", (64, 64), "red"), "JPEG")), "demo-vit", "", 3,
                              api_name="/classify")
    assert "latency" in facts
