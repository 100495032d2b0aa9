"""Finding 2: every run was readable by everyone: the runs folder was in ``allowed_paths`` (config.json
with absolute paths and the pid, events, mistake images and weights downloaded without a check) and
the runs list named every user's runs. Now, in shared mode, runs belong to the browser session that
made them; the runs folder is never served as such."""

from __future__ import annotations

import json
import shutil
import zipfile

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError


def _ids(pick) -> list[str]:
    return [c[1] for c in (pick or {}).get("choices", [])]


@pytest.fixture(scope="module")
def owner_run(shared_url):
    """Session A trains a tiny run in the shared app; (client A, run id)."""
    a = Client(shared_url, verbose=False)
    a.predict(source="sample", api_name="/load_data")
    final = a.submit(model="demo-vit", custom_model="", strategy="linear", epochs="1", batch_size="auto", lr="auto",
                     per_class=4, api_name="/finetune").result(timeout=300)
    run_id = final[-1]["value"] if isinstance(final[-1], dict) else final[-1]
    assert run_id in _ids(a.predict(api_name="/runs")[1])
    return a, run_id


def test_a_second_session_cannot_list_open_download_or_use_the_run(owner_run, shared_url, example_image, settings):
    a, run_id = owner_run
    b = Client(shared_url, verbose=False)
    table, pick = b.predict(api_name="/runs")
    assert run_id not in _ids(pick) and run_id not in json.dumps(table)  # not listed
    for api in ("/run_details", "/export", "/delete_ask", "/delete_run"):
        with pytest.raises(AppError, match="no run"):
            b.predict(run_id, api_name=api)
    with pytest.raises(AppError):
        b.predict(run_id, "someone/repo", "hf_token", True, api_name="/push_to_hub")
    with pytest.raises(AppError) as info:  # another session's run id reads like any unknown name: a Hub id
        b.predict(handle_file(str(example_image)), "demo-vit", run_id, 3, api_name="/classify")
    assert "not in the local cache" in str(info.value)
    with pytest.raises(AppError):  # Explain's before/after takes no other session's run either
        b.predict(handle_file(str(example_image)), run_id, "gradcam", 0.5, api_name="/explain_before_after")
    assert run_id not in json.dumps(b.predict(api_name="/explain_runs"))
    update = b.predict(api_name="/classify_models")
    assert run_id not in json.dumps(update)  # the model list names no other session's run
    assert (settings.runs_dir / run_id).is_dir()  # nothing was deleted by B


def test_the_owner_still_opens_downloads_and_uses_its_run(owner_run, example_image, settings):
    a, run_id = owner_run
    chart, details = a.predict(run_id, api_name="/run_details")
    assert run_id in details and str(settings.home) not in details  # no absolute path in the details
    exported = a.predict(run_id, api_name="/export")
    path = exported["value"] if isinstance(exported, dict) and "value" in exported else exported
    path = path["path"] if isinstance(path, dict) else path
    with zipfile.ZipFile(path) as zf:
        assert any(n.endswith("config.json") for n in zf.namelist())
    _, facts = a.predict(handle_file(str(example_image)), "demo-vit", run_id, 3, api_name="/classify")
    assert "latency" in facts
    assert run_id in json.dumps(a.predict(api_name="/explain_runs"))  # its own run is listed for Explain
    assert run_id in json.dumps(a.predict(api_name="/classify_models"))  # and in the model list


def test_the_runs_folder_is_not_served(owner_run, shared_url, app_url, settings):
    _, run_id = owner_run
    for url in (shared_url, app_url):
        for name in ("config.json", "events.jsonl", "model/config.json", "model/model.safetensors"):
            target = settings.runs_dir / run_id / name
            r = httpx.get(f"{url.rstrip('/')}/gradio_api/file={target}", timeout=30)
            assert r.status_code in (403, 404), (name, r.status_code)


def test_cli_runs_are_private_unless_shared_then_read_only(owner_run, shared_settings, settings):
    from tlweb.access import client_scope
    from tlweb.engine import publish, runs
    from tlweb.engine.runs import store
    from tlweb.errors import DataError

    _, run_id = owner_run
    cli_id = run_id + "-cli"
    shutil.copytree(settings.runs_dir / run_id, settings.runs_dir / cli_id)
    (settings.runs_dir / cli_id / ".owner").unlink()  # made from the command line: no owner
    try:
        with client_scope("some-browser-session"):
            assert cli_id not in [r.run_id for r in runs.list_runs(shared_settings)]
            shared = shared_settings.replace(share_cli_runs=True)
            assert cli_id in [r.run_id for r in runs.list_runs(shared)]
            assert publish.export_zip(cli_id, shared).is_file()  # readable …
            with pytest.raises(DataError, match="command line"):
                store.delete_entry(cli_id, shared)  # … not changeable
            with pytest.raises(DataError, match="command line"):
                store.request_stop(cli_id, shared)
            assert run_id not in [r.run_id for r in runs.list_runs(shared)]  # session A's run stays private
        assert cli_id in [r.run_id for r in runs.list_runs(settings)]  # local mode: one person, every run
    finally:
        shutil.rmtree(settings.runs_dir / cli_id, ignore_errors=True)


def test_owner_file_holds_a_hash_not_the_session(owner_run, settings):
    a, run_id = owner_run
    owner = (settings.runs_dir / run_id / ".owner").read_text()
    assert a.session_hash not in owner and len(owner) == 32


def test_a_refused_fine_tune_leaves_no_run_folder(shared_url, settings, demo_models, tmp_path):
    before = {p.name for p in settings.runs_dir.iterdir()} if settings.runs_dir.is_dir() else set()
    c = Client(shared_url, verbose=False)
    with pytest.raises(AppError):
        c.submit(model="demo-vit", custom_model="someone/not-cached-model", strategy="linear", epochs="1",
                 api_name="/finetune").result(timeout=120)
    with pytest.raises(AppError):
        c.submit(model="demo-vit", custom_model="someone/not-cached", strategies=["linear"], epochs="1",
                 api_name="/ladder").result(timeout=120)
    after = {p.name for p in settings.runs_dir.iterdir()}
    assert after == before, after - before
