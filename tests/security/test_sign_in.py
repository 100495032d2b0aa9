"""Sign in with Hugging Face (a Space only), with a stand-in profile: a signed-in visitor's runs belong to
their account (every session and device, kept past the tab's end and the time limit, deletable by them
only), anonymous visitors keep per-session runs; the push button uses the visitor's OAuth token and their
namespaces, against a local stand-in of the Hub's upload API. Locally nothing changes."""

from __future__ import annotations

import json
import os
import time
from types import SimpleNamespace

import gradio as gr
import pytest

from tests.fake_hub import hub_api
from tlweb.access import account_client, client_scope
from tlweb.config import LOCAL, SHARED
from tlweb.engine import cleanup, owners, stop
from tlweb.engine import runs as R
from tlweb.engine.runs import store
from tlweb.errors import TlwebError

PROFILE = {"name": "Ada", "preferred_username": "ada", "profile": "https://huggingface.co/ada", "picture": "",
           "orgs": [{"preferred_username": "ada-lab", "roleInOrg": "write"}]}
OAUTH = "hf_oauth_" + "AdAsEcReT" * 3


@pytest.fixture
def space(monkeypatch):
    monkeypatch.setenv("SPACE_ID", "someone/tlweb")
    monkeypatch.setenv("OAUTH_CLIENT_ID", "stand-in-client")


@pytest.fixture
def shared(tmp_path, settings):
    return settings.replace(home=tmp_path / "home", mode=SHARED, run_ttl_hours=1)


def _request(session_hash: str, user: str | None = None, expires_in: float = 3600):
    """A gradio request as the app sees it: its session hash and, when signed in, the OAuth session cookie."""
    session = {} if user is None else {"oauth_info": {"userinfo": {**PROFILE, "preferred_username": user},
                                                      "access_token": OAUTH, "expires_at": time.time() + expires_in}}
    return SimpleNamespace(session_hash=session_hash, request=SimpleNamespace(scope={"session": session}))


def test_who_is_asking_signed_in_or_not(space, monkeypatch):
    from tlweb.ui.guard import signed_in_user

    assert signed_in_user(_request("s1", "ada")) == "ada"
    assert signed_in_user(_request("s1")) is None
    assert signed_in_user(_request("s1", "ada", expires_in=-5)) is None  # an expired sign-in is none
    monkeypatch.delenv("OAUTH_CLIENT_ID")
    assert signed_in_user(_request("s1", "ada")) is None  # not a Space with OAuth: nothing changes
    assert account_client("ada") == "hf:ada" and account_client("../x") is None and account_client("") is None


def _finished_run(settings, name: str):
    run_id, path = store.new_run_dir(settings, name)
    (path / "config.json").write_text(json.dumps({"strategy": "linear", "base_model": "demo-vit",
                                                  "created": stop.now_iso()}))
    (path / "metrics.json").write_text(json.dumps({"status": "done", "test_accuracy": 0.5}))
    return run_id, path


def _listed(settings) -> set[str]:
    return {i.run_id for i in R.list_runs(settings)}


def test_an_accounts_runs_follow_it_and_outlive_its_sessions(shared):
    with client_scope(account_client("ada")):  # signed in, first device
        mine, mine_path = _finished_run(shared, "ada-run")
    with client_scope("anon-session"):
        anon, anon_path = _finished_run(shared, "anon-run")
    with client_scope(account_client("ada")):  # a reload, another device: the same account
        assert mine in _listed(shared) and anon not in _listed(shared)
        assert owners.writable(mine_path, shared)
    for other in (account_client("bob"), "anon-session-2", None):
        with client_scope(other):
            assert mine not in _listed(shared) and not owners.writable(mine_path, shared)
    with client_scope("anon-session"):
        assert anon in _listed(shared) and mine not in _listed(shared)
    # the tab closes: the session's runs are marked ended; an account's are not (it is not a session)
    assert owners.mark_ended("anon-session", shared) == [anon_path]
    assert owners.mark_ended("hf:ada", shared) == []  # an unload names the session hash, never matching
    old = time.time() - 3 * 3600
    for path in (mine_path, anon_path):
        for p in [path, *path.iterdir()]:
            os.utime(p, (old, old))
    removed = cleanup.sweep(shared).removed
    assert removed == [anon] and mine_path.is_dir()  # past the time limit: only the anonymous run goes
    with client_scope(account_client("bob")), pytest.raises(TlwebError):
        store.delete_entry(mine, shared)
    with client_scope(account_client("ada")):
        store.delete_entry(mine, shared)
    assert not mine_path.exists()


def test_one_click_push_with_the_visitors_sign_in(space, shared, monkeypatch, demo_models, tmp_path):
    from gradio.context import LocalContext

    from tests.engine.ft_helpers import shapes_folder
    from tlweb.engine.train import TrainConfig, finetune
    from tlweb.ui.tabs.finetune.handlers import Handlers

    root = shapes_folder(tmp_path / "shapes", classes=("circle", "square"), per_class=5, test_per_class=2, size=32)
    with client_scope(account_client("ada")):  # made as the account (a folder as data: local mode, same home)
        run = finetune(TrainConfig("demo-vit", str(root), "linear"), settings=shared.replace(mode=LOCAL))
    h = Handlers(shared)
    profile = gr.OAuthProfile(PROFILE)
    token = gr.OAuthToken(token=OAUTH, scope="openid profile write-repos manage-repos", expires_at=time.time() + 60)
    with hub_api(monkeypatch) as hub:
        hub.add_account(OAUTH, "ada", orgs=["ada-lab"])
        LocalContext.request.set(_request("device-2", "ada"))  # signed in, another session
        try:
            answer = h.push(run.run_id, "", "", True, profile, token)  # repository left empty: theirs
            assert answer == f"Pushed: [{hub.url}/ada/{run.run_id}]({hub.url}/ada/{run.run_id})"
            assert h.push(run.run_id, "ada-lab/shapes", "", False, profile, token).endswith("/ada-lab/shapes)")
            with pytest.raises(gr.Error, match="ada/… or ada-lab/…"):
                h.push(run.run_id, "someone-else/shapes", "", False, profile, token)
            LocalContext.request.set(_request("anon", None))  # not signed in: not theirs, and no token
            with pytest.raises(gr.Error) as info:
                h.push(run.run_id, "ada/x", "", True, None, None)
            assert "Sign in with Hugging Face" in info.value.message
        finally:
            LocalContext.request.set(None)
    assert set(hub.repos) == {f"ada/{run.run_id}", "ada-lab/shapes"}
    assert {"README.md", "model.safetensors"} <= set(hub.repos["ada-lab/shapes"]["files"])
    for path in shared.home.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert OAUTH.encode() not in path.read_bytes(), path


def test_locally_there_is_no_login_button(settings):
    from tlweb.ui.app import build_app

    assert not any(isinstance(b, gr.LoginButton) for b in build_app(settings).blocks.values())
