"""A stand-in for the Hugging Face Hub's download, for tests of the Download button.

The Hub cannot be reached here, so only the network part is replaced: ``snapshot_download``
writes a real (tiny) model into the real local cache layout (``models--org--name/blobs``,
``snapshots/<commit>``, ``refs/main``), reporting its bytes through the ``tqdm_class`` it is
given the way huggingface_hub does. Everything after it — ``try_to_load_from_cache``,
``scan_cache_dir``, loading the model offline — is the library's and the app's own code.
"""

from __future__ import annotations

import hashlib
import shutil
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

COMMIT = "0123456789abcdef0123456789abcdef01234567"
REPO = "facebook/deit-small-patch16-224"  # the catalog's deit-small: a demo DeiT stands in for it
KEY = "deit-small"


def cache_root() -> Path:
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)


def repo_folder(repo_id: str = REPO) -> Path:
    return cache_root() / ("models--" + repo_id.replace("/", "--"))


def write_cached_model(source: Path, repo_id: str = REPO, bar_class=None, chunk: int = 8192,
                       delay_s: float = 0.0) -> Path:
    """Copy ``source`` (a save_pretrained folder) into the cache as ``repo_id``; returns its snapshot."""
    folder = repo_folder(repo_id)
    blobs, snap = folder / "blobs", folder / "snapshots" / COMMIT
    blobs.mkdir(parents=True, exist_ok=True)
    snap.mkdir(parents=True, exist_ok=True)
    (folder / "refs").mkdir(exist_ok=True)
    (folder / "refs" / "main").write_text(COMMIT)
    files = [p for p in sorted(Path(source).iterdir()) if p.is_file()]
    total = sum(p.stat().st_size for p in files)
    bar = bar_class(desc="Downloading bytes", total=0, initial=0, unit="B", unit_scale=True) if bar_class else None
    if bar is not None:
        bar.total = total
        bar.refresh()
    for p in files:
        data = p.read_bytes()
        blob = blobs / hashlib.sha256(data).hexdigest()
        with open(blob, "wb") as out:
            for i in range(0, len(data), chunk):
                out.write(data[i:i + chunk])
                if bar is not None:
                    bar.update(len(data[i:i + chunk]))
                if delay_s:
                    time.sleep(delay_s)
        link = snap / p.name
        if link.exists() or link.is_symlink():
            link.unlink()
        link.symlink_to(Path("..") / ".." / "blobs" / blob.name)
    if bar is not None:
        bar.close()
    return snap


@contextmanager
def reachable_hub(monkeypatch: pytest.MonkeyPatch, source: Path, delay_s: float = 0.0, calls: list | None = None):
    """The Hub "answers" and "downloads" ``source`` as :data:`REPO`; the cache entry is removed after."""
    import huggingface_hub

    from tlweb.engine import availability, loading

    def fake_snapshot_download(repo_id, revision=None, allow_patterns=None, tqdm_class=None, **kwargs):
        if calls is not None:
            calls.append(repo_id)
        return str(write_cached_model(source, repo_id, bar_class=tqdm_class, delay_s=delay_s))

    monkeypatch.setattr(availability, "hub_reachable", lambda *a, **k: True)
    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_snapshot_download)
    monkeypatch.setattr(huggingface_hub, "list_repo_files",
                        lambda repo_id, revision=None, **k: [p.name for p in Path(source).iterdir()])
    try:
        yield
    finally:
        shutil.rmtree(repo_folder(), ignore_errors=True)
        availability.forget_cache_scan()
        loading.reset_cache()
