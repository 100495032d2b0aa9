"""Model states (ready / needs a download, with sizes) and the download's byte progress."""

from __future__ import annotations

import logging
import shutil

import pytest

from tests import fake_hub
from tlweb.catalog import CLASSIFICATION
from tlweb.engine import availability, loading
from tlweb.engine.availability import ByteProgress, ModelState, human_size, model_state, state_sentence
from tlweb.engine.listing import list_models, resolve


def test_human_size_uses_decimal_units():
    assert human_size(346_000_000) == "346 MB"
    assert human_size(1_234_000_000) == "1.2 GB"
    assert human_size(81_000) == "81 KB"
    assert human_size(None) == "" and human_size(512) == "512 B"


def test_uncached_catalog_model_needs_a_download_with_an_estimated_size(settings):
    spec = resolve("vit-base", settings=settings)
    state = model_state(spec, settings)
    assert not state.ready and state.kind == "download"
    assert state.size_bytes == int(86.6e6 * 4)  # float32 weights
    assert state.short() == "⬇ download ≈ 346 MB"
    assert state.column() == "download ≈ 346 MB"


def test_demo_models_are_ready_and_say_whether_they_are_built(settings, tmp_path):
    spec = resolve("demo-vit", settings=settings)
    fresh = settings.replace(home=tmp_path / "home")
    assert model_state(spec, fresh) == ModelState("demo", True, built=False)
    assert model_state(spec, fresh).column() == "demo (built on first use)"
    from tlweb.engine.demo import ensure_built

    ensure_built("demo-vit", fresh)
    assert model_state(spec, fresh).built is True and model_state(spec, fresh).short() == "✓ demo"


def test_a_model_in_the_hub_cache_is_ready_with_its_size_on_disk(settings, demo_models):
    spec = resolve(fake_hub.KEY, settings=settings)
    assert not model_state(spec, settings).ready
    try:
        fake_hub.write_cached_model(demo_models["demo-deit"])
        availability.forget_cache_scan()
        state = model_state(spec, settings)
        on_disk = sum(p.stat().st_size for p in demo_models["demo-deit"].iterdir() if p.is_file())
        assert state.ready and state.kind == "cached" and state.size_bytes == on_disk
        assert state.short().startswith("✓ cached ")
        # and it loads offline through the app's own path (the local cache is tried first)
        loaded = loading.load(fake_hub.KEY, task=CLASSIFICATION, settings=settings)
        assert loaded.model.config.model_type == "deit"
    finally:
        shutil.rmtree(fake_hub.repo_folder(), ignore_errors=True)
        availability.forget_cache_scan()
        loading.reset_cache()


def test_config_without_weights_is_not_cached(settings, demo_models, tmp_path):
    partial = tmp_path / "partial"
    partial.mkdir()
    shutil.copy(demo_models["demo-deit"] / "config.json", partial)
    try:
        fake_hub.write_cached_model(partial)
        assert not availability.is_cached(fake_hub.REPO)
    finally:
        shutil.rmtree(fake_hub.repo_folder(), ignore_errors=True)


def test_state_sentences_say_what_to_do(settings):
    spec = resolve("vit-base", settings=settings)
    state = model_state(spec, settings)
    offline = state_sentence(spec, state, hub_up=False)
    assert "cannot be reached" in offline and "python -m tlweb download vit-base" in offline and "346 MB" in offline
    assert "press Download" in state_sentence(spec, state, hub_up=True)


def test_every_listed_model_has_a_state(settings):
    specs = list_models(CLASSIFICATION, settings)
    states = availability.model_states(specs, settings)
    assert len(states) == len(specs)
    assert {s.kind for s in states} >= {"demo", "download"}


def test_byte_progress_sums_the_byte_bars_and_ignores_the_file_counter():
    seen = []
    bars = ByteProgress(lambda done, total: seen.append((done, total)))
    files = bars(total=3, desc="Fetching 3 files")  # hf_thread_map's counter: not bytes
    transfer = bars(desc="Downloading bytes", total=0, unit="B")
    disk = bars(desc="Reconstructing", total=0, unit="B")
    for bar in (transfer, disk):
        bar.total = 1000
        bar.refresh()
    files.update(1)
    transfer.update(400)
    transfer.total = 2000  # the transfer bar's total may grow; the disk bar's is the file sizes
    disk.update(250)
    disk.update(750)
    with files:
        files.set_postfix_str("x")
    assert seen[-1] == (1000, 1000)
    assert all(total == 1000 for _, total in seen)
    assert (250, 1000) in seen


def test_download_reports_progress_and_one_event_line(settings, demo_models, monkeypatch, caplog):
    seen = []
    with fake_hub.reachable_hub(monkeypatch, demo_models["demo-deit"]):
        with caplog.at_level(logging.INFO, logger="tlweb.events"):
            folder = loading.download(fake_hub.KEY, settings, on_progress=lambda d, t: seen.append((d, t)))
        assert availability.is_cached(fake_hub.REPO)
        assert model_state(resolve(fake_hub.KEY, settings=settings), settings).ready
    total = sum(p.stat().st_size for p in demo_models["demo-deit"].iterdir() if p.is_file())
    assert seen and seen[-1] == (total, total) and len(seen) > 2
    assert folder.endswith(fake_hub.COMMIT)
    lines = [r.getMessage() for r in caplog.records if r.name == "tlweb.events"]
    assert len(lines) == 1 and lines[0].startswith(f"downloaded {fake_hub.REPO}")


def test_download_without_the_hub_is_a_sentence(settings, monkeypatch):
    from tlweb.errors import ModelUnavailableError

    monkeypatch.setattr(availability, "hub_reachable", lambda *a, **k: False)
    with pytest.raises(ModelUnavailableError, match="cannot be reached"):
        loading.download("vit-base", settings)
