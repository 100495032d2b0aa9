"""Self-check of a running app: ``python -m tlweb selfcheck [--url URL]``.

Drives every tab's API through ``gradio_client`` on the bundled example photos and checks
that the answers make sense for the models the app lists:

- *structure* checks (any model; demo models when the app lists them): the right outputs come
  back, with the right shapes (k bars for top-k, one table row per compared model, a mask, a
  box table whose labels are the queries, a depth picture and surface on a generated scene …);
- *real* checks (curated checkpoints): the cat photo's top-5 holds a cat class, the detector
  finds a cat box, zero-shot detection finds the queried cat. They run against a URL (a
  deployed Space) by default, and locally only with ``--real`` (they download checkpoints). A
  real check whose model the app cannot download is SKIPPED with the app's sentence, unless
  ``--real`` was given, where it FAILS.

It prints a pass/fail table and exits 1 when a check failed (0 otherwise). Without ``--url``
it starts the app itself on a free local port with the demo models and checks that.

Adding a check is one function: decorate it with ``@check(name, tab)``; it receives the
:class:`Context`, returns a one-line detail, and raises :class:`CheckFailed` (or
:class:`Skipped`) with a sentence.
"""

from __future__ import annotations

import contextlib
import json
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tlweb.catalog import CATALOG, CLASSIFICATION, DETECTION, ZERO_SHOT_DETECTION

CAT = re.compile(r"\bcats?\b|tabby|lynx|persian|siamese|egyptian", re.I)
UNAVAILABLE = ("cannot be reached", "not in the local cache", "offline", "could not be downloaded", "gated",
               "does not exist on the hub")


class CheckFailed(Exception):
    """A check's answer does not make sense (one sentence)."""


class Skipped(Exception):
    """A check that cannot run here (no such model listed, a checkpoint the app cannot download)."""


@dataclass
class Check:
    name: str
    tab: str
    fn: Callable
    real: bool = False  # needs a curated checkpoint (downloads it)


CHECKS: dict[str, Check] = {}


def check(name: str, tab: str, real: bool = False):
    """Register a check function ``fn(ctx) -> detail`` (see the module docstring)."""

    def register(fn):
        CHECKS[name] = Check(name, tab, fn, real)
        return fn

    return register


@dataclass
class Result:
    name: str
    tab: str
    status: str  # PASS | FAIL | SKIP
    detail: str
    seconds: float
    model: str = ""

    def as_dict(self) -> dict:
        return {"check": self.name, "tab": self.tab, "status": self.status, "model": self.model,
                "detail": self.detail, "seconds": round(self.seconds, 2)}


