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
import math
from pathlib import Path

from tlweb.config import Settings
from tlweb.errors import ImageError, TlwebError, clip, explain, first_line, scrub

log = logging.getLogger("tlweb.ui")


def client_id() -> str | None:
    """Who the request being served comes from (None outside a request): a visitor signed in with
    Hugging Face as their account (``hf:<username>``, the same in every session and on every device),
    anyone else as their browser session (gradio's session hash)."""
    try:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
    except Exception:  # noqa: BLE001 - no gradio context
        return None
    if request is None:
        return None
    from tlweb.access import account_client

    return account_client(signed_in_user(request)) or getattr(request, "session_hash", None)


def sign_in_enabled(env=None) -> bool:
    """Sign in with Hugging Face is offered on a Space with OAuth (``hf_oauth: true`` sets
    ``OAUTH_CLIENT_ID``) only; locally nothing changes."""
    import os

    env = os.environ if env is None else env
    return bool(env.get("SPACE_ID") and env.get("OAUTH_CLIENT_ID"))


def _session(request) -> dict:
    """The request's signed cookie session (gradio's SessionMiddleware, installed with a LoginButton), or {}."""
    underlying = getattr(request, "request", None) or request
    scope = getattr(underlying, "scope", None)
    if isinstance(scope, dict):
        session = scope.get("session")
    else:
        session = getattr(request, "session", None)
    return session if isinstance(session, dict) else {}


def signed_in_user(request) -> str | None:
    """The Hub user name of a visitor signed in with Hugging Face (a valid, unexpired OAuth session), else None."""
    import time

    if request is None or not sign_in_enabled():
        return None
    info = _session(request).get("oauth_info")
    if not isinstance(info, dict):
        return None
    expires = info.get("expires_at")
    if isinstance(expires, (int, float)) and expires < time.time():
        return None
    user = (info.get("userinfo") or {}).get("preferred_username")
    return user if isinstance(user, str) and user else None


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


REPORTS_DIR = "tlweb-reports"  # under gradio's upload folder: the one cache of reports handed out
REPORTS_KEEP = 64  # reports kept at most (the oldest go first) …
REPORTS_BYTES = 256 * 1024 * 1024  # … and bytes


def serve_report(path) -> str:
    """A report made for a client, served from the one bounded report cache (:data:`REPORTS_DIR`: at most
    :data:`REPORTS_KEEP` files and :data:`REPORTS_BYTES`, oldest removed first, and aged out by gradio's
    ``delete_cache`` too). A report written to a fresh temporary folder (``tlweb-report-*``) is moved
    there, so no folder is left in the temporary directory; one kept elsewhere (a run's) is copied."""
    import secrets
    import shutil
    import tempfile

    src = Path(path).resolve()
    root = upload_root() / REPORTS_DIR
    folder = root / secrets.token_hex(12)
    folder.mkdir(parents=True, exist_ok=True)
    dst = folder / src.name
    shutil.copyfile(src, dst)
    scratch = src.parent
    if scratch.name.startswith("tlweb-report-") and scratch.parent == Path(tempfile.gettempdir()).resolve():
        shutil.rmtree(scratch, ignore_errors=True)
    prune_reports(root)
    return str(dst)


def prune_reports(root: Path, keep: int | None = None, max_bytes: int | None = None) -> int:
    """Remove the oldest report folders beyond ``keep`` of them or ``max_bytes`` (default :data:`REPORTS_KEEP`,
    :data:`REPORTS_BYTES`); returns how many went."""
    import shutil

    from tlweb.engine.budget import tree_size

    keep = REPORTS_KEEP if keep is None else keep
    max_bytes = REPORTS_BYTES if max_bytes is None else max_bytes
    try:
        entries = sorted(((p.stat().st_mtime_ns, tree_size(p), p) for p in root.iterdir() if p.is_dir()),
                         key=lambda e: e[0], reverse=True)
    except OSError:
        return 0
    total, removed = 0, 0
    for i, (_, size, folder) in enumerate(entries):
        total += size
        if i >= keep or total > max_bytes:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


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


# --------------------------------------------------------------------------- inputs gradio checks itself

