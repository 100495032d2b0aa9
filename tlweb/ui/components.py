"""Widgets and helpers shared by the tabs (the only place besides tabs that imports gradio)."""

from __future__ import annotations

import functools
import logging
import types
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import gradio as gr
from gradio.blocks import Block

from tlweb.access import SHARED_RULE
from tlweb.assets import examples_dir
from tlweb.config import Settings, get_settings
from tlweb.engine.listing import list_for_pickers
from tlweb.errors import TlwebError
from tlweb.ui import guard
from tlweb.ui.model_state import first_ready, labelled_choices
from tlweb.ui.session import for_session, user_errors

log = logging.getLogger("tlweb.ui")

EXAMPLES_DIR = examples_dir()  # inside the installed package (tlweb/assets/examples)


P = TypeVar("P")


@dataclass
class TabHandle(Generic[P]):
    """A tab's main components, returned by its ``build`` so that other tabs can be wired to it
    (e.g. "Explain this image" from Classify copies ``image`` across; "Open in Classify" from a
    run sets ``model``). Fields a tab does not have stay None; a link reaches a tab only through
    these fields (its declared ports, :func:`ports`), never through the tab's own ``parts``."""

    button: gr.Button | None = None  # the main action
    image: gr.components.Component | None = None  # the image input (a file path; Compare: its files)
    model: gr.components.Component | None = None  # the model dropdown (values tlweb.engine.listing.resolve takes)
    custom_model: gr.Textbox | None = None  # the free-text model id / folder
    outputs: dict[str, gr.components.Component] = field(default_factory=dict)  # main outputs by name
    inputs: dict[str, Block] = field(default_factory=dict)  # other inputs by name (Detect: queries; a tab strip)
    state: gr.State | None = None  # the stored result the outputs are drawn from
    buttons: dict[str, gr.Button] = field(default_factory=dict)  # other actions a link wires, by name
    parts: P | None = None  # the tab's own components, typed (a small dataclass the tab owns; for the tab's tests)

    def port(self, name: str):
        """The component a port names: a field (``"button"``) or an entry of a dict field (``"inputs.run"``);
        None when this tab has no such component."""
        head, _, key = name.partition(".")
        if head not in PORT_FIELDS:
            raise ValueError(f"'{name}' is no port of a TabHandle (fields: {', '.join(PORT_FIELDS)})")
        value = getattr(self, head)
        return value.get(key) if key else value


PORT_FIELDS = ("button", "image", "model", "custom_model", "outputs", "inputs", "state", "buttons")


@dataclass
class AppParts:
    """What a link between tabs can reach: the tab strip (select a tab by id) and every handle."""

    tabs: gr.Tabs
    handles: dict  # tab id → TabHandle (or None for a tab whose build returns nothing)
    settings: Settings

    def reach(self, link) -> dict | None:
        """The components ``link`` declared with :func:`ports` (``"tab.port"`` → component), or None when a
        tab or a port it needs is missing (a tab served alone): the link then wires nothing."""
        found = {}
        for name in link.ports:
            tab, _, port = name.partition(".")
            handle = self.handles.get(tab)
            found[name] = handle.port(port) if isinstance(handle, TabHandle) else None
        return found if all(v is not None for v in found.values()) else None


def ports(*names: str):
    """Declare the ``"tab.port"`` names a link reads or writes (ports: :meth:`TabHandle.port`); the link
    gets them from :meth:`AppParts.reach`, and a test checks that every declared port exists."""

    def declare(link):
        link.ports = names
        return link

    return declare


