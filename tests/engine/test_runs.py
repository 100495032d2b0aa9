"""Run folders: listed from disk (so they survive restarts), events/metrics, zip export, Hub push
without leaking the token, and fine-tuned models showing up as classifiers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile

import pytest

from tests.engine.ft_helpers import one_thread, shapes_folder  # noqa: F401
from tlweb.engine import publish, stop
from tlweb.engine import runs as R
from tlweb.engine.runs import files, store
from tlweb.errors import DataError, ModelError

pytestmark = pytest.mark.usefixtures("one_thread")

ODD = {"circle": "café/ü 🐱", "square": "with space"}


@pytest.fixture(scope="module")
def run(tmp_path_factory, settings, demo_models):
    from tlweb.engine.data import from_class_uploads, image_sources, load_data
    from tlweb.engine.train import TrainConfig, finetune

    root = shapes_folder(tmp_path_factory.mktemp("runs-data"), classes=("circle", "square"), per_class=6, size=32)
    folders = load_data(str(root), settings=settings)
    paths = image_sources(folders.train) + image_sources(folders.test)
    uploads = {ODD[kind]: [p for p in paths if f"/{kind}/" in p] for kind in ODD}
    data = from_class_uploads(uploads, settings=settings)
    return finetune(TrainConfig("demo-vit", data, "linear", epochs=10, name="café/ü 🐱 run"), settings=settings)


def test_run_is_listed_with_its_results(run, settings):
    infos = R.list_runs(settings)
    assert infos == sorted(infos, key=lambda i: (i.created, i.run_id), reverse=True)
    info = next(i for i in infos if i.run_id == run.run_id)
    assert info.status == "done" and info.strategy == "linear" and info.base_model == "demo-vit"
    assert info.test_accuracy == pytest.approx(run.test_accuracy)
    assert info.test_macro_f1 == pytest.approx(run.test_macro_f1)
    assert info.class_names == list(ODD.values()) and info.name == "café/ü 🐱 run"
    assert info.has_model and info.model_dir == run.model_dir
    assert run.run_id.isascii() and "cafe-u-run" in run.run_id


def test_load_run_gives_events_and_metrics(run, settings):
    info, events, metrics = R.load_run(run.run_id, settings)
    assert info.run_id == run.run_id
    assert events[0]["kind"] == "start" and events[-1]["kind"] == "done"
    assert len(events) == len(run.history)
    assert metrics["confusion_matrix"] == run.metrics["confusion_matrix"]
    assert metrics["class_names"] == list(ODD.values())
    cfg = store.run_config(run.run_id, settings)
    assert cfg["strategy"] == "linear" and cfg["class_names"] == list(ODD.values())
    # the linear probe has no epochs: the 10 asked for are recorded as not applying
    assert cfg["hyperparameters"]["ignored"] == {"epochs": 10} and cfg["data"]["source"] == "uploads"


def test_runs_survive_a_restart_and_classify(run, settings, example_image):
    """A new process (nothing in memory) lists the run and classifies with its model."""
    code = (
        "import json, sys\n"
        "from tlweb.engine.runs import list_runs\n"
        "from tlweb.engine.listing import list_models\n"
        "from tlweb.engine.classify import classify\n"
        f"rid = {run.run_id!r}\n"
        "info = [i for i in list_runs() if i.run_id == rid][0]\n"
        "keys = [s.key for s in list_models('image-classification')]\n"
        f"res = classify({str(example_image)!r}, rid, top_k_n=2)\n"
        "print(json.dumps({'status': info.status, 'acc': info.test_accuracy, 'listed': rid in keys,\n"
        "                  'labels': [p.label for p in res.predictions]}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": os.getcwd()})
    assert out.returncode == 0, out.stderr[-2000:]
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["status"] == "done" and got["acc"] == pytest.approx(run.test_accuracy) and got["listed"]
    assert sorted(got["labels"]) == sorted(ODD.values())


def test_export_zip_loads_back(run, settings, tmp_path):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    z = publish.export_zip(run.run_id, settings)
    assert z.exists() and publish.export_zip(run.run_id, settings) == z
    with zipfile.ZipFile(z) as zf:
        names = set(zf.namelist())
        zf.extractall(tmp_path)
    assert {f"{run.run_id}/config.json", f"{run.run_id}/model.safetensors",
            f"{run.run_id}/preprocessor_config.json"} <= names
    model = AutoModelForImageClassification.from_pretrained(tmp_path / run.run_id)
    AutoImageProcessor.from_pretrained(tmp_path / run.run_id)
    assert [model.config.id2label[i] for i in range(2)] == list(ODD.values())


class _FakeApi:
    calls: list = []
    fail_with: str | None = None

    def __init__(self, token=None):
        _FakeApi.calls.append(("init", token))

    def create_repo(self, repo_id, private=True, exist_ok=True, repo_type="model"):
        _FakeApi.calls.append(("create_repo", repo_id, private))
        if _FakeApi.fail_with:
            raise RuntimeError(_FakeApi.fail_with)
        return type("Url", (), {"url": f"https://huggingface.co/{repo_id}"})()

    def create_commit(self, repo_id, operations, commit_message="", repo_type="model"):
        _FakeApi.calls.append(("create_commit", repo_id, sorted(op.path_in_repo for op in operations)))


def test_push_to_hub_never_stores_the_token(run, settings, monkeypatch, caplog):
    import huggingface_hub

    import tlweb.engine.availability as availability
    from tlweb.engine.publish import push_run

    token = "hf_" + "SeCrEt" * 6
    monkeypatch.setattr(huggingface_hub, "HfApi", _FakeApi)
    monkeypatch.setattr(availability, "hub_reachable", lambda *a, **k: True)
    _FakeApi.calls, _FakeApi.fail_with = [], None
    url = push_run(run.run_id, "me/my-model", token, private=True, settings=settings)
    assert url == "https://huggingface.co/me/my-model"
    assert ("init", token) in _FakeApi.calls
    committed = next(c for c in _FakeApi.calls if c[0] == "create_commit")
    assert committed[1] == "me/my-model" and {"config.json", "model.safetensors", "README.md"} <= set(committed[2])
    _FakeApi.fail_with = f"401 Client Error: Unauthorized (token {token})"
    with pytest.raises(ModelError) as info:
        push_run(run.run_id, "me/my-model", token, settings=settings)
    assert token not in str(info.value) and "refused" in str(info.value)
    for path in run.run_dir.rglob("*"):
        if path.is_file():
            assert token.encode() not in path.read_bytes(), path
    assert token not in caplog.text
    with pytest.raises(ModelError, match="token"):
        push_run(run.run_id, "me/my-model", "", settings=settings)
    with pytest.raises(ModelError, match="your-name/model-name"):
        push_run(run.run_id, "no-owner", token, settings=settings)


def test_push_offline_says_so(run, settings):
    from tlweb.engine.publish import push_run

    with pytest.raises(ModelError, match="cannot be reached"):
        push_run(run.run_id, "me/my-model", "hf_x", settings=settings)


def test_bad_run_ids_and_runs_without_models(settings):
    for bad in ("../etc", "", "a/b", "no-such-run"):
        with pytest.raises(DataError):
            R.load_run(bad, settings)
    run_id, path = store.new_run_dir(settings, name="x")
    writer = files.RunWriter(run_id, path)
    writer.write_config({"strategy": "full", "base_model": "demo-vit", "created": stop.now_iso(), "pid": os.getpid()})
    writer.event({"kind": "start"})
    assert next(i for i in R.list_runs(settings) if i.run_id == run_id).status == "running"  # its writer holds the lock
    with pytest.raises(DataError, match="no saved model"):
        publish.export_zip(run_id, settings)
    with open(path / "events.jsonl", "a") as f:
        f.write('{"kind": "step", "st')  # a line cut short by a crash is skipped
    writer.close()  # the lock is gone (as when the process dies) and there are no metrics: the run was interrupted
    info = next(i for i in R.list_runs(settings) if i.run_id == run_id)
    assert info.status == "failed"
    assert [e["kind"] for e in R.load_run(run_id, settings)[1]] == ["start"]
    store.delete_run(run_id, settings)
    assert all(i.run_id != run_id for i in R.list_runs(settings))


def test_run_ids_are_unique_and_safe(settings):
    ids = {store.new_run_dir(settings, name="../../x y")[0] for _ in range(5)}
    assert len(ids) == 5
    assert all(".." not in i and "/" not in i for i in ids)
    for i in ids:
        store.delete_run(i, settings)