LENIENT = "tl-lenient"  # elem_classes marker: the value reaches the handler as sent (it checks it itself)
RAW_IMAGE = "tl-raw-image"  # elem_classes marker: an image upload reaches the handler undecoded (SafeImage)
_CHECKED = ("Dropdown", "Radio", "CheckboxGroup", "Slider", "Number", "Checkbox")
_INSTALLED: list[str] = []


def _field(component) -> str:
    """How a sentence names a component: its label, else its id."""
    label = getattr(component, "label", None) or getattr(component, "elem_id", None) or "A field"
    return clip(str(label).strip().rstrip(":"), 60)


MODEL_INPUT = "tl-model-input"  # elem_classes marker: the value names a model (the one gate checks it)


def mark(component, *markers: str):
    """Add ``markers`` to a component's ``elem_classes``, in its constructor arguments too (a copy
    gradio makes for a session keeps them). Returns the component."""
    classes = getattr(component, "elem_classes", None) or []
    classes = [classes] if isinstance(classes, str) else list(classes)
    classes += [m for m in markers if m not in classes]
    component.elem_classes = classes
    args = getattr(component, "_constructor_args", None)
    if args:
        args[0]["elem_classes"] = classes
    install_input_checks()
    return component


def _marked(component, marker: str) -> bool:
    classes = getattr(component, "elem_classes", None) or []
    return marker in ([classes] if isinstance(classes, str) else list(classes))


def _bounds(component) -> str:
    lo, hi = getattr(component, "minimum", None), getattr(component, "maximum", None)
    if lo is not None and hi is not None:
        return f"a number from {lo:g} to {hi:g}"
    if lo is not None:
        return f"a number of at least {lo:g}"
    if hi is not None:
        return f"a number of at most {hi:g}"
    return "a number"


def field_sentence(component, payload) -> str:
    """The one sentence for a value gradio's own check refused: the field by its label, the value clipped."""
    name, value = _field(component), clip(payload, 60)
    kind = type(component).__name__
    if kind in ("Slider", "Number"):
        return f"{name} takes {_bounds(component)}; '{value}' is not one."
    if kind == "Checkbox":
        return f"{name} takes true or false; '{value}' is neither."
    return f"{name}: '{value}' is not one of its choices."


def _as_sent(component, payload):
    """A lenient component's value, as plain data (names are the gate's to check)."""
    kind = type(component).__name__
    if payload is None:
        return [] if kind == "CheckboxGroup" or getattr(component, "multiselect", False) else None
    if kind in ("Slider", "Number"):
        try:
            number = float(payload)
        except (TypeError, ValueError, OverflowError):
            number = float("nan")
        if not math.isfinite(number):
            raise _error(field_sentence(component, payload))
        return number
    if isinstance(payload, (list, tuple)):
        return [str(v) for v in payload[:64]]
    return payload if isinstance(payload, (str, int, float, bool)) else str(payload)


def _error(text: str):
    import gradio as gr

    return gr.Error(clip(scrub(text), 600), print_exception=False)


def _checked_preprocess(original):
    def preprocess(self, payload):
        if _marked(self, LENIENT):
            return _as_sent(self, payload)
        try:
            return original(self, payload)
        except Exception:  # noqa: BLE001 - gradio's "Value: … is not in the list of choices: […]" and the like
            raise _error(field_sentence(self, payload)) from None

    preprocess.__wrapped__ = original
    return preprocess


def _image_preprocess(original):
    def preprocess(self, payload):
        if _marked(self, RAW_IMAGE):
            return raw_image(self, payload)
        return original(self, payload)

    preprocess.__wrapped__ = original
    return preprocess


def raw_image(component, payload):
    """An image upload as the handler gets it: the uploaded file's path, undecoded (the engine decodes
    it within the limits); a pasted image (a base64 data URL) is checked against the file limits and
    stored as is (:func:`data_url_to_file`)."""
    from tlweb.config import get_settings

    if payload is None:
        return None
    if payload.url and payload.url.startswith("data:"):
        try:
            return data_url_to_file(payload.url, component.GRADIO_CACHE, get_settings())
        except TlwebError as exc:
            raise _error(message(exc)) from None
    if payload.path is None:
        return None
    return str(payload.path)