def SafeImage(*args, **kwargs) -> gr.Image:  # noqa: N802 - used like a component class
    """``gr.Image`` that hands the handler the uploaded file path untouched.

    Stock ``gr.Image`` opens uploads with PIL before our handler runs, so a corrupt file or a
    decompression bomb fails inside gradio with a raw message. This one returns the file path
    and leaves decoding to :func:`tlweb.engine.images.load_image`, which checks the limits
    first and says what is wrong in a sentence. (A subclass would need its own front end, so
    the instance's ``preprocess`` is replaced instead.)
    """
    kwargs.setdefault("type", "filepath")
    kwargs.setdefault("image_mode", None)
    kwargs["elem_classes"] = _with_class(kwargs.get("elem_classes"), guard.RAW_IMAGE)
    image = gr.Image(*args, **kwargs)
    image.preprocess = types.MethodType(guard.raw_image, image)
    guard.install_input_checks()  # the marker keeps it raw after a handler updates the image
    return image


def _with_class(classes, marker: str) -> list[str]:
    classes = [classes] if isinstance(classes, str) else list(classes or [])
    return classes if marker in classes else [*classes, marker]


def lenient(component):
    """Let a component whose choices or bounds a handler replaces accept a value that raced with
    the update (the front end may still send a choice of the previous result, the API its default):
    stock components reject it with gradio's raw "not in the list of choices" / "greater than maximum
    value"; the handler ignores unknown names, or checks the number itself (:data:`tlweb.ui.guard.LENIENT`)."""
    return guard.mark(component, guard.LENIENT)


lenient_choices = lenient  # a CheckboxGroup / multiselect Dropdown whose choices a handler replaces


def model_input(component):
    """Mark a component whose value names a model: whatever it holds reaches the one gate
    (:func:`tlweb.engine.listing.resolve` via :mod:`tlweb.engine.loading`), which answers a name that is not in
    the list like any other name it refuses, never gradio's "not in the list of choices"."""
    return guard.mark(component, guard.LENIENT, guard.MODEL_INPUT)


NEED_IMAGE = "Upload, paste or capture an image first (or click an example)."


def need_image(image_path) -> None:
    """The sentence for a run pressed before any picture was given."""
    if image_path is None or image_path == "":
        raise gr.Error(NEED_IMAGE)


def model_choices(task: str, settings: Settings | None = None) -> list[tuple[str, str]]:
    """(label, value) pairs for a dropdown; the value is what :func:`tlweb.engine.listing.resolve` takes,
    the label says whether the model is ready or needs a download (:mod:`tlweb.ui.model_state`)."""
    settings = settings or get_settings()
    return labelled_choices(list_for_pickers(task, settings), settings)


def custom_model_box(settings: Settings, elem_id: str, example: str, local_example: str = "./my-model",
                     **kwargs) -> gr.Textbox:
    """The free-text box for any Hub id — and, in local mode only, a folder on this machine (a shared
    server never takes server paths from clients, :data:`tlweb.access.SHARED_RULE`)."""
    return model_input(gr.Textbox(label="…or any Hugging Face model id" + ("" if settings.shared else " / local folder"),
                                  placeholder=f"e.g. {example}" + ("" if settings.shared else f" or {local_example}"),
                                  info=SHARED_RULE if settings.shared else None, elem_id=elem_id, max_lines=1,
                                  **kwargs))


def other_model_box(settings: Settings, elem_id: str, example: str, local_example: str = "./my-model") -> gr.Textbox:
    """:func:`custom_model_box`, folded away under "Other model"."""
    local = "" if settings.shared else " or a local folder"
    with gr.Accordion(f"Other model: a Hugging Face id{local}", open=False, elem_classes=["tl-tech"]):
        return custom_model_box(settings, elem_id, example, local_example)


def model_picker(task: str, settings: Settings, elem_prefix: str, label: str = "Model",
                 multiselect: bool = False, value=None, info: str | None = None):
    """A dropdown over the catalog (plus demo models and fine-tuned runs) and a free-text box."""
    choices = model_choices(task, settings)
    if value is None:
        value = [c[1] for c in choices[:2]] if multiselect else first_ready(choices)
    dropdown = model_input(gr.Dropdown(
        choices=choices,
        value=value,
        multiselect=multiselect,
        label=label,
        info=info or "✓ runs here now · ⬇ needs a download; demo models are tiny, most with random weights.",
        elem_id=f"{elem_prefix}-model",
        filterable=True,
    ))
    custom = custom_model_box(settings, f"{elem_prefix}-custom-model", "google/vit-base-patch16-224",
                              elem_classes=["tl-tech"])
    return dropdown, custom


