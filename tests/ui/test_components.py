"""Shared UI helpers: raw uploads reach the engine, stale choices don't raise, errors become sentences."""

from __future__ import annotations

import gradio as gr
import pytest

from tlweb.errors import ImageError
from tlweb.ui.components import SafeImage, lenient_choices, picked_model
from tlweb.ui.session import user_errors


def test_lenient_choices_accepts_a_value_from_older_choices():
    stock = gr.CheckboxGroup(choices=["a", "b"], value=["a"])
    with pytest.raises(gr.Error):
        stock.preprocess(["zebra"])
    lenient = lenient_choices(gr.CheckboxGroup(choices=["a", "b"], value=["a"]))
    assert lenient.preprocess(["zebra", "a"]) == ["zebra", "a"]
    assert lenient.preprocess(None) == []


def test_safe_image_passes_the_path_undecoded(tmp_path):
    from gradio.data_classes import ImageData

    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    img = SafeImage()
    assert img.preprocess(ImageData(path=str(junk))) == str(junk)
    assert img.preprocess(None) is None


def test_user_errors_turns_engine_errors_into_sentences():
    @user_errors
    def bad():
        raise ImageError("That file is not an image.")

    with pytest.raises(gr.Error, match="not an image"):
        bad()

    @user_errors
    def gen():
        yield 1
        raise RuntimeError("boom\nstack")

    with pytest.raises(gr.Error, match="Something went wrong"):
        list(gen())


def test_picked_model_prefers_typed_id():
    assert picked_model("demo-vit", "  org/model ") == "org/model"
    assert picked_model("demo-vit", "") == "demo-vit"
