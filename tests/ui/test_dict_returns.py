"""Handlers return dicts keyed by component (issue 18 §5). What an API client (gradio_client) receives must not
change: gradio puts a dict's values in the order of the event's ``outputs=`` list and leaves the components the
dict omits unchanged, exactly as a positional tuple padded with ``gr.skip()`` did. This checks that promise of
gradio's, for a plain handler and a generator, before the tabs rely on it."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio_client import Client

from tests.conftest import free_port


@pytest.fixture(scope="module")
def client():
    with gr.Blocks() as demo:
        a, b, c = gr.Textbox(value="a0"), gr.Number(value=7), gr.Textbox(value="c0")
        x = gr.Textbox()

        def positional(text):
            return text.upper(), gr.skip(), f"{text}!"

        def keyed(text):
            return {c: f"{text}!", a: text.upper()}  # another order; b left out

        def streamed(text):
            yield {a: "working"}
            yield {c: f"{text}!", a: text.upper(), b: 3}

        for name, fn in (("positional", positional), ("keyed", keyed), ("streamed", streamed)):
            gr.Button(name).click(fn, [x], [a, b, c], api_name=name)
    port = free_port()
    demo.queue().launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1", server_port=port)
    yield Client(f"http://127.0.0.1:{port}/", verbose=False)
    demo.close()


def test_a_dict_reaches_api_clients_in_the_outputs_order_like_a_padded_tuple(client):
    got = client.predict("hi", api_name="/keyed")
    assert got == client.predict("hi", api_name="/positional")
    assert got[0] == "HI" and got[2] == "hi!"


def test_a_generator_may_yield_dicts(client):
    assert client.predict("hi", api_name="/streamed") == ("HI", 3, "hi!")


def test_the_api_docs_show_the_same_endpoint_for_both(client):
    api = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert api["/keyed"]["returns"] == api["/positional"]["returns"]
    assert api["/keyed"]["parameters"] == api["/positional"]["parameters"]