@dataclass
class Context:
    client: object
    url: str
    endpoints: dict  # api name → view_api info
    examples: dict[str, Path]
    real: bool = False  # --real: real checks must run (a skip counts as a failure)
    url_is_remote: bool = False  # a deployed app: real checks run by default
    model: str = ""  # the model the current check used (shown in the table)
    notes: list[str] = field(default_factory=list)
    ran: set[str] = field(default_factory=set)  # endpoints that answered in this session (their state is set)

    # ---- endpoints and models
    def endpoint(self, api: str) -> dict:
        if api not in self.endpoints:
            raise CheckFailed(f"The app has no {api} endpoint (is the tab missing or renamed?).")
        return self.endpoints[api]

    def choices(self, api: str) -> list[str]:
        """The values of the endpoint's first model dropdown."""
        for p in self.endpoint(api)["parameters"]:
            if p.get("component") == "Dropdown":
                t = p.get("type") or {}
                enum = t.get("enum") or (t.get("items") or {}).get("enum") or []
                return [str(v) for v in enum if v]
        return []

    def demo_or_first(self, api: str, prefer: tuple[str, ...] = ()) -> str:
        values = self.choices(api)
        for want in prefer:
            if want in values:
                return want
        demo = [v for v in values if v.startswith("demo-")]
        if not (demo or values):
            raise CheckFailed(f"{api} lists no models.")
        return (demo or values)[0]

    def catalog_model(self, api: str, task: str, prefer: tuple[str, ...]) -> str:
        listed = set(self.choices(api))
        keys = [k for k in prefer if k in listed] + [s.key for s in CATALOG if s.task == task and s.key in listed]
        if not keys:
            raise Skipped(f"{api} lists no curated {task} checkpoint.")
        return keys[0]

    # ---- calling
    def call(self, api: str, values: dict):
        """Call ``api`` with arguments matched by label substring (``"label:top-k"``) or component.

        Parameters nothing matches take their default (or an empty value), so a tab may add or
        reorder inputs without breaking the check.
        """
        args = []
        used: set[str] = set()
        for p in self.endpoint(api)["parameters"]:
            label = (p.get("label") or "").lower()
            comp = p.get("component") or ""
            key = next((k for k in values if k.startswith("label:") and k[6:] in label), None)
            if key is None and comp in values and comp not in used:
                key = comp
            if key is not None:
                used.add(key)
                args.append(values[key])
            elif p.get("parameter_has_default"):
                args.append(p.get("parameter_default"))
            else:
                args.append("" if comp == "Textbox" else None)
        try:
            out = self.client.predict(*args, api_name=api)
        except Exception as exc:  # noqa: BLE001 - the app's own sentence, judged below
            text = str(exc).strip() or type(exc).__name__
            if any(s in text.lower() for s in UNAVAILABLE):
                raise Skipped(f"the app cannot get this model: {text[:220]}") from None
            raise CheckFailed(f"{api} failed: {text[:300]}") from None
        return out if isinstance(out, (list, tuple)) else (out,)

    def output(self, api: str, out, component: str, nth: int = 0):
        """The ``nth`` output of ``component`` kind (Plot, Dataframe, Image, Markdown …)."""
        kinds = [r.get("component") for r in self.endpoint(api)["returns"]]
        hits = [i for i, k in enumerate(kinds) if k == component]
        if len(hits) <= nth or hits[nth] >= len(out):
            raise CheckFailed(f"{api} returned no {component} output.")
        value = out[hits[nth]]
        if isinstance(value, dict) and value.get("__type__") == "update":  # gr.update(value=…, label=…)
            value = value.get("value")
        return value


# --------------------------------------------------------------------------- reading outputs


def plot_data(value) -> list[dict]:
    """The traces of a ``gr.Plot`` output (``{'type': 'plotly', 'plot': json}``)."""
    if not isinstance(value, dict) or value.get("type") != "plotly":
        raise CheckFailed(f"expected a plotly figure, got {type(value).__name__}.")
    return json.loads(value["plot"]).get("data") or []


def table_rows(value) -> tuple[list[str], list[list]]:
    if isinstance(value, dict):
        return [str(h) for h in value.get("headers") or []], list(value.get("data") or [])
    raise CheckFailed(f"expected a table, got {type(value).__name__}.")


def image_size(value) -> tuple[int, int]:
    from PIL import Image

    path = value.get("path") if isinstance(value, dict) else value
    if not path or not Path(str(path)).is_file():
        raise CheckFailed("expected an image, got nothing.")
    with Image.open(path) as im:
        return im.size


def _expect(condition: bool, sentence: str) -> None:
    if not condition:
        raise CheckFailed(sentence)


# --------------------------------------------------------------------------- checks


def _classify(ctx: Context, model: str, k: int) -> list[tuple[str, float]]:
    from gradio_client import handle_file

    ctx.model = model
    out = ctx.call("/classify", {"Image": handle_file(str(ctx.examples["cat"])), "Dropdown": model,
                                 "label:top-k": k})
    bars = plot_data(ctx.output("/classify", out, "Plot"))
    _expect(len(bars) == 1, f"expected one bar trace, got {len(bars)}.")
    labels, scores = bars[0].get("y") or [], bars[0].get("x") or []
    _expect(len(labels) == len(scores) == k, f"asked for the top {k}, got {len(labels)} labels.")
    _expect(all(0 <= float(s) <= 100 for s in scores), "probabilities outside 0–100%.")
    _expect(list(scores) == sorted(scores), "the top-k bars are not ordered by probability.")
    return list(zip(labels[::-1], scores[::-1]))  # best first


@check("classify", "Classify")
def classify_structure(ctx: Context) -> str:
    top = _classify(ctx, ctx.demo_or_first("/classify", ("demo-resnet-shapes",)), 3)
    return f"top-3 came back ordered; top-1 {top[0][0]} {top[0][1]:.1f}%"


