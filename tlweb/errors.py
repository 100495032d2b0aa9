"""User-facing errors: every message is a sentence a person can act on."""

from __future__ import annotations

import re


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


def clip(text, limit: int = 60) -> str:
    """``text`` on one line, cut to ``limit`` characters with its length said: how a name a client
    typed appears in a message (a 5,000-character model id must not come back whole). An absolute
    path keeps only its last part ("…/my-model"): messages never carry the server's folders."""
    text = " ".join(str(text).split())
    if text.startswith(("/", "~/")) and len(text) > 1 and "/" in text.rstrip("/")[1:]:
        last = text.rstrip("/").rsplit("/", 1)[-1]
        return "…/" + clip(last, max(8, limit - 2))
    if len(text) <= limit:
        return text
    return f"{text[: max(1, limit - 1)]}… ({len(text):,} characters)"


# An absolute POSIX path of at least two parts, not inside a URL ("https://host/a/b") or a word
# ("I/O", "owner/name"): replaced by "…/<last part>" wherever a message leaves the server.
_ABS_PATH = re.compile(r"(?<![\w.:/~-])/(?:[^\s'\"`/:;,()<>]+/)+([^\s'\"`/:;,()<>]*)")
_HOME_PATH = re.compile(r"(?<![\w.:/-])~/(?:[^\s'\"`/:;,()<>]+/)*([^\s'\"`/:;,()<>]*)")


def scrub(text: str) -> str:
    """``text`` without absolute paths (the server's folders, its working directory, the upload
    folder): each becomes ``…/`` and its last part."""
    def last(m: re.Match) -> str:
        return f"…/{m.group(1)}" if m.group(1) else "…/"

    return _HOME_PATH.sub(last, _ABS_PATH.sub(last, str(text)))


def _named(exc: BaseException, *names: str) -> bool:
    return any(cls.__name__ in names for cls in type(exc).__mro__)


def explain(exc: BaseException) -> TlwebError | None:
    """The sentence for an exception that is not a :class:`TlwebError` but that bad input causes
    (seen in hostile-input probes); None for a real bug. Never echoes the exception's text, which
    may hold paths or a whole 5,000-character name."""
    import errno

    if isinstance(exc, TlwebError):
        return exc
    if isinstance(exc, OSError) and (exc.errno == errno.ENAMETOOLONG or "name too long" in str(exc).lower()):
        return TlwebError("A name given is too long for a file or model name; use a shorter one.")
    if _named(exc, "SafetensorError", "HeaderTooLarge", "HeaderTooSmall", "InvalidHeaderDeserialization"):
        return ModelError("The model's weights file is not a readable safetensors file (damaged, cut short or "
                          "not weights at all).")
    if _named(exc, "UnpicklingError"):
        return ModelError("The model's weights file could not be read (a damaged or foreign pickle file).")
    if _named(exc, "DecompressionBombError", "DecompressionBombWarning"):
        return ImageError("The image declares too many pixels and was refused (it may be a decompression bomb).")
    if _named(exc, "UnidentifiedImageError"):
        return ImageError("The file is not an image this app can read (JPEG, PNG, WebP, GIF, BMP, TIFF).")
    if _named(exc, "BadZipFile", "LargeZipFile"):
        return DataError("The zip file is damaged or not a zip file.")
    if _named(exc, "Error") and type(exc).__module__ == "binascii":
        return ImageError("The inline image is not valid base64 data.")
    if isinstance(exc, MemoryError) or _named(exc, "OutOfMemoryError"):
        return TlwebError("The server ran out of memory for this request; try a smaller image, model or batch.")
    if isinstance(exc, RecursionError):
        return TlwebError("The input is nested too deeply to be read.")
    if isinstance(exc, FileNotFoundError):
        return TlwebError("A file this request needs is gone (uploads are cleaned up after a while); upload it again.")
    if isinstance(exc, PermissionError):
        return TlwebError("The server may not read or write a file this request needs.")
    if isinstance(exc, (UnicodeDecodeError, UnicodeEncodeError)):
        return TlwebError("A name or file holds characters that cannot be read (not valid UTF-8).")
    if _named(exc, "JSONDecodeError"):
        return TlwebError("A JSON file this request reads is damaged.")
    return None
