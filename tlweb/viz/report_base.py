"""The parts every report is made of (:mod:`tlweb.viz.report` and its ``report_*`` modules build on them).

:class:`Report` (a document: sections, figures, pictures as data URLs, tables, facts, the environment),
the numbers as a report writes them (:func:`wilson`, :func:`accuracy_sentence`), paths as a report shows
them (:func:`shown_path`: never a server path in shared mode) and :func:`write_report`.
"""

from __future__ import annotations

import base64
import html
import io
import json
import platform
import re
import tempfile
from collections.abc import Iterable, Sequence
from datetime import datetime
from pathlib import Path

from tlweb.viz.training import as_dict

LIBRARIES = ("torch", "transformers", "datasets", "accelerate", "peft", "gradio", "plotly", "pillow", "numpy",
             "spaces")
IMAGE_SIDE = 1280  # embedded pictures are downscaled to this (keeps a report a few MB)
PLOT_CONFIG = {"displaylogo": False, "responsive": True,
               "toImageButtonOptions": {"format": "png", "scale": 2}}

CSS = """
:root { --fg:#0F172A; --muted:#64748B; --line:#E2E8F0; --accent:#4F46E5; --card:#F8FAFC; }
* { box-sizing: border-box; }
body { font-family: system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: var(--fg); margin: 0;
       background: white; line-height: 1.45; }
main { max-width: 1180px; margin: 0 auto; padding: 28px 28px 60px; }
header { border-bottom: 3px solid var(--accent); margin-bottom: 18px; padding-bottom: 10px; }
header h1 { margin: 0 0 4px; font-size: 1.75em; }
header .sub { color: var(--muted); }
section { margin: 26px 0; page-break-inside: avoid; }
h2 { font-size: 1.25em; border-bottom: 1px solid var(--line); padding-bottom: 4px; }
h3 { font-size: 1.05em; margin: 16px 0 6px; }
.note { color: var(--muted); font-size: 0.92em; }
.warn { background: #FEF3C7; border: 1px solid #FCD34D; color: #92400E; padding: 8px 12px; border-radius: 8px; }
table.tl { border-collapse: collapse; font-size: 0.92em; margin: 6px 0; }
table.tl th, table.tl td { border: 1px solid var(--line); padding: 4px 9px; text-align: left; vertical-align: top; }
table.tl th { background: var(--card); }
table.tl td.num { text-align: right; font-variant-numeric: tabular-nums; }
.facts { display: grid; grid-template-columns: max-content 1fr; gap: 3px 18px; font-size: 0.93em; padding: 10px 14px;
         border: 1px solid var(--line); border-radius: 10px; background: var(--card); }
.facts .k { color: var(--muted); }
.grid { display: flex; flex-wrap: wrap; gap: 14px; }
figure { margin: 0; }
figure img { max-width: 100%; border-radius: 8px; border: 1px solid var(--line); }
figure.thumb img { max-height: 220px; }
figcaption { color: var(--muted); font-size: 0.88em; margin-top: 3px; }
.plot { border: 1px solid var(--line); border-radius: 10px; padding: 4px; margin: 8px 0; }
pre { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px; font-size: 0.82em;
      overflow-x: auto; white-space: pre-wrap; }
footer { margin-top: 40px; color: var(--muted); font-size: 0.85em; border-top: 1px solid var(--line);
         padding-top: 8px; }
"""


# --------------------------------------------------------------------------- building blocks


def esc(value) -> str:
    return html.escape("" if value is None else str(value))


