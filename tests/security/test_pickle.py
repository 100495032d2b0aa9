"""Finding 3: a folder with ``pytorch_model.bin`` plus any other ``*.safetensors`` file (a decoy)
loaded the pickle without ``TLWEB_ALLOW_PICKLE``. Now only ``model.safetensors`` counts, transformers
is told ``use_safetensors=True``, and a damaged weights file gets a sentence."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.conftest import ROOT
from tlweb.catalog import CLASSIFICATION
from tlweb.engine import loading
from tlweb.errors import ModelError


@pytest.fixture
def fresh_cache():
    loading.reset_cache()
    yield
    loading.reset_cache()


def _pickled(demo_models, tmp_path, name="pickled", decoy=True):
    import torch
    from safetensors.torch import load_file

    folder = tmp_path / name
    shutil.copytree(demo_models["demo-resnet"], folder)
    state = load_file(folder / "model.safetensors")
    (folder / "model.safetensors").unlink()
    torch.save(state, folder / "pytorch_model.bin")
    if decoy:
        (folder / "decoy.safetensors").write_bytes(b"not weights")
        shutil.copy(demo_models["demo-vit"] / "model.safetensors", folder / "other-model.safetensors")
    return folder


def test_decoy_safetensors_does_not_unlock_the_pickle(settings, demo_models, tmp_path, fresh_cache):
    folder = _pickled(demo_models, tmp_path)
    with pytest.raises(ModelError, match="pickle"):
        loading.load(str(folder), task=CLASSIFICATION, settings=settings)
    loaded = loading.load(str(folder), task=CLASSIFICATION, settings=settings.replace(allow_pickle=True))
    assert loaded.params > 0  # the operator's switch still works


def test_pickle_rule_holds_even_when_the_folder_check_is_skipped(settings, demo_models, tmp_path, fresh_cache,
                                                               monkeypatch):
    """Belt and braces: transformers itself is told use_safetensors=True, so the .bin never loads."""
    folder = _pickled(demo_models, tmp_path)
    monkeypatch.setattr(loading, "_weights_kind", lambda _folder: "safetensors")
    with pytest.raises(ModelError) as info:
        loading.load(str(folder), task=CLASSIFICATION, settings=settings)
    assert "safetensors" in str(info.value)


@pytest.mark.parametrize("damage", ["garbage", "header", "truncated", "empty"])
def test_damaged_safetensors_gets_a_sentence(settings, demo_models, tmp_path, fresh_cache, damage):
    folder = tmp_path / damage
    shutil.copytree(demo_models["demo-resnet"], folder)
    weights = folder / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes({"garbage": os.urandom(400), "header": b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}",
                         "truncated": data[: len(data) // 2], "empty": b""}[damage])
    with pytest.raises(ModelError) as info:
        loading.load(str(folder), task=CLASSIFICATION, settings=settings)
    assert "weights file" in str(info.value) and "Something went wrong" not in str(info.value)


def test_damaged_pickle_gets_a_sentence_when_pickles_are_allowed(settings, demo_models, tmp_path, fresh_cache):
    folder = _pickled(demo_models, tmp_path, decoy=False)
    (folder / "pytorch_model.bin").write_bytes(os.urandom(600))
    with pytest.raises(ModelError) as info:
        loading.load(str(folder), task=CLASSIFICATION, settings=settings.replace(allow_pickle=True))
    assert "weights file" in str(info.value)


def test_app_refuses_the_decoy_folder_with_a_sentence(client, demo_models, tmp_path, example_image, fresh_cache):
    folder = _pickled(demo_models, tmp_path)
    with pytest.raises(AppError) as info:
        client.predict(handle_file(str(example_image)), "demo-vit", str(folder), 3, api_name="/classify")
    assert "pickle" in str(info.value) and str(tmp_path) not in str(info.value)


def test_cli_exits_2_for_decoy_and_damaged_weights(demo_models, tmp_path, example_image):
    folder = _pickled(demo_models, tmp_path)
    broken = tmp_path / "broken"
    shutil.copytree(demo_models["demo-resnet"], broken)
    (broken / "model.safetensors").write_bytes(os.urandom(300))
    for model, words in ((folder, "pickle"), (broken, "weights file")):
        proc = subprocess.run([sys.executable, "-m", "tlweb", "classify", str(example_image), "--model", str(model)],
                              cwd=ROOT, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 2, proc.stderr
        assert words in proc.stderr and "Traceback" not in proc.stderr
