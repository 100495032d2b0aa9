"""Stand-ins for the Hugging Face Hub: its download (for tests of the Download button) and its upload API
(:func:`hub_api`, for tests of the push).

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


# --------------------------------------------------------------------------- a stand-in of the Hub's upload API
#
# The push tests use huggingface_hub's real HfApi (create_repo, create_commit: README validation, preupload,
# the NDJSON commit) against a local HTTP server that answers the few endpoints it calls the way the Hub does:
# unknown tokens get 401, writing into a namespace the token's account may not write to gets 403, every file
# is answered as a "regular" (inline) upload so no LFS or Xet storage is needed.


class FakeHub:
    """The server's state: accounts by token, repositories with their files and commits."""

    def __init__(self):
        import threading

        self.tokens: dict[str, dict] = {}  # token -> {"user": name, "orgs": [names it may write to]}
        self.repos: dict[str, dict] = {}  # repo id -> {"private": bool, "files": {path: bytes}, "commits": [...]}
        self.requests: list[tuple[str, str, str | None]] = []  # (method, path, Authorization header)
        self.lock = threading.Lock()
        self.url = ""

    def add_account(self, token: str, user: str, orgs=()) -> None:
        self.tokens[token] = {"user": user, "orgs": list(orgs)}

    def may_write(self, token: str | None, owner: str) -> bool | None:
        """None: unknown token (401); False: known, not allowed here (403)."""
        account = self.tokens.get(token or "")
        if account is None:
            return None
        return owner == account["user"] or owner in account["orgs"]


def _handler(hub: FakeHub):
    import base64
    import gzip
    import json as _json
    import re
    from http.server import BaseHTTPRequestHandler

    repo_path = re.compile(r"^/api/models/([^/]+/[^/]+)/(preupload|commit)/([^/?]+)")

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # quiet
            pass

        def _send(self, code: int, body: dict) -> None:
            data = _json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> bytes:
            data = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            return gzip.decompress(data) if self.headers.get("Content-Encoding") == "gzip" else data

        def _token(self) -> str | None:
            auth = self.headers.get("Authorization") or ""
            return auth[len("Bearer "):] if auth.startswith("Bearer ") else None

        def _refused(self, owner: str) -> bool:
            allowed = hub.may_write(self._token(), owner)
            if allowed is None:
                self._send(401, {"error": "Invalid credentials in Authorization header"})
                return True
            if not allowed:
                self._send(403, {"error": f"You don't have the rights to create a model under the namespace {owner}"})
                return True
            return False

        def do_HEAD(self):  # noqa: N802 - the reachability check only opens a socket; answer anything else
            self.send_response(200)
            self.end_headers()

        def do_POST(self):  # noqa: N802 - http.server's name
            hub.requests.append(("POST", self.path, self.headers.get("Authorization")))
            body = self._body()
            if self.path == "/api/validate-yaml":
                self._send(200, {"warnings": []})
                return
            if self.path == "/api/repos/create":
                payload = _json.loads(body)
                owner = payload.get("organization") or (hub.tokens.get(self._token() or "") or {}).get("user", "")
                if self._refused(owner):
                    return
                repo_id = f"{owner}/{payload['name']}"
                with hub.lock:
                    if repo_id in hub.repos:
                        self._send(409, {"error": "You already created this model repo", "url": f"{hub.url}/{repo_id}"})
                        return
                    hub.repos[repo_id] = {"private": payload.get("visibility") == "private", "files": {},
                                          "commits": []}
                self._send(200, {"url": f"{hub.url}/{repo_id}", "name": repo_id})
                return
            m = repo_path.match(self.path)
            if not m:
                self._send(404, {"error": "not found"})
                return
            repo_id, what = m.group(1), m.group(2)
            if self._refused(repo_id.split("/")[0]):
                return
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._send(404, {"error": "Repository not found"})
                return
            if what == "preupload":
                files = _json.loads(body)["files"]
                self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                            "oid": None} for f in files]})
                return
            lines = [_json.loads(line) for line in body.splitlines() if line.strip()]
            header = next(item["value"] for item in lines if item["key"] == "header")
            with hub.lock:
                for item in lines:
                    if item["key"] == "file":
                        repo["files"][item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                    elif item["key"] != "header":
                        self._send(400, {"error": f"this stand-in takes inline files only, not {item['key']}"})
                        return
                oid = hashlib.sha1(f"{repo_id}{len(repo['commits'])}".encode()).hexdigest()
                repo["commits"].append({"summary": header["summary"], "oid": oid})
            self._send(200, {"commitUrl": f"{hub.url}/{repo_id}/commit/{oid}", "commitOid": oid,
                             "pullRequestUrl": None})

    return Handler


@contextmanager
def hub_api(monkeypatch: pytest.MonkeyPatch):
    """A running :class:`FakeHub` that huggingface_hub (and the app's reachability check) talks to: offline
    mode lifted, ``HF_ENDPOINT`` pointing at it. Yields the hub; the server stops after."""
    import threading
    from http.server import ThreadingHTTPServer

    from huggingface_hub import constants

    hub = FakeHub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(hub))
    hub.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()
