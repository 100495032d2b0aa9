"""Issue 17, finding 1: a server folder named like a Hub id (``privmodels/secretnet`` under the
working directory) was trained on by Fine-tune, ranked by the leaderboard and projected by the
projector in shared mode, because the weights and location rules existed three times
(engine/loading.py, engine/train/model.py, engine/features.py) and two copies skipped shared mode's
rules (and told a folder that exists from one that does not). Now one gate in engine/loading.py
loads every model; these tests send folder names through every task, the training and feature
loads, and every endpoint of every tab that takes a model."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from tests.conftest import ROOT
from tests.registries import demo_keys, tab_ids
from tlweb import access, registry
from tlweb.errors import TlwebError

TLWEB = ROOT / "tlweb"


# --------------------------------------------------------------------------- one module loads


def _sources():
    return [p for p in TLWEB.rglob("*.py") if "__pycache__" not in p.parts]


def test_only_the_loading_module_calls_from_pretrained():
    allowed = {TLWEB / "engine" / "loading.py"}
    offenders = []
    for p in _sources():
        rel = p.relative_to(TLWEB)
        if p in allowed or rel.parts[:2] == ("engine", "demo"):  # demo builders make models from configs
            continue
        if ".from_pretrained(" in p.read_text(encoding="utf-8"):
            offenders.append(str(rel))
    assert offenders == []


def test_no_module_reaches_into_the_gates_private_names():
    private = re.compile(r"\b(?:loading|modelcache|L)\._[A-Za-z]|from tlweb\.engine\.(?:loading|modelcache) import[^\n]*\b_[a-z]")
    offenders = [str(p.relative_to(ROOT)) for p in _sources()
                 if p.name not in ("loading.py", "modelcache.py") and private.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


# --------------------------------------------------------------------------- the engine


@pytest.fixture
def server_cwd(tmp_path, monkeypatch, demo_models):
    """The server's working directory holding ``privmodels/<demo key>``: save_pretrained folders named like
    Hub ids, one per demo model (the app runs in this process, so it sees this working directory)."""
    root = tmp_path / "srv"
    for key, folder in demo_models.items():
        shutil.copytree(folder, root / "privmodels" / key)
    monkeypatch.chdir(root)
    return root


def _answer(call, *names: str) -> tuple[str, str]:
    """(outcome, message with each of ``names`` replaced by NAME): what a client learns from a call."""
    try:
        call()
        return "ok", ""
    except TlwebError as exc:
        text = str(exc)
        for name in names:
            text = text.replace(name, "NAME")
        return type(exc).__name__, text


def _entries():
    """(task, a demo model of that task): every task of the registry that runs on an image (has a runner)."""
    out = []
    for record in registry.tasks():
        keys = demo_keys(record.name)
        if record.runner() and keys:
            out.append(pytest.param(record, keys[0], id=record.name))
    return out


def _trainable():
    from tlweb.engine.train.tasks import train_task_names

    return [pytest.param(t.name, demo_keys(t.name)[0], id=t.name) for t in registry.tasks()
            if t.name in train_task_names() and demo_keys(t.name)]


def _paths(root: Path, key: str) -> list[str]:
    """A working-directory-relative folder, an absolute path and one through ``..``: all existing folders."""
    return [f"./privmodels/{key}", f"privmodels/{key}/", str(root / "privmodels" / key),
            f"../{root.name}/privmodels/{key}"]


@pytest.mark.parametrize("record,key", _entries())
def test_every_task_refuses_server_folders_in_shared_mode(record, key, server_cwd, shared_settings, make_image):
    entry, image = record.runner(), make_image(size=(64, 48))
    for name in _paths(server_cwd, key):
        outcome, text = _answer(lambda n=name: entry(image, n, settings=shared_settings, **record.example))
        assert outcome == "ModelError" and access.SHARED_RULE in text, (name, text)
    # a Hub-shaped name that is a folder here is answered exactly as one that is no folder anywhere
    real = _answer(lambda: entry(image, f"privmodels/{key}", settings=shared_settings, **record.example),
                   f"privmodels/{key}")
    none = _answer(lambda: entry(image, f"nobody-here/{key}", settings=shared_settings, **record.example),
                   f"nobody-here/{key}")
    assert real == none and real[0] != "ok", (real, none)


@pytest.mark.parametrize("task,key", _trainable())
def test_training_loads_refuse_server_folders_in_shared_mode_and_read_them_in_local_mode(task, key, server_cwd,
                                                                                       settings, shared_settings):
    from tlweb.engine import loading

    def train(name, st, pretrained=True):
        return lambda: loading.load_for_training(name, task=task, class_names=["a", "b"], pretrained=pretrained,
                                                 settings=st)

    for pretrained in (True, False):
        for name in _paths(server_cwd, key):
            outcome, text = _answer(train(name, shared_settings, pretrained))
            assert outcome == "ModelError" and access.SHARED_RULE in text, (name, text)
        real = _answer(train(f"privmodels/{key}", shared_settings, pretrained), f"privmodels/{key}")
        none = _answer(train(f"nobody-here/{key}", shared_settings, pretrained), f"nobody-here/{key}")
        assert real == none and real[0] != "ok", (real, none)
    # the same folder is a model: local mode (one person on their own machine) trains on it
    model, processor, spec = loading.load_for_training(f"privmodels/{key}", task=task, class_names=["a", "b", "c"],
                                                       settings=settings)
    assert spec.source == "local" and model.training and model.config.id2label == {0: "a", 1: "b", 2: "c"}


def test_feature_and_zero_shot_loads_refuse_server_folders_in_shared_mode(server_cwd, shared_settings, settings):
    from tlweb.engine import loading
    from tlweb.engine.features import Backbone
    from tlweb.engine.train import load_for_training
    from tlweb.engine.zeroshot import _ZeroShotBackbone

    backbone, clip_key = demo_keys(registry.CLASSIFICATION)[0], demo_keys(registry.ZERO_SHOT_CLASSIFICATION)[0]
    calls = {
        "backbone": lambda n: loading.load_backbone(n, settings=shared_settings),
        "random backbone": lambda n: loading.load_backbone(n, random_init=True, settings=shared_settings),
        "features": lambda n: Backbone(n, shared_settings),
        "config": lambda n: loading.load_config(n, settings=shared_settings),
        "fine-tune": lambda n: load_for_training(n, ["a", "b"], "linear", 0, shared_settings),
    }
    for what, call in calls.items():
        for name in _paths(server_cwd, backbone):
            outcome, text = _answer(lambda c=call, n=name: c(n))
            assert outcome == "ModelError" and access.SHARED_RULE in text, (what, name, text)
        real = _answer(lambda c=call: c(f"privmodels/{backbone}"), f"privmodels/{backbone}")
        none = _answer(lambda c=call: c(f"nobody-here/{backbone}"), f"nobody-here/{backbone}")
        assert real == none and real[0] != "ok", (what, real, none)
    real = _answer(lambda: _ZeroShotBackbone(f"privmodels/{clip_key}", shared_settings), f"privmodels/{clip_key}")
    none = _answer(lambda: _ZeroShotBackbone(f"nobody-here/{clip_key}", shared_settings), f"nobody-here/{clip_key}")
    assert real == none and real[0] != "ok"
    assert Backbone(f"privmodels/{backbone}", settings).spec.source == "local"  # local mode reads the folder


def test_a_folder_spec_handed_to_the_gate_in_shared_mode_is_refused(server_cwd, shared_settings):
    from tlweb.catalog import local_spec
    from tlweb.engine import loading

    spec = local_spec(server_cwd / "privmodels" / "demo-vit")
    with pytest.raises(TlwebError) as info:
        loading.load(spec, settings=shared_settings)
    assert access.SHARED_RULE in str(info.value) and str(server_cwd) not in str(info.value)


# --------------------------------------------------------------------------- every endpoint of every tab


def _tab_of(block, ids: set[str]) -> str | None:
    import gradio as gr

    node = block
    while node is not None:
        if isinstance(node, gr.Tab) and node.id in ids:
            return node.id
        node = getattr(node, "parent", None)
    return None


# Queued endpoints that take a model but give no result of their own (the quick ones run unqueued:
# model states, intros); each shows nothing for a name it cannot use, the same for every name.
HELPERS = {
    "explain_model_info": "pre-fills the layer, head and class controls for the picked model",
    "classify_to_explain": "copies the picture and the name into Explain, whose run then answers",
}


def _model_endpoints(demo) -> dict[str, list[tuple[str, dict, list[str], bool]]]:
    """tab id → [(api name, parameters info, model parameter names, gives a result)] of every endpoint whose
    inputs include a component marked as a model input (tlweb.ui.components.model_input)."""
    from tlweb.ui import guard

    ids = set(tab_ids())
    info = demo.get_api_info()["named_endpoints"]
    out: dict[str, list] = {t: [] for t in ids}
    for fn in demo.fns.values():
        if not fn.api_name or f"/{fn.api_name}" not in info:
            continue
        marked = [i for i, c in enumerate(fn.inputs) if guard._marked(c, guard.MODEL_INPUT)]
        if not marked:
            continue
        params = info[f"/{fn.api_name}"]["parameters"]
        api_inputs = [c for c in fn.inputs if not getattr(c, "skip_api", False)]  # a gr.State is no parameter
        assert len(params) == len(api_inputs), fn.api_name
        slots = [params[i]["parameter_name"] for i, c in enumerate(api_inputs) if guard._marked(c, guard.MODEL_INPUT)]
        tab = _tab_of(fn.inputs[marked[0]], ids)
        if tab is not None:
            out[tab].append((fn.api_name, params, slots, fn.queue is not False and fn.api_name not in HELPERS))
    return out


# Where a model parameter is read only with other values set: the projector reads its run in "run" mode;
CONTEXT = {("project", "run"): {"mode": "run"},
           # the task endpoints of Fine-tune train only for segmentation or detection (classification skips them)
           ("finetune_task", "model"): {"task": "image-segmentation", "strategy": "decoder"}}


def _call(client: Client, api: str, params: list[dict], slot: str, name: str, image: str) -> str:
    """The endpoint with ``name`` in its parameter ``slot`` (appended to a list), the rest at their defaults
    (an image where one is needed): the error's text, or the outputs as JSON."""
    kwargs = dict(CONTEXT.get((api, slot), {}))
    for p in params:
        pname, comp = p["parameter_name"], p.get("component")
        if pname in kwargs:
            continue
        value = p.get("parameter_default") if p.get("parameter_has_default") else None
        if pname == slot:
            value = [*(value or []), name] if isinstance(value, list) else name
        elif comp == "Image" and value is None:
            value = handle_file(image)
        elif comp == "File" and value is None and pname == "files":
            value = [handle_file(image)]
        kwargs[pname] = value
    try:
        return json.dumps(client.predict(api_name=f"/{api}", **kwargs), default=str)
    except AppError as exc:
        return str(exc)
    except Exception as exc:  # noqa: BLE001 - a transport error is a failure of its own
        return f"CLIENT {type(exc).__name__}: {exc}"


