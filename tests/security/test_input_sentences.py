"""Issue 17, sentences: gradio's own input checks answered a client in its words ("Value: /tmp/… is not in
the list of choices: [...]", "Value 11 is greater than maximum value 1.", "Value 0.0 is less than minimum
value 0.01."), echoing the value whole and the choices; ``/push_to_hub`` echoed a path unclipped; the
Explain API's default layer (11) failed on a session's second call. Now each refusal is one sentence
naming the field and clipping the value, in both modes."""

from __future__ import annotations

import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

LONG_PATH = "/srv/private/" + "x" * 300 + "/secret-run"


@pytest.fixture(params=["local", "shared"])
def any_client(request, app_url, shared_url):
    return Client(app_url if request.param == "local" else shared_url, verbose=False)


def _refusal(call) -> str:
    with pytest.raises(AppError) as info:
        call()
    text = str(info.value)
    assert "list of choices" not in text and "maximum value" not in text and "minimum value" not in text, text
    assert "/srv/private" not in text and "x" * 100 not in text and len(text) < 400, text
    return text


def test_a_slider_out_of_bounds_is_one_sentence(any_client, example_image):
    text = _refusal(lambda: any_client.predict(handle_file(str(example_image)), "demo-vit", "", 999, "",
                                               api_name="/classify"))
    assert text == "Top-k takes a number from 1 to 20; '999' is not one."


def test_a_value_outside_the_choices_is_one_sentence(any_client):
    text = _refusal(lambda: any_client.predict(model="demo-vit", custom_model="", strategy=LONG_PATH,
                                               api_name="/finetune"))
    assert text.startswith("Strategy: '…/secret-run' is not one of its choices.")


def test_push_to_hub_never_echoes_a_path_whole(any_client):
    text = _refusal(lambda: any_client.predict(LONG_PATH, "me/model", "hf_x", True, api_name="/push_to_hub"))
    assert "secret-run" in text  # named by its last part only


def test_the_explain_api_default_layer_works_on_every_call(any_client, example_image):
    for _ in range(2):  # the second call met the slider as the first answer had set it (0–1 for a tiny model)
        out = any_client.predict(handle_file(str(example_image)), "demo-vit", "", api_name="/explain")
        assert out is not None


def test_an_explicit_layer_outside_the_model_is_the_engines_sentence(any_client, example_image):
    text = _refusal(lambda: any_client.predict(handle_file(str(example_image)), "demo-vit", "", "gradcam", 11, False,
                                               api_name="/explain"))
    assert "Layer 11 does not exist" in text
