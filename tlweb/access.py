"""What a client may name: the one gate every text box passes before it reaches the engine.

The serving mode (:attr:`tlweb.config.Settings.mode`) decides:

- ``local`` (one person on their own machine, ``127.0.0.1``): model boxes take catalog keys,
  Hub ids, demo models, runs and typed folders.
- ``shared`` (``--host`` other than loopback, ``SPACE_ID`` set, ``--shared`` / ``TLWEB_SHARED=1``):
  only catalog keys, Hub ids, demo models and the client's own runs and uploads. A name is never
  looked up on the server's disk first, so the box cannot tell which folders exist.

In every mode a Hub dataset box takes Hub ids only, and local data reaches the engine only as an
upload or from the command line. Names longer than :data:`MAX_NAME_CHARS` are refused and every
message shows a name clipped (:func:`tlweb.errors.clip`).

This module also carries *who* is asking (:data:`CLIENT`, a context variable the UI sets per
request from the browser session) for per-session budgets and run ownership; the engine reads it
without knowing about gradio.
"""

from __future__ import annotations

import re
from contextlib import contextmanager
from contextvars import ContextVar

from tlweb.config import Settings
from tlweb.errors import DataError, ModelError, clip

MAX_NAME_CHARS = 256  # a model id, folder or dataset id (Hub ids are at most 96 + 1 + 96)

HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$|^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")

SHARED_RULE = ("This server is shared, so it takes only models from the list, Hugging Face ids, demo models "
               "and your own runs and uploads, never a folder or file on the server.")

# The browser session (gradio's session hash) a request comes from; None outside the web app.
CLIENT: ContextVar[str | None] = ContextVar("tlweb_client", default=None)


def current_client() -> str | None:
    return CLIENT.get()


ACCOUNT = "hf:"  # the client id of a visitor signed in with Hugging Face (on a Space): "hf:<username>"


def account_client(username) -> str | None:
    """The client id of a signed-in Hugging Face account (its runs follow it across sessions and devices),
    or None for a name that is not a Hub user name."""
    name = str(username or "").strip()
    return f"{ACCOUNT}{name}" if name and "/" not in name and is_hub_id(name) else None


def is_account(client: str | None) -> bool:
    return bool(client) and str(client).startswith(ACCOUNT)


@contextmanager
def client_scope(client: str | None):
    """Run the body as ``client`` (the UI wraps each request in one)."""
    token = CLIENT.set(client)
    try:
        yield
    finally:
        CLIENT.reset(token)


def _checked(value, what: str, error=ModelError) -> str:
    """``value`` stripped; refused when empty, over-long or holding control characters."""
    text = "" if value is None else str(value).strip()
    if len(text) > MAX_NAME_CHARS:
        raise error(f"'{clip(text)}' is too long for {what} ({len(text):,} characters; at most {MAX_NAME_CHARS}).")
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise error(f"'{clip(text.encode('unicode_escape').decode())}' holds control characters, so it is not {what}.")
    return text


def is_hub_id(text: str) -> bool:
    return bool(HUB_ID.match(text)) and ".." not in text


def looks_like_path(text: str) -> bool:
    """A folder or file rather than a Hub id: absolute, relative with ``.``/``~``, a backslash,
    a drive letter, more than one ``/`` or a file suffix like ``.zip``."""
    return (text.startswith(("/", "./", "../", "~", ".")) or "\\" in text or bool(re.match(r"^[A-Za-z]:", text))
            or text.count("/") > 1 or text.lower().endswith((".zip", ".json", ".safetensors", ".bin")))


def model_name(value, settings: Settings) -> str:
    """A model box's text, checked (length, characters; in shared mode, no paths). What it names is
    decided by :func:`tlweb.engine.listing.resolve`."""
    text = _checked(value, "a model id or folder")
    if not text:
        raise ModelError("Pick a model from the list or type a Hugging Face model id"
                         + (" or a local folder." if not settings.shared else "."))
    return text


def refuse_path(text: str) -> ModelError:
    """The shared mode's one sentence for a name that is not a list entry, a Hub id or a run."""
    return ModelError(f"'{clip(text)}' is not a model here. {SHARED_RULE}")


def hub_dataset_id(value) -> str:
    """A Hugging Face dataset id, checked as an id in every mode: never a path on the server."""
    text = _checked(value, "a dataset id", DataError)
    if not text:
        raise DataError("Type a Hugging Face dataset id first (for example 'beans' or 'owner/name').")
    if not is_hub_id(text):
        raise DataError(f"'{clip(text)}' is not a Hugging Face dataset id (ids look like 'beans' or 'owner/name'); "
                        "local images come in as a zip upload, per-class uploads or from the command line.")
    return text


def column_name(value, what: str) -> str | None:
    """An optional column name (image / label column): None when empty."""
    text = _checked(value, f"a {what} name", DataError)
    return text or None
