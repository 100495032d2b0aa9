"""Finding 1: the Hub dataset box took any server path (its images came back through the mistakes
gallery), named the folder's subfolders ("has a dev folder…") and unpacked any zip on the server.
Now it takes Hugging Face ids only, in both modes, and nothing is read from the server's disk."""

from __future__ import annotations

import zipfile

import pytest
from gradio_client.exceptions import AppError

from tlweb.engine import data as D
from tlweb.errors import DataError


@pytest.fixture
def server_folder(tmp_path):
    """A folder on the 'server' laid out like a dataset, with a telling subfolder name."""
    from PIL import Image

    root = tmp_path / "secret-data"
    for split in ("dev", "train"):
        for cls in ("classified-a", "classified-b"):
            (root / split / cls).mkdir(parents=True)
            for i in range(3):
                Image.new("RGB", (16, 16), (i * 40, 0, 0)).save(root / split / cls / f"{i}.png")
    return root


@pytest.fixture
def server_zip(server_folder, tmp_path):
    path = tmp_path / "server.zip"
    with zipfile.ZipFile(path, "w") as zf:
        for p in sorted(server_folder.rglob("*.png")):
            zf.write(p, p.relative_to(server_folder).as_posix())
    return path


def _zips(settings) -> set[str]:
    root = settings.cache_dir / "zips"
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


def _without(message: str, text: str) -> str:
    """The message with the name the client gave (whole or clipped) blanked out."""
    from tlweb.errors import clip

    return message.replace(text, "<given>").replace(clip(text), "<given>")


def _no_leak(message: str) -> None:
    for word in ("dev", "classified", "secret-data"):
        assert word not in message, message


@pytest.mark.parametrize("mode", ["local", "shared"])
def test_dataset_box_refuses_server_folders_and_zips(settings, mode, server_folder, server_zip):
    st = settings.replace(mode=mode)
    before = _zips(st)
    for text in (str(server_folder), str(server_folder / "train"), str(server_zip), "../" + server_folder.name):
        with pytest.raises(DataError) as info:
            D.load_hub_dataset(text, settings=st)
        assert "not a Hugging Face dataset id" in str(info.value)
        _no_leak(_without(str(info.value), text))
    assert _zips(st) == before  # no zip on the server was unpacked


def test_local_mode_id_that_is_a_folder_here_is_not_read(settings, server_folder, monkeypatch):
    monkeypatch.chdir(server_folder.parent)
    with pytest.raises(DataError) as info:
        D.load_hub_dataset("secret-data", settings=settings)
    assert "is a folder here" in str(info.value)
    _no_leak(_without(str(info.value), "secret-data"))


def test_shared_mode_id_is_never_looked_up_on_disk(shared_settings, server_folder, monkeypatch):
    """The same answer whether or not a folder of that name exists under the working directory:
    the box is no oracle, and (offline here) the id goes to the datasets cache, never the folder."""
    monkeypatch.chdir(server_folder.parent)
    answers = []
    for name in ("secret-data", "missing-data"):
        with pytest.raises(DataError) as info:
            D.load_hub_dataset(name, settings=shared_settings)
        answers.append(_without(str(info.value), name))
    assert answers[0] == answers[1]
    _no_leak(answers[0])


def test_shared_mode_load_data_takes_no_paths(shared_settings, server_folder, server_zip):
    before = _zips(shared_settings)
    answers = []
    for text in (str(server_folder), str(server_folder) + "-missing"):
        with pytest.raises(DataError) as info:
            D.load_data(text, settings=shared_settings)
        answers.append(_without(str(info.value), text))
    assert answers[0] == answers[1]
    with pytest.raises(DataError):
        D.load_data(str(server_zip), settings=shared_settings)
    assert _zips(shared_settings) == before
    assert D.load_data("sample", settings=shared_settings).num_classes >= 2  # the built-in sample still works


def test_column_and_split_names_are_checked(settings):
    with pytest.raises(DataError):
        D.load_hub_dataset("beans", image_column="x" * 5000, settings=settings)


@pytest.mark.parametrize("which", ["local", "shared"])
def test_through_the_app_the_box_refuses_server_paths(which, app_url, shared_url, settings, server_folder,
                                                      server_zip):
    from gradio_client import Client

    client = Client(app_url if which == "local" else shared_url, verbose=False)
    before = _zips(settings)
    for text in (str(server_folder), str(server_zip)):
        with pytest.raises(AppError) as info:
            client.predict(source="hub", hub_id=text, api_name="/load_data")
        msg = str(info.value)
        assert "dataset id" in msg and "Traceback" not in msg
        _no_leak(_without(msg, text))
        assert str(server_folder.parent) not in msg  # no absolute server path comes back
        with pytest.raises(AppError) as info:  # the Embeddings tab's data box is the same gate
            client.predict(backbones=["demo-vit", "demo-resnet"], custom_backbones="", zero_shot="", templates="",
                           source="hub", hub_id=text, api_name="/leaderboard")
        assert "dataset id" in str(info.value)
        _no_leak(_without(str(info.value), text))
    assert _zips(settings) == before