@check("classify-cat", "Classify", real=True)
def classify_cat(ctx: Context) -> str:
    model = ctx.catalog_model("/classify", CLASSIFICATION, ("vit-base", "convnext-tiny", "resnet-50"))
    top = _classify(ctx, model, 5)
    cats = [f"{label} {score:.0f}%" for label, score in top if CAT.search(str(label))]
    _expect(bool(cats), f"no cat class in the cat photo's top-5: {', '.join(str(t[0]) for t in top)}.")
    return f"cat classes in the top-5: {', '.join(cats)}"


@check("compare", "Compare")
def compare_structure(ctx: Context) -> str:
    from gradio_client import handle_file

    values = ctx.choices("/compare")
    demo = [v for v in values if v.startswith("demo-")]
    models = (demo or values)[:2]
    _expect(len(models) == 2, "/compare lists fewer than two models.")
    ctx.model = ", ".join(models)
    files = [handle_file(str(ctx.examples[n])) for n in ("cat", "coffee")]
    out = ctx.call("/compare", {"File": files, "Dropdown": models, "label:top-k": 2})
    headers, rows = table_rows(ctx.output("/compare", out, "Dataframe"))
    _expect(len(rows) == 2, f"expected one table row per model (2), got {len(rows)}.")
    col = {h: i for i, h in enumerate(headers)}
    errors = [str(r[col["error"]]) for r in rows if "error" in col and r[col["error"]]]
    _expect(not errors, f"a model failed: {errors[0] if errors else ''}")
    plots = [plot_data(ctx.output("/compare", out, "Plot", i)) for i in range(3)]
    _expect(all(plots), "a Compare chart came back empty.")
    if "latency ms / image" in col:
        lat = [r[col["latency ms / image"]] for r in rows]
        _expect(all(isinstance(v, (int, float)) and math.isfinite(v) and v > 0 for v in lat),
                f"latencies are not positive numbers: {lat}.")
    ctx.ran.add("/compare")
    return f"2 rows, 3 charts; {len(headers)} columns"


@check("segment", "Segment")
def segment_structure(ctx: Context) -> str:
    from gradio_client import handle_file
    from PIL import Image

    ctx.model = ctx.demo_or_first("/segment", ("demo-segformer",))
    out = ctx.call("/segment", {"Image": handle_file(str(ctx.examples["cat"])), "Dropdown": ctx.model,
                                "label:compare with": ""})
    size = image_size(ctx.output("/segment", out, "Image"))
    with Image.open(ctx.examples["cat"]) as im:
        ratio = (im.width / im.height) / (size[0] / size[1])
    _expect(abs(ratio - 1) < 0.02, f"the overlay's aspect ratio differs from the photo's ({size}).")
    bars = plot_data(ctx.output("/segment", out, "Plot"))
    shares = [float(v) for t in bars for v in (t.get("x") or [])]
    _expect(bool(shares) and all(0 <= v <= 100 for v in shares), "class shares missing or outside 0–100%.")
    legend = ctx.output("/segment", out, "Html")
    _expect("%" in str(legend), "the legend shows no class shares.")
    ctx.ran.add("/segment")
    return f"overlay {size[0]}×{size[1]}; {len(shares)} classes, largest {max(shares):.1f}%"


