"""Every tab's build returns a handle of its main components, and a link can wire one tab to
another through those handles (the way "Explain this image" from Classify will)."""

from __future__ import annotations

import gradio as gr
import pytest
from gradio_client import Client, handle_file

from tests.conftest import free_port
from tests.registries import tab_ids
from tlweb import registry
from tlweb.ui.app import AppParts, build_app, launch_kwargs
from tlweb.ui.components import TabHandle

TASK_TABS = sorted({t.tab for t in registry.tasks() if t.tab})


def _send_image(source: str, target: str):
    """A link: a button under ``source``'s outputs that copies its image into ``target`` and opens that tab."""

    def link(parts: AppParts) -> None:
        src, dst = parts.handles[source], parts.handles[target]
        button = gr.Button(f"Open in {target}")
        button.click(lambda path: (path, gr.Tabs(selected=target)), inputs=[src.image],
                     outputs=[dst.image, parts.tabs], api_name=f"send_{source}_to_{target}")

    return link


@pytest.fixture(scope="module")
def linked_app(settings, demo_models):
    source, target = TASK_TABS[0], TASK_TABS[-1]
    demo = build_app(settings, links=[_send_image(source, target)])
    port = free_port()
    demo.queue()
    demo.launch(prevent_thread_lock=True, quiet=True, **launch_kwargs(settings.replace(port=port)))
    yield demo, f"http://127.0.0.1:{port}/", source, target
    demo.close()


@pytest.mark.parametrize("tab_id", tab_ids())
def test_build_app_keeps_a_handle_per_tab(linked_app, tab_id):
    demo, *_ = linked_app
    handle = demo.handles[tab_id]
    assert type(handle) is TabHandle  # one typed handle, no tab's own look-alike (a tab's extras: handle.parts)
    assert isinstance(handle.button, gr.Button)
    assert handle.outputs and all(isinstance(c, gr.components.Component) for c in handle.outputs.values())
    assert all(isinstance(b, gr.Button) for b in handle.buttons.values())


def test_every_port_a_link_declares_is_on_the_handles(linked_app):
    """A link reaches a tab only through the ports it declares (``tlweb.ui.components.ports``); each of them is
    on the handle the tab's build returns, so no link of the whole app silently wires nothing."""
    from tlweb.ui.app import LINKS

    demo, *_ = linked_app
    declared = [(link.__name__, name) for link in LINKS for name in getattr(link, "ports", ())]
    assert len({link for link, _ in declared}) >= 5
    missing = [(link, name) for link, name in declared
               if name.split(".")[0] not in demo.handles
               or demo.handles[name.split(".")[0]].port(name.split(".", 1)[1]) is None]
    assert not missing


@pytest.mark.parametrize("tab_id", TASK_TABS)
def test_task_tabs_expose_image_and_model(linked_app, tab_id):
    demo, *_ = linked_app
    handle = demo.handles[tab_id]
    assert isinstance(handle.image, gr.Image) and isinstance(handle.model, gr.Dropdown)
    assert isinstance(handle.custom_model, gr.Textbox)


def test_a_link_wires_one_tab_to_another(linked_app, example_image):
    demo, url, source, target = linked_app
    fn = next(f for f in demo.fns.values() if f.api_name == f"send_{source}_to_{target}")
    assert fn.inputs == [demo.handles[source].image] and fn.outputs[0] is demo.handles[target].image
    client = Client(url, verbose=False)
    path = client.predict(handle_file(str(example_image)), api_name=f"/send_{source}_to_{target}")
    with open(path, "rb") as got, open(example_image, "rb") as sent:
        assert got.read() == sent.read()


def test_button_labels_need_no_emoji_font(linked_app):
    """A label character the machine's fonts lack is an empty box ("🗑 Delete…" where no emoji font is
    installed). Every button label is drawn with DejaVu Sans, the font Debian's browsers fall back to
    (icons that need more come from CSS, tlweb.ui.style.ICONS)."""
    from pathlib import Path

    font = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not font.is_file():
        pytest.skip("DejaVu Sans is not installed here (apt-get install fonts-dejavu-core)")
    ttlib = pytest.importorskip("fontTools.ttLib")
    covered = set(ttlib.TTFont(str(font)).getBestCmap()) | {0xFE0F}  # (the emoji variation selector draws nothing)
    demo = linked_app[0]
    labels = [str(b.value) for b in demo.blocks.values() if isinstance(b, gr.Button) and b.value]
    assert len(labels) > 20
    missing = {label: [c for c in label if ord(c) not in covered] for label in labels}
    assert not {k: v for k, v in missing.items() if v}