def install_input_checks() -> None:
    """Every value gradio checks before a handler runs (dropdown choices, slider bounds, numbers) is
    refused with one sentence naming the field and clipping the value, never gradio's own text (which
    echoes the value whole and lists the choices); components marked :data:`LENIENT` pass their value
    on (the handler and the one gate check it); images marked :data:`RAW_IMAGE` reach the handler
    undecoded. Installed on the classes once: gradio rebuilds a component for a session whenever a
    handler updates it, so a per-instance patch would not last (the markers are constructor arguments,
    which do)."""
    import gradio as gr

    if _INSTALLED:
        return
    for name in _CHECKED:
        cls = getattr(gr, name)
        cls.preprocess = _checked_preprocess(cls.preprocess)
    gr.Image.preprocess = _image_preprocess(gr.Image.preprocess)
    _INSTALLED.append("done")


# --------------------------------------------------------------------------- request bodies


class BodyTooLarge(Exception):
    pass


def body_limit(path: str, settings: Settings) -> int:
    """Bytes one request body may hold: file uploads (gradio's multipart route, written to disk as they
    stream) up to 40 files at the upload limit; anything else (JSON, with images inline as base64) up to
    three times the upload limit, so a pasted image at the limit fits and a 400 MB JSON body is never parsed."""
    mb = settings.max_upload_mb * 1024 * 1024
    return 40 * mb if path.rstrip("/").endswith("/upload") else 3 * mb


def too_large_sentence(nbytes: int | None, limit: int) -> str:
    size = f"is {_human(nbytes)}" if nbytes is not None else "is larger than that"
    return (f"The request {size}; this server takes at most {_human(limit)} in one request "
            "(send smaller images, or fewer at once).")


def _human(n: int) -> str:
    from tlweb.engine.budget import human

    return human(n)


class BodyLimit:
    """ASGI middleware: a request whose body would pass :func:`body_limit` is answered 413 with one
    sentence, from its Content-Length before anything is read, or as soon as the bytes streamed in
    pass the limit (nothing is parsed)."""

    def __init__(self, app, settings: Settings | None = None):
        from tlweb.config import get_settings

        self.app = app
        self.settings = settings or get_settings()

    async def __call__(self, scope, receive, send):
        if scope.get("type") != "http" or scope.get("method") not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        limit = body_limit(scope.get("path", ""), self.settings)
        declared = dict(scope.get("headers") or []).get(b"content-length")
        try:
            length = int(declared) if declared is not None else None
        except ValueError:
            length = None
        if length is not None and length > limit:
            return await self._refuse(send, too_large_sentence(length, limit))
        if length is None and not scope.get("path", "").rstrip("/").endswith("/upload"):
            return await self._buffered(scope, receive, send, limit)
        seen = {"bytes": 0, "started": False}

        async def counted_receive():
            message = await receive()
            if message.get("type") == "http.request":
                seen["bytes"] += len(message.get("body") or b"")
                if seen["bytes"] > limit:
                    raise BodyTooLarge()
            return message

        async def tracked_send(message):
            if message.get("type") == "http.response.start":
                seen["started"] = True
            await send(message)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except BodyTooLarge:
            if not seen["started"]:
                await self._refuse(send, too_large_sentence(None, limit))

    async def _buffered(self, scope, receive, send, limit: int):
        """A body sent without its length (chunked): read up to the limit first (the JSON parser would hold it
        all anyway), then handed on; one byte more and it is refused before the app sees any of it."""
        chunks, total = [], 0
        while True:
            message = await receive()
            if message.get("type") != "http.request":
                return  # the client went away
            body = message.get("body") or b""
            total += len(body)
            if total > limit:
                return await self._refuse(send, too_large_sentence(None, limit))
            chunks.append(body)
            if not message.get("more_body"):
                break
        replay = [{"type": "http.request", "body": b"".join(chunks), "more_body": False}]

        async def replayed():
            return replay.pop() if replay else await receive()

        await self.app(scope, replayed, send)

    @staticmethod
    async def _refuse(send, sentence: str) -> None:
        import json

        body = json.dumps({"detail": sentence, "error": sentence}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": body})