@check("depth", "Depth")
def depth_structure(ctx: Context) -> str:
    """A generated scene through /depth: a picture of the scene's size, one 3-D surface, and — the scene's
    ground coming nearer toward the bottom — its bottom rows painted nearer (brighter) than its top."""
    import numpy as np
    from gradio_client import handle_file
    from PIL import Image

    scene = ctx.examples.get("scene")
    _expect(scene is not None, "this tlweb install has no generated scene picture (tlweb/assets/examples/scenes).")
    ctx.model = ctx.demo_or_first("/depth", ("demo-dpt-scenes",))
    out = ctx.call("/depth", {"Image": handle_file(str(scene)), "Dropdown": ctx.model})
    picture = ctx.output("/depth", out, "Image")
    size = image_size(picture)
    with Image.open(scene) as im:
        _expect(abs((im.width / im.height) / (size[0] / size[1]) - 1) < 0.02,
                f"the depth picture's aspect ratio differs from the scene's ({size}).")
    traces = plot_data(ctx.output("/depth", out, "Plot"))
    _expect([t.get("type") for t in traces] == ["surface"], "the 3-D view is not one surface.")
    with Image.open(picture.get("path") if isinstance(picture, dict) else picture) as im:
        grey = np.asarray(im.convert("L"), dtype=np.float64)
    band = max(1, grey.shape[0] // 8)
    top, bottom = grey[:band].mean(), grey[-band:].mean()
    _expect(bottom > top, f"the ground at the bottom is not painted nearer than the top ({bottom:.0f} ≤ {top:.0f}).")
    ctx.ran.add("/depth")
    return f"depth picture {size[0]}×{size[1]}, a 3-D surface; bottom rows nearer than the top ({bottom:.0f} > {top:.0f})"


def _detect(ctx: Context, model: str, queries: str, threshold: float) -> list[list]:
    from gradio_client import handle_file

    ctx.model = model
    out = ctx.call("/detect", {"Image": handle_file(str(ctx.examples["cat"])), "Dropdown": model,
                               "label:look for": queries, "label:threshold": threshold})
    image_size(ctx.output("/detect", out, "Image"))
    headers, rows = table_rows(ctx.output("/detect", out, "Dataframe"))
    _expect(not headers or headers[0] == "label", f"unexpected count table: {headers}.")
    plot_data(ctx.output("/detect", out, "Plot"))
    return rows


@check("detect", "Detect")
def detect_structure(ctx: Context) -> str:
    values = ctx.choices("/detect")
    model = next((v for v in values if v.startswith("demo-owl")), None) or ctx.demo_or_first("/detect")
    queries = "cat, remote control"
    rows = _detect(ctx, model, queries, 0.01)
    labels = {str(r[0]) for r in rows}
    if model.startswith("demo-owl") or "owl" in model:
        _expect(labels <= {"cat", "remote control"}, f"zero-shot labels are not the queries: {sorted(labels)}.")
    _expect(all(int(r[1]) >= 1 for r in rows), "a label with a zero count is listed.")
    ctx.ran.add("/detect")
    return f"{sum(int(r[1]) for r in rows)} boxes at ≥ 0.01 ({', '.join(sorted(labels)) or 'none'})"


@check("detect-cat", "Detect", real=True)
def detect_cat(ctx: Context) -> str:
    model = ctx.catalog_model("/detect", DETECTION, ("detr-resnet-50", "rtdetr-r18", "yolos-tiny"))
    rows = _detect(ctx, model, "", 0.5)
    cats = [r for r in rows if str(r[0]).lower() == "cat"]
    _expect(bool(cats), f"no cat box at score ≥ 0.5 (found: {', '.join(str(r[0]) for r in rows) or 'nothing'}).")
    return f"cat box, best score {float(cats[0][2]):.2f}"


@check("zero-shot-cat", "Detect", real=True)
def zero_shot_cat(ctx: Context) -> str:
    model = ctx.catalog_model("/detect", ZERO_SHOT_DETECTION, ("owlv2-base", "owlvit-base"))
    rows = _detect(ctx, model, "cat, remote control", 0.1)
    cats = [r for r in rows if str(r[0]) == "cat"]
    _expect(bool(cats), f"the queried 'cat' was not found at score ≥ 0.1 (found: "
                        f"{', '.join(str(r[0]) for r in rows) or 'nothing'}).")
    return f"'cat' found, best score {float(cats[0][2]):.2f}"



@check("explain", "Explain")
def explain_structure(ctx: Context) -> str:
    peak, size, labels = _explain(ctx, ctx.demo_or_first("/explain", ("demo-vit-shapes", "demo-resnet-shapes")))
    return f"map {size[0]}×{size[1]}, peak at x {peak[0]}, y {peak[1]}; top-{len(labels)}: {labels[0]}"


# The cat in the bundled cat photo (384×255): everything left of x = 80% of the width (the right edge is
# the background).
CAT_BOX = (0.0, 0.0, 0.80, 1.0)


@check("explain-cat", "Explain", real=True)
def explain_cat(ctx: Context) -> str:
    model = ctx.catalog_model("/explain", CLASSIFICATION, ("vit-base", "convnext-tiny", "resnet-50"))
    peak, size, labels = _explain(ctx, model)
    fx, fy = peak[0] / size[0], peak[1] / size[1]
    x0, y0, x1, y1 = CAT_BOX
    _expect(x0 <= fx <= x1 and y0 <= fy <= y1, f"the Grad-CAM peak (x {peak[0]}, y {peak[1]}) is off the cat.")
    return f"Grad-CAM peak on the cat (x {peak[0]}, y {peak[1]} of {size[0]}×{size[1]}); top-1 {labels[0]}"


def _explain(ctx: Context, model: str) -> tuple[tuple[int, int], tuple[int, int], list[str]]:
    from gradio_client import handle_file
    from PIL import Image

    ctx.model = model
    out = ctx.call("/explain", {"Image": handle_file(str(ctx.examples["cat"])), "Dropdown": model,
                                "label:method": "gradcam", "label:default layer": True,
                                "label:layer (": 0,  # ignored (the method's default layer); 0 is always in range
                                "label:randomize": False})
    size = image_size(ctx.output("/explain", out, "Image"))
    with Image.open(ctx.examples["cat"]) as im:
        _expect(abs((im.width / im.height) / (size[0] / size[1]) - 1) < 0.03,
                f"the map's aspect ratio differs from the photo's ({size}).")
    bars = plot_data(ctx.output("/explain", out, "Plot"))
    labels, scores = (bars[0].get("y") or [], bars[0].get("x") or []) if bars else ([], [])
    _expect(1 <= len(labels) <= 5 and list(scores) == sorted(scores), "the top-5 bars are missing or unordered.")
    facts = str(ctx.output("/explain", out, "Html"))
    found = re.search(r"x (\d+), y (\d+) of (\d+)×(\d+)", facts)
    _expect(found is not None, "the facts do not say where the map peaks.")
    x, y, w, h = map(int, found.groups())
    _expect(0 <= x < w and 0 <= y < h, f"the peak (x {x}, y {y}) is outside the {w}×{h} picture.")
    ctx.ran.add("/explain")
    return (x, y), (w, h), [str(v) for v in labels[::-1]]


@check("finetune", "Fine-tune")
def finetune_structure(ctx: Context) -> str:
    model = ctx.demo_or_first("/finetune", ("demo-resnet-shapes",))
    ctx.model = model
    ctx.call("/load_data", {"label:source": "sample"})
    out = ctx.call("/finetune", {"Dropdown": model, "label:strategy": "linear", "label:epochs": "auto",
                                 "label:batch": "auto", "label:learning rate": "auto", "label:images per class": 0})
    status = str(out[0])
    _expect("Done" in status, f"the run did not finish: {re.sub('<[^>]+>', ' ', status)[:200]}")
    acc = re.search(r"test accuracy <b>([\d.]+) ?%", status)
    _expect(acc is not None and 0 <= float(acc.group(1)) <= 100, "no test accuracy in 0–100% after the run.")
    curves = plot_data(ctx.output("/finetune", out, "Plot"))
    _expect(bool(curves), "the training curves came back empty.")
    ctx.ran.add("/finetune")
    return f"linear probe on the sample: test accuracy {acc.group(1)}%, {len(curves)} curves"


@check("leaderboard", "Embeddings")
def leaderboard_structure(ctx: Context) -> str:
    values = ctx.choices("/leaderboard")
    demo = [v for v in values if v.startswith("demo-")]
    models = [m for m in ("demo-resnet-shapes", "demo-resnet") if m in values] or (demo or values)[:2]
    _expect(len(models) == 2, "/leaderboard lists fewer than two backbones.")
    ctx.model = ", ".join(models)
    out = ctx.call("/leaderboard", {"Dropdown": models, "label:zero-shot": "", "label:source": "sample"})
    _expect(str(out[0]).lower().count("ranked 2 of 2") == 1, f"not both models were ranked: {str(out[0])[:200]}")
    headers, rows = table_rows(ctx.output("/leaderboard", out, "Dataframe"))
    col = {h: i for i, h in enumerate(headers)}
    accs = [r[col["linear probe %"]] for r in rows] if "linear probe %" in col else []
    _expect(len(rows) == 2 and all(isinstance(a, (int, float)) and 0 <= a <= 100 for a in accs),
            f"expected two rows with a linear-probe accuracy in 0–100%, got {accs}.")
    _expect(bool(plot_data(ctx.output("/leaderboard", out, "Plot"))), "the leaderboard chart came back empty.")
    ctx.ran.add("/leaderboard")
    return ", ".join(f"{r[0]} {a:.1f}%" for r, a in zip(rows, accs))


def _pretrained_vs_random(ctx: Context, model: str) -> str:
    ctx.model = model
    out = ctx.call("/project", {"label:model": model, "Dropdown": model, "label:mode": "random", "label:method": "pca",
                                "label:max": 200, "label:renderer": "svg", "label:source": "sample"})
    status = str(out[0])
    found = {w: float(v) for w, v in re.findall(r"(pretrained|random init): k-NN ([\d.]+)%", status)}
    _expect(set(found) == {"pretrained", "random init"}, f"the projector gave no k-NN accuracies: {status[:200]}")
    _expect(found["pretrained"] > found["random init"], f"{model}'s pretrained features ({found['pretrained']:.1f}%) "
            f"do not beat its random-init twin ({found['random init']:.1f}%) on k-NN.")
    ctx.ran.add("/project")
    return f"k-NN on the sample: pretrained {found['pretrained']:.1f}% > random-init twin {found['random init']:.1f}%"


@check("pretrained-beats-random", "Embeddings")
def pretrained_beats_random(ctx: Context) -> str:
    if "demo-resnet-shapes" not in ctx.choices("/project"):
        raise Skipped("no genuinely pretrained demo backbone is listed (demo-resnet-shapes).")
    return _pretrained_vs_random(ctx, "demo-resnet-shapes")


@check("pretrained-beats-random-real", "Embeddings", real=True)
def pretrained_beats_random_real(ctx: Context) -> str:
    return _pretrained_vs_random(ctx, ctx.catalog_model("/project", CLASSIFICATION,
                                                         ("resnet-50", "convnext-tiny", "vit-base")))


# --------------------------------------------------------------------------- reports

PLOTLY_BANNER = re.compile(r"/\*\*\s*\*\s*plotly\.js v\d")

REPORTS = {  # report endpoint → (the endpoint whose result it reports, the check that makes one, its inputs)
    "/compare_report": ("/compare", compare_structure, {}),
    "/segment_report": ("/segment", segment_structure, {}),
    "/detect_report": ("/detect", detect_structure, {"label:threshold": 0.3}),
    "/explain_report": ("/explain", explain_structure, {}),
    "/leaderboard_report": ("/leaderboard", leaderboard_structure, {}),
    "/run_report": ("/finetune", finetune_structure, None),
}


def _report(ctx: Context, api: str) -> str:
    source, make, values = REPORTS[api]
    if source not in ctx.ran:  # a check run alone: make the result first (in this session)
        make(ctx)
    if values is None:  # the picked run of the runs list (the newest)
        runs = ctx.call("/runs", {})
        pick = ctx.output("/runs", runs, "Dropdown")
        _expect(bool(pick), "the runs list is empty after a fine-tune.")
        values = {"Dropdown": pick}
    out = ctx.call(api, values)
    value = ctx.output(api, out, "File")
    path = Path(str(value.get("path") if isinstance(value, dict) else value or ""))
    _expect(path.suffix == ".html" and path.is_file(), f"{api} gave no .html file ({path.name or 'nothing'}).")
    markup = path.read_text(encoding="utf-8", errors="replace")
    _expect(markup.lstrip().startswith("<!DOCTYPE html>"), "the report is not an HTML page.")
    _expect(len(PLOTLY_BANNER.findall(markup)) == 1, "plotly.js is not inlined exactly once.")
    plots = markup.count("Plotly.newPlot(")
    _expect(plots >= 1, "the report has no chart.")
    banner = PLOTLY_BANNER.search(markup)
    page = markup[:banner.start()] + markup[markup.find("</script>", banner.start()):]  # the page without plotly.js
    remote = re.findall(r"""\b(?:src|href)\s*=\s*["'](https?:|//)""", page)
    _expect(not remote, "the report fetches something from the network.")
    return f"{path.stat().st_size / 1e6:.1f} MB, plotly.js inlined, {plots} chart{'s' if plots != 1 else ''}"


def _register_report(api: str) -> None:
    """One check per report endpoint ("compare-report" …), listed under its tab."""
    tab = next(c.tab for c in CHECKS.values() if c.fn is REPORTS[api][1])
    check(api.strip("/").replace("_", "-"), tab)(lambda ctx: _report(ctx, api))


for _api in REPORTS:
    _register_report(_api)


# --------------------------------------------------------------------------- running


def run_checks(ctx: Context, names: list[str] | None = None) -> list[Result]:
    results = []
    for c in CHECKS.values():
        if names and c.name not in names:
            continue
        ctx.model = ""
        t0 = time.perf_counter()
        if c.real and not ctx.real and not ctx.url_is_remote:
            status, detail = "SKIP", "needs curated checkpoints: run with --real (downloads them) or against a Space"
        else:
            try:
                status, detail = "PASS", str(c.fn(ctx) or "ok")
            except Skipped as exc:
                status, detail = ("FAIL" if ctx.real and c.real else "SKIP"), str(exc)
            except CheckFailed as exc:
                status, detail = "FAIL", str(exc)
            except Exception as exc:  # noqa: BLE001 - a check that breaks is a failure, said in one line
                status, detail = "FAIL", f"{type(exc).__name__}: {str(exc)[:240]}"
        results.append(Result(c.name, c.tab, status, detail, time.perf_counter() - t0, ctx.model))
    return results


def format_table(results: list[Result], url: str = "") -> str:
    """A plain-text table: one line per check, then a summary line."""
    head = ("check", "tab", "model", "result", "time", "detail")
    rows = [(r.name, r.tab, r.model or "–", r.status, f"{r.seconds:.1f} s", r.detail) for r in results]
    widths = [max(len(str(x[i])) for x in [head, *rows]) for i in range(5)]
    lines = [f"tlweb self-check{' of ' + url if url else ''}", ""]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths) + "  {}"
    lines.append(fmt.format(*head))
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 6)
    lines.extend(fmt.format(*row) for row in rows)
    counts = {s: sum(r.status == s for r in results) for s in ("PASS", "FAIL", "SKIP")}
    verdict = "FAILED" if counts["FAIL"] else "OK"
    lines += ["", f"{verdict}: {counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped"]
    return "\n".join(lines)