def image_data_url(image, max_side: int = IMAGE_SIDE) -> str:
    """A PIL image, numpy array or image file as a ``data:`` URL (PNG for drawings, JPEG for photos)."""
    import numpy as np
    from PIL import Image

    if isinstance(image, (str, Path)):
        from tlweb.engine.images import load_image

        img = load_image(image, draft=max_side)  # within the decode limits and budget, shrunk as it decodes
    elif isinstance(image, np.ndarray):
        img = Image.fromarray(image).convert("RGB")
    else:
        img = image.convert("RGB")
    if max(img.size) > max_side:
        s = max_side / max(img.size)
        img = img.resize((max(1, round(img.width * s)), max(1, round(img.height * s))), Image.Resampling.LANCZOS)
    buf = io.BytesIO()
    colors = img.getcolors(maxcolors=4096)  # few colours: a drawing or a tiny picture, PNG keeps it exact
    fmt = "PNG" if colors is not None or img.width * img.height <= 96 * 96 else "JPEG"
    img.save(buf, format=fmt, **({"quality": 88} if fmt == "JPEG" else {"optimize": True}))
    return f"data:image/{fmt.lower()};base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _size(image) -> tuple[int, int] | None:
    try:
        if isinstance(image, (str, Path)):
            from PIL import Image

            with Image.open(image) as im:
                return im.size
        if hasattr(image, "size") and isinstance(image.size, tuple):
            return image.size
        return image.shape[1], image.shape[0]
    except Exception:  # noqa: BLE001 - only a display hint
        return None


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shape results (from package metadata: nothing is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    import tlweb

    out = {"python": platform.python_version(), "tlweb": tlweb.__version__}
    for name in LIBRARIES:
        try:
            out[name] = version(name)
        except PackageNotFoundError:
            continue
    return out


class Report:
    """An HTML document assembled section by section; :meth:`render` inlines plotly.js once."""

    def __init__(self, title: str, subtitle: str = "", kind: str = "report"):
        self.title = title
        self.subtitle = subtitle
        self.kind = kind
        self.parts: list[str] = []
        self.figures = 0
        self.created = datetime.now().astimezone()

    # sections and content
    def section(self, title: str, note: str | None = None) -> Report:
        self.parts.append(f"</section><section><h2>{esc(title)}</h2>"
                          + (f"<p class='note'>{esc(note)}</p>" if note else ""))
        return self

    def heading(self, text: str) -> Report:
        self.parts.append(f"<h3>{esc(text)}</h3>")
        return self

    def text(self, text: str, cls: str = "note") -> Report:
        self.parts.append(f"<p class='{cls}'>{esc(text)}</p>")
        return self

    def raw(self, markup: str) -> Report:
        """Trusted HTML made by tlweb's own viz functions (they escape what they show)."""
        self.parts.append(markup)
        return self

    def figure(self, fig, caption: str | None = None) -> Report:
        self.figures += 1
        div = fig.to_html(full_html=False, include_plotlyjs=False, include_mathjax=False, config=PLOT_CONFIG,
                          div_id=f"{self.kind}-plot-{self.figures}")
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        self.parts.append(f"<figure class='plot'>{div}{cap}</figure>")
        return self

    def image(self, image, caption: str | None = None, thumb: bool = False, max_side: int = IMAGE_SIDE) -> Report:
        cap = f"<figcaption>{esc(caption)}</figcaption>" if caption else ""
        alt = esc(caption or "image")
        url, size = image_data_url(image, max_side), _size(image)
        # tiny pictures (32 px training images) are shown enlarged, pixels kept sharp
        style = " style='width:112px;image-rendering:pixelated'" if size and max(size) < 112 else ""
        self.parts.append(f"<figure class='{'thumb' if thumb else 'full'}'><img alt=\"{alt}\"{style} "
                          f"src=\"{url}\">{cap}</figure>")
        return self

    def images(self, items: Iterable[tuple[object, str]], thumb: bool = True) -> Report:
        self.parts.append("<div class='grid'>")
        for image, caption in items:
            self.image(image, caption, thumb=thumb, max_side=480 if thumb else IMAGE_SIDE)
        self.parts.append("</div>")
        return self

    def table(self, headers: Sequence[str], rows: Iterable[Sequence], numeric: Sequence[int] = ()) -> Report:
        head = "".join(f"<th>{esc(h)}</th>" for h in headers)
        body = "".join("<tr>" + "".join(
            f"<td class='num'>{esc(_fmt(v))}</td>" if i in numeric else f"<td>{esc(_fmt(v))}</td>"
            for i, v in enumerate(row)) + "</tr>" for row in rows)
        self.parts.append(f"<table class='tl'><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return self

    def facts(self, pairs: Iterable[tuple[str, object]]) -> Report:
        cells = "".join(f"<div class='k'>{esc(k)}</div><div>{esc(_fmt(v))}</div>" for k, v in pairs
                        if v not in (None, "", [], {}))
        self.parts.append(f"<div class='facts'>{cells}</div>")
        return self

    def json(self, obj, title: str = "Configuration") -> Report:
        text = json.dumps(obj, indent=2, ensure_ascii=False, default=str)
        self.parts.append(f"<details open><summary>{esc(title)}</summary><pre>{esc(text)}</pre></details>")
        return self

    def environment(self, device: str | None = None, precision: str | None = None) -> Report:
        self.section("Environment", "Where the results were computed, and the library versions of the machine that "
                     "wrote this report.")
        self.facts([("device", device), ("precision", precision), ("platform", platform.platform(terse=True)),
                    *library_versions().items(), ("report written", self.created.strftime("%Y-%m-%d %H:%M %Z"))])
        return self

    def render(self) -> str:
        import plotly.offline

        body = "".join(self.parts)
        if body.startswith("</section>"):
            body = body[len("</section>"):]
        script = f"<script type='text/javascript'>{plotly.offline.get_plotlyjs()}</script>" if self.figures else ""
        when = self.created.strftime("%Y-%m-%d %H:%M %Z")
        return (
            "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            f"<meta name='generator' content='tlweb {esc(library_versions()['tlweb'])}'>"
            f"<title>{esc(self.title)}</title><style>{CSS}</style>{script}</head><body><main>"
            f"<header><h1>{esc(self.title)}</h1><div class='sub'>{esc(self.subtitle)}"
            f"{' · ' if self.subtitle else ''}{esc(when)}</div></header>"
            f"<section>{body}</section>"
            f"<footer>Made with tlweb, the transfer-learning workbench. Self-contained: opens without a network."
            f"</footer></main></body></html>"
        )


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.4g}" if abs(v) < 1e4 else f"{v:,.0f}"
    if isinstance(v, (list, tuple)):
        return ", ".join(_fmt(x) for x in v)
    return "" if v is None else str(v)


def _params(n) -> str:
    try:
        n = float(n)
    except (TypeError, ValueError):
        return "?"
    return f"{n / 1e6:,.2f} M" if n >= 1e5 else f"{int(n):,}"


def spec_facts(spec) -> list[tuple[str, object]]:
    """Model facts from a ModelSpec (or its dict)."""
    d = as_dict(spec)
    return [("model", d.get("hub_id") if d.get("source") in ("catalog", "hub") else d.get("key")),
            ("family", d.get("family")), ("task", d.get("task")), ("source", d.get("source")),
            ("parameters (catalog)", f"{d['params_m']:g} M" if d.get("params_m") else None),
            ("input size", f"{d['input_size']} px" if d.get("input_size") else None),
            ("pretrained on", d.get("pretrained_on")), ("licence", d.get("license"))]


# --------------------------------------------------------------------------- writing


_SLUG = re.compile(r"[^A-Za-z0-9._-]+")


def shown_path(value, settings=None) -> str:
    """A path as a report shows it. Shared mode: only its last part (a folder's own name), never where it lives
    on the server. Local mode: ``~/…`` under the user's home, ``$TLWEB_HOME/…`` under a tlweb home kept
    elsewhere, else the path as it is (the user's own machine)."""
    from tlweb.config import get_settings

    settings = settings or get_settings()
    path = Path(str(value)).expanduser()
    if settings.shared:
        return path.name or str(value)
    for root, label in ((Path.home(), "~"), (settings.home, "$TLWEB_HOME")):
        try:
            return str(Path(label) / path.resolve().relative_to(Path(root).resolve()))
        except (ValueError, OSError):
            continue
    return str(path)


def _looks_like_path(text: str) -> bool:
    return text.startswith(("/", "~")) or bool(re.match(r"^[A-Za-z]:[\\/]", text))


def shown_paths(obj, settings=None):
    """``obj`` (a configuration: dicts, lists, strings) with every absolute path shown by :func:`shown_path`."""
    if isinstance(obj, dict):
        return {k: shown_paths(v, settings) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [shown_paths(v, settings) for v in obj]
    if isinstance(obj, str) and _looks_like_path(obj):
        return shown_path(obj, settings)
    return obj


def write_report(markup: str, path=None, name: str = "report", stamp: bool = True) -> Path:
    """Write ``markup`` to ``path`` (default: ``<name>[-<date-time>].html`` in a new temporary folder, which
    Gradio may serve; ``stamp``: add the date and time)."""
    if path is None:
        folder = Path(tempfile.mkdtemp(prefix="tlweb-report-"))
        stem = _SLUG.sub("-", name).strip("-") or "report"
        path = folder / (f"{stem}-{datetime.now():%Y%m%d-%H%M%S}.html" if stamp else f"{stem}.html")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(markup, encoding="utf-8")
    return path



def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson interval of a proportion (honest error bars for small test sets)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / den
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_sentence(accuracy, n) -> str:
    try:
        acc, n = float(accuracy), int(n)
    except (TypeError, ValueError):
        return ""
    if n <= 0:
        return ""
    hits = round(acc * n)
    lo, hi = wilson(hits, n)
    return (f"Test accuracy {acc * 100:.1f}%: {hits} of {n} test images right; 95% interval "
            f"{lo * 100:.0f}–{hi * 100:.0f}% (Wilson). With few test images, differences inside that range are noise.")


# --------------------------------------------------------------------------- one line per "Download report" button


def report_name(title: str) -> str:
    """A download's file name from a run's or an experiment's title ("demo-vit · linear · 14:02")."""
    return _SLUG.sub("-", title.replace("·", " ").replace(":", "-")).strip("-") + "-report"
