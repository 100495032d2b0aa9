"""Broken uploads for the tabs' bad-input tests, and the check that each is refused with a sentence."""

from __future__ import annotations

import io

import numpy as np
import pytest
from gradio_client.exceptions import AppError
from PIL import Image


def bad_files(tmp_path, more: bool = True) -> list:
    """Text, empty and truncated files named as images (``more``: also HTML and noise)."""
    good = io.BytesIO()
    Image.new("RGB", (64, 64), "blue").save(good, format="JPEG")
    cases = {"text.jpg": b"not an image at all", "empty.png": b"", "truncated.jpg": good.getvalue()[:200]}
    if more:
        cases.update({"html.png": b"<html></html>",
                      "noise.webp": bytes(np.random.default_rng(1).integers(0, 255, 2048, dtype=np.uint8))})
    out = []
    for name, data in cases.items():
        p = tmp_path / name
        p.write_bytes(data)
        out.append(p)
    return out


def assert_refused_with_sentences(call, paths) -> None:
    """``call(path)`` raises an AppError that says what is wrong (never a traceback) for each path."""
    for path in paths:
        with pytest.raises(AppError) as info:
            call(path)
        msg = str(info.value)
        assert "Traceback" not in msg
        assert any(w in msg for w in ("not an image", "truncated", "empty", "corrupt")), msg