def connect(url: str, token: str | None = None, real: bool = False) -> Context:
    from gradio_client import Client

    from tlweb.assets import example_images, scene_images
    from tlweb.errors import TlwebError

    found = {p.stem: p for p in example_images()}
    examples = {name: found.get(name) for name in ("cat", "coffee")}
    missing = [n for n, p in examples.items() if p is None]
    scenes = scene_images()
    if scenes:
        examples["scene"] = scenes[0]
    if missing:
        raise TlwebError(f"The example photos ({', '.join(missing)}) are missing from this tlweb install.")
    try:
        client = Client(url, token=token or None, verbose=False)
        info = client.view_api(print_info=False, return_format="dict") or {}
    except Exception as exc:  # noqa: BLE001 - one sentence
        raise TlwebError(f"Could not reach a Gradio app at {url} ({type(exc).__name__}: {str(exc)[:200]}).") from None
    return Context(client=client, url=url, endpoints=info.get("named_endpoints") or {}, examples=examples, real=real)


@contextlib.contextmanager
def local_app(settings=None):
    """The whole app with demo models on a free 127.0.0.1 port, in this process (yields its URL)."""
    import socket

    from tlweb.config import get_settings
    from tlweb.ui.app import launch

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = (settings or get_settings()).replace(demo=True, host="127.0.0.1", port=port)
    demo = launch(settings, prevent_thread_lock=True, quiet=True)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def main(url: str | None = None, token: str | None = None, real: bool = False, names: list[str] | None = None,
         as_json: bool = False, settings=None) -> int:
    """Run the checks (against ``url``, or a local demo app); print the table; 1 when one failed."""
    from tlweb.errors import TlwebError

    unknown = sorted(set(names or []) - set(CHECKS))
    if unknown:
        raise TlwebError(f"Unknown check(s) {', '.join(unknown)}; there are: {', '.join(CHECKS)}.")
    with contextlib.ExitStack() as stack:
        target = url or stack.enter_context(local_app(settings))
        ctx = connect(target, token, real)
        ctx.url_is_remote = url is not None
        results = run_checks(ctx, names)
    if as_json:
        print(json.dumps({"url": url or "local demo app", "ok": not any(r.status == "FAIL" for r in results),
                          "checks": [r.as_dict() for r in results]}))
    else:
        print(format_table(results, url or "the local demo app"))
    return 1 if any(r.status == "FAIL" for r in results) else 0
