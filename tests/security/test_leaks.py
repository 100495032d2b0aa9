"""Finding 7: server facts leaked: absolute model paths in results, the model box told which
folders exist, and a gradio error showed the working directory."""

from __future__ import annotations

import os

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from tests.security.conftest import file_data, raw_call


def _error(call) -> str:
    with pytest.raises(AppError) as info:
        call()
    return str(info.value)


def test_shared_model_box_is_no_file_existence_oracle(shared_client, example_image, tmp_path, demo_models):
    from tlweb.errors import clip

    real = tmp_path / "a-real-folder"
    real.mkdir()
    img = handle_file(str(example_image))
    answers = []
    for name in (str(real), str(tmp_path / "no-such-folder"), str(demo_models["demo-vit"]), "/etc", "/etc/passwd"):
        msg = _error(lambda name=name: shared_client.predict(img, "demo-vit", name, 3, api_name="/classify"))
        answers.append(msg.replace(clip(name), "<given>").replace(f"…/{os.path.basename(name)}", "<given>"))
        assert str(tmp_path) not in msg
    assert len(set(answers)) == 1, answers  # the same sentence whether the folder exists, is a model or not


def test_gradio_path_errors_never_show_the_working_directory(app_url, shared_url, example_image):
    import httpx

    cwd = os.getcwd()
    for url in (app_url, shared_url):
        with open(example_image, "rb") as f:  # control: the same call with an uploaded file answers
            uploaded = httpx.post(f"{url.rstrip('/')}/gradio_api/upload", files=[("files", ("cat.jpg", f))]).json()[0]
        kind, _ = raw_call(url, "classify", [file_data(path=uploaded), "demo-vit", "", 3, ""])
        assert kind == "complete"
        for path in ("foo.png", "/etc/passwd", "../../etc/passwd"):
            kind, payload = raw_call(url, "classify", [file_data(path=path), "demo-vit", "", 3, ""])
            assert kind == "error"
            assert cwd not in str(payload) and "passwd" not in str(payload), payload


def test_results_name_models_without_server_paths(shared_client, client, example_image, settings):
    img = handle_file(str(example_image))
    for c in (client, shared_client):
        _, facts = c.predict(img, "demo-vit", "", 3, api_name="/classify")
        assert str(settings.home) not in facts and "demo-vit" in facts
        status, table, *_ = c.predict([img], ["demo-vit", "demo-resnet"], "", 2, api_name="/compare")
        assert str(settings.home) not in status + str(table)


def test_local_mode_errors_about_folders_show_no_absolute_path(client, example_image, tmp_path):
    not_a_model = tmp_path / "holiday-photos"
    not_a_model.mkdir()
    msg = _error(lambda: client.predict(handle_file(str(example_image)), "demo-vit", str(not_a_model), 3,
                                        api_name="/classify"))
    assert "config.json" in msg and str(tmp_path) not in msg and "holiday-photos" in msg


def test_engine_results_carry_the_key_not_the_folder(settings, demo_models, example_image):
    from tlweb.engine.classify import classify

    result = classify(str(example_image), "demo-vit", 3, settings)
    assert result.as_dict()["model"] == "demo-vit"
