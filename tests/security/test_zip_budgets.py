"""Issue 17, finding 3: a 232 KB zip whose entries overlap (each entry's data quotes the next entry's
header, down to one shared kernel) passed the ratio and size checks, which read the zip's own headers,
and wrote 1.8 GB; the per-session budget started afresh in every session and its refusal said "Reload
the page". Now overlapping entries are refused, the ratio is taken against the file itself, writes stop
at what was planned, the home budget bounds every session together, and no message suggests reloading."""

from __future__ import annotations

import time
import zipfile

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.security.bombs import overlap_zip
from tests.security.test_disk_budgets import good_zip
from tlweb.access import client_scope
from tlweb.engine import budget
from tlweb.engine import data as D
from tlweb.errors import DataError, TlwebError


@pytest.fixture
def unpacked(monkeypatch):
    """Bytes read out of zip entries (what extraction writes), counted as they are read."""
    count = {"bytes": 0}
    original = zipfile.ZipExtFile.read

    def read(self, n=-1):
        data = original(self, n)
        count["bytes"] += len(data)
        return data

    monkeypatch.setattr(zipfile.ZipExtFile, "read", read)
    return count


def test_the_overlap_zip_passes_every_header_check_yet_is_refused_before_writing(settings, tmp_path, unpacked):
    bomb, declared = overlap_zip(tmp_path / "overlap.zip")
    infos = zipfile.ZipFile(bomb).infolist()
    packed = sum(i.compress_size for i in infos)
    # what the headers say passes the old checks: each entry and the whole under 100:1, under the
    # 2 GB a session may unpack and the 4 GB one zip may
    assert bomb.stat().st_size < 300 * 1024 and declared > 1.5 * 1024**3
    assert declared < 100 * packed and all(i.file_size < 100 * i.compress_size for i in infos)
    assert declared < settings.session_disk_mb * 1024**2 < settings.max_unzipped_mb * 1024**2
    with pytest.raises(DataError, match="overlap"):
        D.extract_zip(bomb, settings)
    assert unpacked["bytes"] < 50 * 1024**2  # (nothing at all: refused from the headers' offsets)
    assert not list((settings.cache_dir / "zips").glob("*.tmp*"))


def test_the_ratio_is_taken_against_the_file_itself(settings, tmp_path, monkeypatch, unpacked):
    from tlweb.engine.data import folders

    monkeypatch.setattr(folders, "_overlapping", lambda path, infos: None)  # as if entries did not overlap
    bomb, _ = overlap_zip(tmp_path / "overlap.zip")
    with pytest.raises(DataError, match="zip bomb"):
        D.extract_zip(bomb, settings)
    assert unpacked["bytes"] == 0


def test_the_app_refuses_the_overlap_zip_with_a_sentence(shared_url, tmp_path):
    bomb, _ = overlap_zip(tmp_path / f"overlap-{time.time_ns()}.zip")
    with pytest.raises(AppError) as info:
        Client(shared_url, verbose=False).predict(source="zip", zip_file=handle_file(str(bomb)), api_name="/load_data")
    text = str(info.value)
    assert "overlap" in text and "reload" not in text.lower() and str(tmp_path) not in text


def test_the_home_budget_bounds_every_session_together(settings, tmp_path):
    st = settings.replace(home=tmp_path / "home", home_budget_mb=2, session_disk_mb=2048)
    sessions = [f"s{i}-{time.time_ns()}" for i in range(3)]
    refused = None
    try:
        for i, client in enumerate(sessions):  # each a new session with a fresh per-session budget
            with client_scope(client):
                try:
                    D.extract_zip(good_zip(tmp_path / f"z{i}.zip", n=6, side=160, seed=10 + i), st)  # ~0.9 MB each
                except TlwebError as exc:
                    refused = str(exc)
                    break
        assert refused is not None and "TLWEB_HOME_BUDGET_MB" in refused and "reload" not in refused.lower()
        assert budget.home_usage(st, max_age_s=0) <= 2 * 1024**2
    finally:
        for client in sessions:
            budget.release(client)


def test_the_session_budget_never_suggests_reloading(settings, tmp_path):
    st = settings.replace(session_disk_mb=1)
    client = f"session-{time.time_ns()}"
    try:
        with client_scope(client):
            D.extract_zip(good_zip(tmp_path / "a.zip", n=6, side=160, seed=21), st)
            with pytest.raises(DataError) as info:
                D.extract_zip(good_zip(tmp_path / "b.zip", n=6, side=160, seed=22), st)
    finally:
        budget.release(client)
    assert "this session has already unpacked" in str(info.value) and "reload" not in str(info.value).lower()
