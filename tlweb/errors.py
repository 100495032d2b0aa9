"""User-facing errors: every message is a sentence a person can act on."""

from __future__ import annotations


class TlwebError(Exception):
    """Base class. ``str(err)`` is shown to the user as is (never a stack trace)."""


class ImageError(TlwebError):
    """An image could not be read safely (not an image, truncated, too large …)."""


class ModelError(TlwebError):
    """A model id or folder could not be resolved or loaded."""


class ModelUnavailableError(ModelError):
    """The model is not cached and the Hugging Face Hub cannot be reached."""


class DataError(TlwebError):
    """A dataset is unusable (empty class, one class only, bad zip …)."""


def first_line(exc: BaseException, limit: int | None = 200) -> str:
    """The first line of an exception's message (its type name when it has none), cut to
    ``limit`` characters: what goes into a one-sentence error."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if limit is None else line[:limit]