def _same(there: str, gone: str) -> bool:
    """The same answer but for the name and the timings (numbers)."""
    def norm(text: str) -> str:
        return re.sub(r"\d+(\.\d+)?", "#", text.replace("demo-vit", "X").replace("demo-gone", "X"))

    return norm(there) == norm(gone)


@pytest.mark.slow
@pytest.mark.parametrize("tab", tab_ids())
def test_every_endpoint_that_takes_a_model_refuses_server_folders(tab, shared_app, server_cwd, example_image):
    demo, url = shared_app
    endpoints = _model_endpoints(demo)[tab]
    if not endpoints:
        pytest.skip(f"the {tab} tab takes no model")
    client = Client(url, verbose=False)
    client.predict(source="sample", api_name="/load_data")  # Fine-tune's endpoints need data first
    found, misses = 0, []
    for api, params, slots, result in endpoints:
        for slot in slots:
            for name in _paths(server_cwd, "demo-vit"):
                found += 1
                text = _call(client, api, params, slot, name, str(example_image))
                assert "CLIENT" not in text and str(server_cwd) not in text.replace(name, "NAME"), (api, slot, text)
                if result and access.SHARED_RULE not in text:
                    misses.append((api, slot, name, text[:200]))
                # a folder that exists and one that does not, named alike, get the same answer (no existence oracle)
                gone = _call(client, api, params, slot, name.replace("demo-vit", "demo-gone"), str(example_image))
                assert _same(text, gone) or access.SHARED_RULE in text and access.SHARED_RULE in gone, (api, slot, text,
                                                                                                       gone)
    assert found and misses == [], "\n".join(map(str, misses))
