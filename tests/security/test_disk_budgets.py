"""Finding 4: a zip of many small entries skipped the ratio check (a 354 KB zip wrote 301 MB), and
unpacked zips and gradio's upload copies were never cleaned up. Now: the ratio and the size limit
apply to the whole zip, one session may unpack so much, uploads go when used or refused, and the
home folder has a size budget kept by least-recently-used cleanup of caches (never runs)."""

from __future__ import annotations

import io
import os
import time
import zipfile

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.security.conftest import upload_copies
from tlweb.access import client_scope
from tlweb.engine import budget
from tlweb.engine import data as D
from tlweb.errors import DataError, TlwebError


def _png(seed: int, side: int = 24) -> bytes:
    import numpy as np
    from PIL import Image

    arr = np.random.default_rng(seed).integers(0, 255, (side, side, 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def good_zip(path, n: int = 4, side: int = 24, seed: int = 0):
    with zipfile.ZipFile(path, "w") as zf:
        for cls in ("cats", "dogs"):
            for i in range(n):
                zf.writestr(f"{cls}/{i}.png", _png(seed * 1000 + i + (500 if cls == "dogs" else 0), side))
    return path


def small_entry_bomb(path, entries: int = 60, entry_bytes: int = 900 * 1024):
    """Many entries under 1 MB each, all zeros: tiny on disk, large unpacked."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        zeros = bytes(entry_bytes)
        for i in range(entries):
            zf.writestr(f"{'ab'[i % 2]}/{i}.png", zeros)
    return path


def _zip_entries(settings) -> set[str]:
    root = settings.cache_dir / "zips"
    return {p.name for p in root.iterdir()} if root.is_dir() else set()


def test_many_small_entries_bomb_is_refused_before_writing(settings, tmp_path):
    bomb = small_entry_bomb(tmp_path / "bomb.zip")
    assert bomb.stat().st_size < 200 * 1024  # ~54 MB declared in well under 200 KB
    before = _zip_entries(settings)
    with pytest.raises(DataError, match="zip bomb"):
        D.extract_zip(bomb, settings)
    assert _zip_entries(settings) == before  # nothing unpacked, no temporary folder left


def test_total_unpacked_size_limit_is_for_the_whole_zip(settings, tmp_path):
    big = good_zip(tmp_path / "big.zip", n=10, side=160)  # incompressible PNGs, ~1.5 MB in all
    with pytest.raises(DataError, match="unpacks to"):
        D.extract_zip(big, settings.replace(max_unzipped_mb=1))


def test_lying_size_header_is_refused(settings, tmp_path):
    path = good_zip(tmp_path / "liar.zip", n=3)
    raw = bytearray(path.read_bytes())
    cd = raw.find(b"PK\x01\x02")  # central directory: declare 10 bytes for the first entry
    raw[cd + 24:cd + 28] = (10).to_bytes(4, "little")
    raw[22:26] = (10).to_bytes(4, "little")  # and in its local header
    path.write_bytes(bytes(raw))
    with pytest.raises(DataError):
        D.extract_zip(path, settings)


def test_per_session_budget(settings, tmp_path):
    st = settings.replace(session_disk_mb=1)
    first, second = good_zip(tmp_path / "a.zip", n=6, side=160, seed=1), good_zip(tmp_path / "b.zip", n=6, side=160,
                                                                                  seed=2)
    client = f"session-{time.time_ns()}"
    try:
        with client_scope(client):
            D.extract_zip(first, st)  # ~0.9 MB
            with pytest.raises(DataError, match="this session has already unpacked"):
                D.extract_zip(second, st)
        with client_scope(client + "-other"):  # another session has its own budget
            D.extract_zip(second, st)
    finally:
        budget.release(client)
        budget.release(client + "-other")


def test_uploads_are_deleted_when_used_or_refused(settings, tmp_path):
    used = good_zip(tmp_path / "used.zip")
    assert D.load_upload(used, settings=settings).num_classes == 2
    assert not used.exists()
    refused = small_entry_bomb(tmp_path / "refused.zip")
    with pytest.raises(DataError):
        D.load_upload(refused, settings=settings)
    assert not refused.exists()


def test_shared_session_end_deletes_what_it_unpacked_unless_another_holds_it(shared_settings, tmp_path):
    from tlweb.ui.guard import release

    path = good_zip(tmp_path / "mine.zip", seed=7)
    a, b = f"a-{time.time_ns()}", f"b-{time.time_ns()}"
    with client_scope(a):
        root, _ = D.extract_zip(path, shared_settings)
    with client_scope(b):
        assert D.extract_zip(path, shared_settings)[0] == root  # the same zip: one copy, held by both
    release(a, shared_settings)
    assert root.exists()
    release(b, shared_settings)
    assert not root.exists()


def test_app_deletes_zip_uploads_used_or_refused(client, tmp_path):
    good = good_zip(tmp_path / f"good-{time.time_ns()}.zip", seed=3)
    client.predict(source="zip", zip_file=handle_file(str(good)), api_name="/load_data")
    assert upload_copies(good.name) == []
    bomb = small_entry_bomb(tmp_path / f"bomb-{time.time_ns()}.zip")
    with pytest.raises(AppError, match="zip bomb"):
        client.predict(source="zip", zip_file=handle_file(str(bomb)), api_name="/load_data")
    assert upload_copies(bomb.name) == []


def test_app_deletes_a_refused_image_upload_and_keeps_a_good_one(client, tmp_path, example_image):
    bad = tmp_path / f"broken-{time.time_ns()}.jpg"
    bad.write_bytes(example_image.read_bytes()[:300])
    with pytest.raises(AppError, match="truncated|corrupt"):
        client.predict(handle_file(str(bad)), "demo-vit", "", 3, api_name="/classify")
    assert upload_copies(bad.name) == []
    good = tmp_path / f"good-{time.time_ns()}.jpg"
    good.write_bytes(example_image.read_bytes())
    client.predict(handle_file(str(good)), "demo-vit", "", 3, api_name="/classify")
    assert len(upload_copies(good.name)) == 1  # kept: the same image may be classified again


# --------------------------------------------------------------------------- home budget


def _entry(settings, part: str, name: str, nbytes: int, age_s: float):
    path = settings.cache_dir / part / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(nbytes))
    old = time.time() - age_s
    os.utime(path, (old, old))
    return path


def test_home_budget_cleans_caches_least_recently_used_first_and_never_runs(tmp_path, settings):
    st = settings.replace(home=tmp_path / "home", home_budget_mb=1)
    run_file = st.runs_dir / "some-run" / "model" / "model.safetensors"
    run_file.parent.mkdir(parents=True)
    run_file.write_bytes(os.urandom(200_000))
    oldest = _entry(st, "tensors", "old.pt", 300_000, 3000)
    middle = _entry(st, "features", "mid.pt", 300_000, 2000)
    recent = _entry(st, "tensors", "new.pt", 100_000, 1000)
    removed = budget.make_room(300_000, st)
    assert removed == [oldest]
    assert middle.exists() and recent.exists() and run_file.exists()
    with pytest.raises(TlwebError, match="budget"):
        budget.make_room(2_000_000, st)  # more than the budget even with every cache gone
    assert run_file.exists()


def test_cache_command_cleans_to_the_budget(tmp_path, settings, monkeypatch, capsys):
    from tlweb.cli import main
    from tlweb.config import set_settings

    st = settings.replace(home=tmp_path / "home", home_budget_mb=1)
    old = _entry(st, "zips", "aaaa", 900_000, 5000)
    new = _entry(st, "zips", "bbbb", 300_000, 4000)
    set_settings(st)
    try:
        assert main(["cache", "--clean", "--json"]) == 0
    finally:
        set_settings(settings)
    assert not old.exists() and new.exists()
    assert '"removed"' in capsys.readouterr().out


# --------------------------------------------------------------------------- Hub downloads in shared mode


class _Listing:
    def __init__(self, sizes: dict):
        from types import SimpleNamespace

        self.siblings = [SimpleNamespace(rfilename=k, size=v) for k, v in sizes.items()]


@pytest.fixture
def fake_hub(monkeypatch, demo_models):
    """The Hub, unreachable here, replaced at its edges: a file listing and a snapshot download that
    copies a tiny demo model into the cache folder it is given."""
    import shutil

    import huggingface_hub

    from tlweb.engine import availability, loading

    calls = {"downloads": [], "sizes": {"config.json": 1_000, "model.safetensors": 5_000_000,
                                        "pytorch_model.bin": 900_000_000}}

    def model_info(self, repo_id, revision=None, files_metadata=False, **kw):
        return _Listing(calls["sizes"])

    def snapshot_download(repo_id, revision=None, cache_dir=None, local_files_only=False, allow_patterns=None, **kw):
        folder = os.path.join(str(cache_dir), f"models--{repo_id.replace('/', '--')}", "snapshots", "0")
        if local_files_only:
            if cache_dir is not None and os.path.isdir(folder):
                return folder
            raise huggingface_hub.errors.LocalEntryNotFoundError("not cached")
        calls["downloads"].append((repo_id, str(cache_dir), list(allow_patterns or [])))
        shutil.copytree(demo_models["demo-vit"], folder)
        return folder

    monkeypatch.setattr(huggingface_hub.HfApi, "model_info", model_info)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
    monkeypatch.setattr(availability, "hub_reachable", lambda *a, **k: True)
    loading.reset_cache()
    yield calls
    loading.reset_cache()


def test_shared_hub_download_is_sized_from_the_listing_then_fetched_into_our_cache(fake_hub, tmp_path, settings):
    from tlweb.catalog import CLASSIFICATION
    from tlweb.engine import loading

    st = settings.replace(home=tmp_path / "home", mode="shared", max_download_mb=10)
    loaded = loading.load("someone/tiny-vit", task=CLASSIFICATION, settings=st)
    assert loaded.params > 0
    (repo, cache_dir, patterns), = fake_hub["downloads"]
    assert repo == "someone/tiny-vit" and cache_dir == str(st.cache_dir / "hub")
    assert "*.bin" not in patterns  # pickle weights are not even downloaded for a typed id


def test_shared_hub_download_over_the_limit_is_refused_before_downloading(fake_hub, tmp_path, settings):
    from tlweb.engine import loading
    from tlweb.errors import ModelError

    st = settings.replace(home=tmp_path / "home", mode="shared", max_download_mb=4)
    with pytest.raises(ModelError, match="downloads at most"):
        loading.load("someone/too-big", settings=st)
    fake_hub["sizes"]["model.safetensors"] = 3_000_000
    with pytest.raises(TlwebError, match="budget"):  # fits the per-download limit, not the home budget
        loading.load("someone/too-big", settings=st.replace(home_budget_mb=2))
    assert fake_hub["downloads"] == []


def test_shared_dataset_download_is_sized_first(monkeypatch, tmp_path, settings):
    import huggingface_hub

    from tlweb.engine import availability

    called = []
    monkeypatch.setattr(huggingface_hub.HfApi, "dataset_info",
                        lambda self, repo_id, revision=None, files_metadata=False, **kw: _Listing(
                            {"data/train.parquet": 3_000_000_000, "README.md": 100}))
    monkeypatch.setattr(huggingface_hub, "snapshot_download", lambda *a, **k: called.append(k) or (
        (_ for _ in ()).throw(huggingface_hub.errors.LocalEntryNotFoundError("x")) if k.get("local_files_only")
        else "/nowhere"))
    monkeypatch.setattr(availability, "hub_reachable", lambda *a, **k: True)
    st = settings.replace(home=tmp_path / "home", mode="shared")
    with pytest.raises(TlwebError, match="downloads at most"):
        D.load_hub_dataset("someone/huge", settings=st)
    assert all(k.get("local_files_only") for k in called)  # only the cache was asked
