"""Push and export: huggingface_hub's real client against a local stand-in of the Hub's upload API
(tests/fake_hub.py): one commit with the model and its card, the card naming the repository, the token never
stored or echoed, a refused token or namespace as one sentence, a signed-in visitor's namespaces."""

from __future__ import annotations

import json

import pytest

from tests.engine.ft_helpers import one_thread, shapes_folder  # noqa: F401
from tests.fake_hub import hub_api
from tlweb.cli import main
from tlweb.errors import ModelError

pytestmark = pytest.mark.usefixtures("one_thread")
TOKEN = "hf_" + "PuShSeCrEt" * 4


@pytest.fixture(scope="module")
def run_id(tmp_path_factory, settings, demo_models):
    from tlweb.engine.train import TrainConfig, finetune

    root = shapes_folder(tmp_path_factory.mktemp("push-data") / "shapes", classes=("circle", "square"), per_class=6,
                         test_per_class=3, size=32)
    result = finetune(TrainConfig("demo-vit", str(root), "linear"), settings=settings)
    return result.run_id


def _no_token_anywhere(settings, *texts):
    for text in texts:
        assert TOKEN not in text
    for path in settings.home.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert TOKEN.encode() not in path.read_bytes(), path


def test_cli_push_uploads_the_model_and_its_card_in_one_commit(run_id, settings, monkeypatch, capsys, tmp_path):
    from huggingface_hub import ModelCard
    from PIL import Image
    from transformers import pipeline

    with hub_api(monkeypatch) as hub:
        hub.add_account(TOKEN, "me")
        monkeypatch.setenv("HF_TOKEN", TOKEN)  # the usual Hugging Face login
        assert main(["push", run_id, "--repo", "me/my-shapes", "--private", "--json"]) == 0
        out, err = capsys.readouterr()
    answer = json.loads(out.strip().splitlines()[-1])
    assert answer == {"run_id": run_id, "repo": "me/my-shapes", "url": f"{hub.url}/me/my-shapes", "private": True}
    repo = hub.repos["me/my-shapes"]
    assert repo["private"] and len(repo["commits"]) == 1
    assert {"README.md", "config.json", "model.safetensors", "preprocessor_config.json", "curves.png"} <= set(
        repo["files"])
    assert all(auth == f"Bearer {TOKEN}" for _, _, auth in hub.requests)
    # what the Hub holds is a folder a plain pipeline loads, and its card names the repository
    for name, data in repo["files"].items():
        (tmp_path / name).write_bytes(data)
    card = ModelCard.load(tmp_path / "README.md")
    assert card.data.model_name == "my-shapes" and 'model="me/my-shapes"' in card.text
    metrics = json.loads((settings.runs_dir / run_id / "metrics.json").read_text())
    accuracy = next(r for r in card.data.eval_results if r.metric_type == "accuracy").metric_value
    assert accuracy == pytest.approx(metrics["test_accuracy"], abs=1e-6)
    picture = Image.new("RGB", (32, 32), "white")
    assert {p["label"] for p in pipeline("image-classification", model=str(tmp_path))(picture)} == {"circle", "square"}
    _no_token_anywhere(settings, out, err)


def test_refused_tokens_and_namespaces_are_one_sentence_without_the_token(run_id, settings, monkeypatch, capsys):
    from tlweb.engine.publish import push_run

    with hub_api(monkeypatch) as hub:
        hub.add_account(TOKEN, "me", orgs=["my-lab"])
        monkeypatch.setenv("HF_TOKEN", TOKEN + "x")  # a token the Hub does not know: 401
        assert main(["push", run_id, "--repo", "me/a-model"]) == 2
        out, err = capsys.readouterr()
        assert err.startswith("error: The Hub refused") and err.count("\n") == 1
        with pytest.raises(ModelError, match="refused") as info:  # a namespace the account may not write to: 403
            push_run(run_id, "someone-else/a-model", TOKEN, settings=settings)
        url = push_run(run_id, "my-lab/a-model", TOKEN, private=False, settings=settings)  # an org it may write to
        assert url == f"{hub.url}/my-lab/a-model" and not hub.repos["my-lab/a-model"]["private"]
        before = len(hub.requests)
        with pytest.raises(ModelError, match=r"me/… or my-lab/…"):  # a signed-in visitor: checked before asking
            push_run(run_id, "someone-else/a-model", TOKEN, settings=settings, namespaces=["me", "my-lab"])
        assert len(hub.requests) == before
        assert set(hub.repos) == {"my-lab/a-model"}
    _no_token_anywhere(settings, out, err, str(info.value))


def test_push_without_a_login_says_how(run_id, settings, monkeypatch, capsys):
    with hub_api(monkeypatch):
        monkeypatch.delenv("HF_TOKEN", raising=False)
        assert main(["push", run_id, "--repo", "me/a-model"]) == 2
    assert "hf auth login" in capsys.readouterr()[1]


def test_namespaces_of_a_profile():
    from tlweb.engine.publish import namespaces_of

    profile = {"preferred_username": "me", "orgs": [{"preferred_username": "lab", "roleInOrg": "write"},
                                                    {"preferred_username": "club", "roleInOrg": "read"},
                                                    {"preferred_username": "team", "roleInOrg": "admin"}]}
    assert namespaces_of(profile) == ["me", "lab", "team"]
    assert namespaces_of(None) == [] and namespaces_of({"preferred_username": "../x"}) == []