def picked_model(choice, custom: str | None) -> str:
    """What the user chose: the typed id wins when there is one."""
    if custom and custom.strip():
        return custom.strip()
    if not choice:
        raise TlwebError("Pick a model from the list or type a Hugging Face model id or a local folder.")
    return choice


def refresh_choices(task: str, settings: Settings):
    """A dropdown update with the current models (new fine-tuned runs appear; in shared mode only
    the runs this browser session made, see :mod:`tlweb.engine.owners`)."""
    return for_session(lambda: gr.update(choices=model_choices(task, settings)))()


def example_images() -> list[str]:
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(str(p) for p in EXAMPLES_DIR.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png", ".webp"))


_EXAMPLE_COPIES: list[str] = []


def example_copies() -> list[str]:
    """The example images copied to a temp folder once: a handler may return them as values
    (gradio serves files from temp folders, not from the installed package)."""
    if not _EXAMPLE_COPIES:
        import shutil
        import tempfile
        from pathlib import Path

        folder = Path(tempfile.mkdtemp(prefix="tlweb-examples-"))
        for src in example_images():
            dst = folder / Path(src).name
            shutil.copyfile(src, dst)
            _EXAMPLE_COPIES.append(str(dst))
    return list(_EXAMPLE_COPIES)


def image_input(elem_id: str, height: int = 300, examples: bool = True) -> gr.Image:
    """The one-image input of Classify, Segment and Detect: upload, webcam or paste (handed to
    the engine undecoded, see :func:`SafeImage`), with the example photos under it (or, with
    ``examples=False``, wherever the tab calls :func:`image_examples`)."""
    image = SafeImage(label="Image (upload, webcam or paste)", sources=["upload", "webcam", "clipboard"],
                      elem_id=elem_id, height=height)
    if examples:
        image_examples(image)
    return image


def image_examples(image: gr.Image) -> None:
    """The example photos: a click puts one in ``image``."""
    examples = example_images()
    if examples:
        gr.Examples(examples=[[p] for p in examples], inputs=[image], label="Examples (click one)",
                    examples_per_page=8)


def intro(text: str) -> gr.Markdown:
    """The one-paragraph explanation under a tab's title."""
    return gr.Markdown(text, elem_classes=["tl-intro"])


# --------------------------------------------------------------------------- "Download report"


def report_download(elem_prefix: str, label: str = "Download report") -> tuple[gr.Button, gr.File]:
    """A "Download report" button and the file it fills (hidden until there is one): one
    self-contained ``.html`` (:mod:`tlweb.viz.report`) for a slide deck or an e-mail."""
    button = gr.Button(label, size="sm", elem_id=f"{elem_prefix}-report-btn")
    file = gr.File(label="Report (one .html file; opens without a network)", visible=False, interactive=False,
                   elem_id=f"{elem_prefix}-report-file")
    return button, file


def downloadable(path) -> str:
    """A report file as a download: served from the one bounded report cache (:func:`guard.serve_report`),
    never left as a folder in the temporary directory."""
    return guard.serve_report(path)


def wire_report(button: gr.Button, file: gr.File, make, inputs, api_name: str) -> None:
    """``button`` → ``make(*inputs)`` (a ``report_for_*`` call returning the file's path) → ``file``.

    ``make`` raises :class:`TlwebError` with a sentence when there is nothing to report yet."""

    @functools.wraps(make)
    def handler(*values):
        return gr.update(value=downloadable(make(*values)), visible=True)

    button.click(user_errors(handler), inputs, [file], api_name=api_name)


def nothing_yet(what: str):
    """The sentence for a report button pressed before there is a result."""
    return TlwebError(f"Nothing to report yet: {what} first, then download its report.")
