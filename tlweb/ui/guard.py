"""The web app's side of hardening: who is asking, gradio's upload copies, inline images, and
messages that leave the server.

- :func:`client_id` is the browser session (gradio's session hash) of the running request; the
  handlers wrapped by :func:`tlweb.ui.components.user_errors` run inside
  :func:`tlweb.access.client_scope` with it, so the engine can keep per-session budgets.
- Gradio keeps every upload under its upload folder (``GRADIO_TEMP_DIR``, default
  ``<temp>/gradio``), one folder per content hash. :func:`discard_refused` deletes the copies a
  handler refused (a zip upload is deleted once unpacked or refused, by the engine); gradio's own
  ``delete_cache`` ages out the rest (see :func:`delete_cache`). :func:`release` deletes the zips
  a session unpacked when it ends.
- :func:`data_url_to_file`: a pasted image arrives as a base64 data URL; it is checked against the
  same byte and pixel limits as a file (header only, nothing decoded) and written as is.
- :func:`message`: the one sentence a client sees for any exception, clipped and without server
  paths.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from pathlib import Path

from tlweb.config import Settings
from tlweb.errors import ImageError, TlwebError, clip, explain, first_line, scrub

log = logging.getLogger("tlweb.ui")


def client_id() -> str | None:
    """The session hash of the request being served (None outside a request)."""
    try:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
    except Exception:  # noqa: BLE001 - no gradio context
        return None
    return getattr(request, "session_hash", None) if request is not None else None


def upload_root() -> Path:
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve()


def is_upload(path) -> bool:
    """True for a file inside gradio's upload folder (a copy the app may delete)."""
    try:
        p = Path(str(path)).resolve()
        return p.is_file() and upload_root() in p.parents
    except (OSError, ValueError, TypeError):
        return False


def upload_paths(values) -> list[Path]:
    """Paths of gradio upload copies among handler arguments (strings, FileData, dicts, lists)."""
    out: list[Path] = []

    def visit(v, depth=0):
        if depth > 3 or v is None:
            return
        if isinstance(v, (list, tuple)):
            for item in v:
                visit(item, depth + 1)
            return
        if isinstance(v, dict):
            v = v.get("path") or v.get("name")
        elif not isinstance(v, (str, Path)):
            v = getattr(v, "path", None) or getattr(v, "name", None)
        if isinstance(v, (str, Path)) and len(str(v)) < 4096 and is_upload(v):
            out.append(Path(str(v)).resolve())

    visit(list(values))
    return out


def _delete(path: Path) -> None:
    from tlweb.engine.data import discard_upload

    discard_upload(path)


def discard_refused(values, settings: Settings) -> list[Path]:
    """After an image was refused: delete the uploaded copies among ``values`` that are not
    readable images within the limits (header check only); readable ones stay for a retry."""
    from tlweb.engine.data import check_image_file

    gone = []
    for path in upload_paths(values):
        if path.suffix.lower() == ".zip" or check_image_file(path, settings) is not None:
            _delete(path)
            gone.append(path)
    return gone


def release(client: str | None, settings: Settings) -> list[Path]:
    """The session ended: in shared mode delete the zips it unpacked that no other session holds;
    in local mode only forget its budget (the caches stay for the next visit). Gradio's upload
    copies are not deleted here: identical files share one copy (the examples too), so gradio's
    ``delete_cache`` ages them out instead."""
    from tlweb.engine import budget

    return budget.release(client, delete=settings.shared)


def delete_cache(settings: Settings) -> tuple[int, int]:
    """gradio's ``delete_cache`` (every, older than; seconds) for its upload and output copies:
    half-hourly for copies over 2 hours old when shared, daily for a day's when local."""
    return (1800, 7200) if settings.shared else (86400, 86400)


def serve_file(path) -> str:
    """A file from ``TLWEB_HOME`` (a run's model zip, its mistake images) made downloadable: linked
    (or copied) under a random folder of gradio's upload folder, which gradio serves and ages out.
    The runs folder itself is never opened to the web (no ``allowed_paths``): only what a handler
    returned, after its ownership check, reaches a client."""
    import os
    import secrets
    import shutil

    src = Path(path)
    folder = upload_root() / f"tlweb-{secrets.token_hex(12)}"
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / src.name
    try:
        os.link(src, dst)
    except OSError:  # another file system (or no hard links): a copy
        shutil.copyfile(src, dst)
    return str(dst)


def serve_gallery(items) -> list:
    """(path, caption) pairs with each path served by :func:`serve_file`."""
    out = []
    for path, caption in items or []:
        try:
            out.append((serve_file(path), caption))
        except OSError:
            continue
    return out


# --------------------------------------------------------------------------- inline images

_EXTENSIONS = {"jpeg": "jpg", "png": "png", "webp": "webp", "gif": "gif", "bmp": "bmp", "tiff": "tif",
               "mpo": "jpg", "ppm": "ppm"}


def data_url_to_file(url: str, cache_dir: str, settings: Settings) -> str:
    """A pasted image (``data:image/…;base64,…``) → a file in gradio's cache, within the same limits
    as an uploaded file: the byte limit before decoding base64, the pixel limit from the header
    (nothing is decoded). The bytes are written unchanged; the handler decodes them with
    :func:`tlweb.engine.images.load_image` like any file. Raises :class:`ImageError`."""
    from tlweb.engine.images import probe

    head, _, payload = str(url).partition(",")
    if not head.lower().startswith("data:") or ";base64" not in head.lower():
        raise ImageError("The pasted image is not a base64 data URL (data:image/…;base64,…).")
    payload = "".join(payload.split())
    if len(payload) * 3 // 4 > settings.max_upload_bytes:
        raise ImageError(f"The pasted image is over {settings.max_upload_mb} MB, the upload limit. "
                         "Resize or compress it and try again.")
    try:
        data = base64.b64decode(payload, validate=True)
    except (binascii.Error, ValueError):
        raise ImageError("The pasted image is not valid base64 data.") from None
    fmt = probe(data, settings, "pasted image")
    digest = hashlib.sha256(data).hexdigest()
    folder = Path(cache_dir) / digest
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"pasted.{_EXTENSIONS.get(fmt, 'img')}"
    if not path.exists():
        tmp = path.with_name(path.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(path)
    return str(path)


# --------------------------------------------------------------------------- messages


def message(exc: BaseException, where: str = "") -> str:
    """The sentence a client sees for ``exc``: ours as they are, known library errors mapped
    (:func:`tlweb.errors.explain`), anything else named by its class; always without absolute
    paths and clipped."""
    known = explain(exc)
    if isinstance(known, TlwebError):
        text = str(known)
    else:
        log.error("unexpected error%s", f" in {where}" if where else "", exc_info=exc)
        text = (f"Something went wrong ({type(exc).__name__}: {clip(first_line(exc), 120)}). The app is still "
                "running; try another image or model.")
    return clip(scrub(text), 600)
