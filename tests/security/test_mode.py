"""The serving mode and the one gate every client text passes (tlweb.access, listing.resolve)."""

from __future__ import annotations

import pytest

from tlweb import access
from tlweb.config import LOCAL, SHARED, Settings, is_loopback, serving_mode
from tlweb.engine.listing import resolve
from tlweb.errors import DataError, ModelError


@pytest.mark.parametrize("host,loop", [("127.0.0.1", True), ("127.0.0.2", True), ("localhost", True), ("::1", True),
                                       ("[::1]", True), ("0.0.0.0", False), ("192.168.1.5", False), ("::", False),
                                       ("example.org", False), ("", False)])
def test_loopback_hosts(host, loop):
    assert is_loopback(host) is loop


def test_mode_from_host_flag_and_environment(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("TLWEB_SHARED", raising=False)
    assert serving_mode("127.0.0.1") == LOCAL
    assert serving_mode("0.0.0.0") == SHARED
    assert serving_mode("127.0.0.1", shared=True) == SHARED
    monkeypatch.setenv("TLWEB_SHARED", "1")
    assert serving_mode("127.0.0.1") == SHARED
    monkeypatch.delenv("TLWEB_SHARED")
    monkeypatch.setenv("SPACE_ID", "someone/space")
    assert serving_mode("127.0.0.1") == SHARED
    assert Settings.from_env().shared


def test_a_reachable_host_makes_settings_shared_and_never_back(monkeypatch):
    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("TLWEB_SHARED", raising=False)
    local = Settings()
    assert not local.shared
    assert local.replace(host="0.0.0.0").shared
    assert local.replace(mode=SHARED).replace(host="127.0.0.1").shared  # a copy of shared settings stays shared


def test_cli_serve_flags_decide_the_mode(monkeypatch):
    from tlweb.cli import build_parser
    from tlweb.cli.common import _settings_from

    monkeypatch.delenv("SPACE_ID", raising=False)
    monkeypatch.delenv("TLWEB_SHARED", raising=False)
    parser = build_parser()
    assert not _settings_from(parser.parse_args(["serve"]), serving=True).shared
    assert _settings_from(parser.parse_args(["serve", "--shared"]), serving=True).shared
    assert _settings_from(parser.parse_args(["serve", "--host", "0.0.0.0"]), serving=True).shared
    # other commands act for the person at the terminal: local, whatever the environment says
    monkeypatch.setenv("TLWEB_SHARED", "1")
    assert not _settings_from(parser.parse_args(["classify", "x.jpg", "--model", "demo-vit"])).shared


def test_shared_mode_accepts_list_models_hub_ids_and_demo_models(shared_settings):
    assert resolve("vit-base", settings=shared_settings).source == "catalog"
    assert resolve("google/vit-base-patch16-224", settings=shared_settings).source == "catalog"
    assert resolve("someone/some-model", settings=shared_settings).source == "hub"
    assert resolve("demo-vit", settings=shared_settings).source == "demo"


@pytest.mark.parametrize("name", ["/etc", "/etc/passwd", "./models/x", "../x", "~/x", "C:\\models", "a/b/c",
                                  "model.safetensors", "weights.zip", ".hidden"])
def test_shared_mode_refuses_paths_in_one_sentence(shared_settings, name):
    with pytest.raises(ModelError) as info:
        resolve(name, settings=shared_settings)
    assert access.SHARED_RULE in str(info.value)


def test_shared_mode_never_takes_a_demo_model_by_its_folder(shared_settings, demo_models):
    with pytest.raises(ModelError, match="shared"):
        resolve(str(demo_models["demo-vit"]), settings=shared_settings)
    assert resolve(str(demo_models["demo-vit"]), settings=shared_settings.replace(mode=LOCAL)).key == "demo-vit"


@pytest.mark.parametrize("text", ["a" * 5000, "x/" + "y" * 400, "bad\x00name", "line\nbreak"])
def test_over_long_and_control_character_names_are_refused_clipped(settings, shared_settings, text):
    for st in (settings, shared_settings):
        with pytest.raises(ModelError) as info:
            resolve(text, settings=st)
        assert len(str(info.value)) < 400


def test_dataset_ids_are_ids_in_every_mode():
    assert access.hub_dataset_id(" beans ") == "beans"
    assert access.hub_dataset_id("owner/name") == "owner/name"
    for bad in ("/srv/data", "../data", "a/b/c", "owner/..", "~/x", "x" * 300, ""):
        with pytest.raises(DataError):
            access.hub_dataset_id(bad)
