"""Embeddings tab: which backbone suits *your* images (leaderboard + zero-shot row), and why (projector).

Sections: 1 data (sample, zip, per-class uploads, Hub dataset or local folder) → 2 leaderboard (2–8
backbones on the same split: linear probe, k-NN, latency, parameters, GFLOPs; a CLIP/SigLIP row from
the class names alone; accuracy vs latency with the Pareto front) → 3 projector (PCA or t-SNE, pretrained
vs random-init weights of the same architecture, or before vs after fine-tuning a run; hover shows the
picture, a click shows its nearest neighbours).

Handlers are thin: widget values → ``tlweb.engine.{data,leaderboard,embeddings}`` → ``tlweb.viz.embeddings``.
"""

from __future__ import annotations

import html
import inspect
from dataclasses import dataclass

import gradio as gr

from tlweb.catalog import CLASSIFICATION, FEATURES, ZERO_SHOT_CLASSIFICATION
from tlweb.config import Settings, get_settings
from tlweb.engine.listing import list_models
from tlweb.errors import DataError, TlwebError, clip
from tlweb.ui.components import (
    TabHandle,
    for_session,
    intro,
    model_input,
    nothing_yet,
    report_download,
    user_errors,
    wire_report,
)
from tlweb.viz import embeddings as ve
from tlweb.viz.common import message_figure

TITLE = "Embeddings"
INTRO = (
    "**What you see:** which pretrained backbone suits *your* images, measured on them — and why. The "
    "**leaderboard** puts 2–8 backbones on the same split: a linear head and a k-nearest-neighbour vote on each "
    "one's frozen features, next to what each costs; a CLIP or SigLIP model adds the zero-images baseline from the "
    "class names alone. The **projector** draws the embeddings in 2-D: the same architecture with pretrained and "
    "with random weights, side by side, is the picture of why transfer learning works. Features are computed once "
    "and cached: a second run on the same data does no forward pass."
)
SOURCES = [("Built-in sample (offline)", "sample"), ("Zip of class folders", "zip"),
           ("Images per class", "classes"), ("Hugging Face dataset id or local folder", "hub")]
N_SLOTS = 4
MODES = [("Pretrained vs random weights (same architecture)", "random"),
         ("Before vs after fine-tuning (a run)", "run"), ("This model only", "single")]
METHODS = [("PCA", "pca"), ("t-SNE (slower)", "tsne")]
RENDERERS = [("auto (WebGL when the browser has it)", "auto"), ("WebGL", "webgl"), ("SVG", "svg")]


@dataclass
class EmbeddingsTab:
    """The tab's own components (``TabHandle.parts``: the tab's wiring and tests; other tabs use the handle)."""

    source: gr.Radio
    models: gr.Dropdown
    custom_models: gr.Textbox
    zero_shot: gr.Dropdown
    templates: gr.Textbox
    leaderboard_button: gr.Button
    status: gr.Markdown
    table: gr.Dataframe
    chart: gr.Plot
    best: gr.Markdown
    finetune_model: gr.Dropdown  # the backbone "Fine-tune this one" hands over (best trade-off by default); hidden
    finetune_button: gr.Button  # hidden until the app wires it to the Fine-tune tab
    projector_model: gr.Dropdown
    mode: gr.Radio
    run: gr.Dropdown
    method: gr.Radio
    renderer: gr.Radio
    projector_button: gr.Button
    projector_status: gr.Markdown
    projector: gr.Plot
    point: gr.Textbox
    neighbours: gr.Gallery



class EmbSession:
    """Per-browser-session state: the loaded data and the last projections (for neighbours)."""

    def __init__(self):
        self.data = None
        self.data_key = None
        self.projections: list = []
        self.leaderboard = None  # the last LeaderboardResult (its report)

    def __deepcopy__(self, memo):
        return EmbSession()


# ----------------------------------------------------------------------------------------------
# Pure helpers


def _paths(files) -> list[str]:
    if not files:
        return []
    if isinstance(files, (str, dict)) or not isinstance(files, (list, tuple)):
        files = [files]
    out = []
    for f in files:
        path = f.get("path") or f.get("name") if isinstance(f, dict) else (
            f if isinstance(f, str) else getattr(f, "path", None) or getattr(f, "name", None))
        if path:
            out.append(str(path))
    return out


def data_key(source, zip_file, hub_id, names, files) -> tuple:
    return (source or "sample", tuple(_paths(zip_file)), (hub_id or "").strip(),
            tuple((n or "").strip() for n in names), tuple(tuple(_paths(f)) for f in files))


def prepare_data(source, zip_file, hub_id, names, files, settings: Settings):
    """Widget values → PreparedData (DataError with a sentence when something is missing)."""
    from tlweb.engine import data as engine_data

    source = source or "sample"
    if source == "sample":
        return engine_data.sample_data(settings)
    if source == "zip":
        paths = _paths(zip_file)
        if not paths:
            raise DataError("Upload a .zip of class folders first (one folder per class, images inside).")
        return engine_data.load_upload(paths[0], settings=settings)  # unpacked within budgets, then deleted
    if source == "classes":
        classes: dict[str, list[str]] = {}
        for i, (name, group) in enumerate(zip(names, files), start=1):
            paths = _paths(group)
            if not paths:
                continue
            if not (name or "").strip():
                raise DataError(f"Class {i} has images but no name: type a name for it.")
            classes[name.strip()] = classes.get(name.strip(), []) + paths
        if len(classes) < 2:
            raise DataError("Add images to at least two classes first (name each class, then drop its images).")
        return engine_data.from_class_uploads(classes, settings=settings)
    if source == "hub":
        if not (hub_id or "").strip():
            raise DataError("Type a Hugging Face dataset id (for example 'beans').")
        return engine_data.load_hub_dataset(hub_id, settings=settings)  # an id in every mode, never a server path
    raise DataError(f"Unknown data source '{source}': pick one of the options.")


def backbone_choices(settings: Settings) -> list[tuple[str, str]]:
    seen, out = set(), []
    for spec in list_models(CLASSIFICATION, settings) + list_models(FEATURES, settings):
        if spec.key not in seen:
            seen.add(spec.key)
            out.append((spec.label, spec.key))
    return out


def default_backbones(choices: list[tuple[str, str]], settings: Settings) -> list[str]:
    values = [v for _, v in choices]
    if settings.demo:
        picks = [k for k in ("demo-resnet-shapes", "demo-resnet", "demo-vit", "demo-convnext") if k in values]
    else:
        picks = [k for k in ("resnet-50", "convnext-tiny", "vit-base", "dinov2-small") if k in values]
    return picks or values[:3]


def zero_shot_choices(settings: Settings) -> list[tuple[str, str]]:
    return [("none", "")] + [(s.label, s.key) for s in list_models(ZERO_SHOT_CLASSIFICATION, settings)]


def status_markdown(message: str, result: dict, finished: bool) -> str:
    lines = [f"**{html.escape(message)}**" if finished else f"Working… {html.escape(message)}"]
    failed = [r for r in result.get("rows", []) if r.get("error") and r["error"] != "stopped"]
    if failed:
        lines.append(f"⚠️ {len(failed)} model(s) could not run (the others were ranked):")
        lines.extend(f"&nbsp;&nbsp;• `{html.escape(clip(r['model']))}`: {html.escape(r['error'])}" for r in failed)
    if finished and result.get("rows"):
        lines.append(f"Same split for every model: {result.get('train_images')} training / {result.get('test_images')} "
                     f"test images ({html.escape(str(result.get('test_from')))}). Linear probe: the C of the "
                     "L2-regularised logistic regression chosen on held-out training images (by cross-validation "
                     "below 10 per class); k-NN: cosine, k by leave-one-out on the training images. Latency: one "
                     f"image at a time on {result.get('device')} ({result.get('precision')}), backbone without its "
                     "head; parameters likewise. Error bars: ±1 standard error of the test accuracy.")
    return "  \n".join(lines)


def parse_point(text) -> tuple[int, int]:
    """"panel:index" (or "index" for the first panel) → (panel, index)."""
    raw = str(text or "").strip()
    try:
        if ":" in raw:
            a, b = raw.split(":", 1)
            return int(a), int(b)
        return 0, int(raw)
    except ValueError:
        raise TlwebError("Click a point in the projector, or type its number (for example 12, or 1:12 for the "
                         "second panel).") from None


def _with_signature(fn, names: list[str]):
    fn.__signature__ = inspect.Signature([inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None)
                                          for n in names])
    return fn


def _webgl_js(renderer_pos: int) -> str:
    """Runs in the browser before the projector handler: installs the hover/click script once and
    turns the renderer "auto" into "webgl" or "svg" by asking the browser for a WebGL context."""
    return ("(...args) => {" + ve.PROJECTOR_JS + f"; if (args[{renderer_pos}] === 'auto') {{ let ok = false; "
            "try { const c = document.createElement('canvas'); ok = !!(c.getContext('webgl2') || "
            "c.getContext('webgl')); } catch (e) { ok = false; } "
            f"args[{renderer_pos}] = ok ? 'webgl' : 'svg'; }} return args; }}")


# ----------------------------------------------------------------------------------------------
# Layout and handlers


def _heading(title: str, text: str) -> None:
    """A section's number, title and one-sentence explanation (styled by :mod:`tlweb.ui.style`)."""
    gr.HTML(f"<div class='emb-sec'><h3>{title}</h3><p>{text}</p></div>")


def _data_section() -> dict:
    """Section 1 (a column beside the leaderboard's inputs, so the Rank button stays in view)."""
    _heading("1 · Your data", "The same sources as the Fine-tune tab; every model sees the same stratified split.")
    c: dict = {}
    c["source"] = gr.Radio(SOURCES, value="sample", label="Data source", elem_id="emb-source")
    c["zip_file"] = gr.File(label="Zip of class folders", file_types=[".zip"], elem_id="emb-zip", visible=False)
    c["hub_id"] = gr.Textbox(label="Hugging Face dataset id", max_lines=1, elem_id="emb-hub-id",
                             placeholder="e.g. beans or owner/name", visible=False)
    with gr.Column(visible=False) as c["classes_box"]:
        c["names"], c["files"] = [], []
        for i in range(N_SLOTS):
            c["names"].append(gr.Textbox(label=f"Class {i + 1} name", max_lines=1, elem_id=f"emb-class-{i + 1}-name"))
            c["files"].append(gr.File(label=f"Class {i + 1} images", file_count="multiple", height=110,
                                      file_types=["image"], elem_id=f"emb-class-{i + 1}-files"))
    c["notes"] = gr.Markdown(elem_id="emb-data-notes")
    return c


def _leaderboard_section(settings: Settings, choices) -> dict:
    """Section 2's inputs; :func:`_leaderboard_results` adds the button and what it draws."""
    from tlweb.engine.zeroshot import DEFAULT_TEMPLATES

    _heading("2 · Backbone leaderboard", "Linear probe and k-NN on each backbone's frozen features, what each costs, "
             "and a zero-shot model that sees no training image.")
    c: dict = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=6):
            c["models"] = model_input(gr.Dropdown(choices=choices, value=default_backbones(choices, settings),
                                                  multiselect=True, max_choices=8, label="Backbones (2–8)",
                                                  elem_id="emb-models", filterable=True))
            local = "" if settings.shared else " or local folders"  # a shared server takes no server paths
            c["custom_models"] = model_input(gr.Textbox(label=f"…and/or Hub model ids{local}, comma-separated",
                                                        max_lines=1, elem_id="emb-custom-models",
                                                        elem_classes=["tl-tech"]))
        with gr.Column(scale=5):
            zs_choices = zero_shot_choices(settings)
            zs_default = next((v for _, v in zs_choices if v in ("demo-clip", "clip-vit-base")), "")
            c["zero_shot"] = model_input(gr.Dropdown(choices=zs_choices, value=zs_default,
                                                     label="Zero-shot row (CLIP or SigLIP)", elem_id="emb-zero-shot",
                                                     allow_custom_value=True))
            # the section's button, in view at 1366×768 without scrolling (presenter mode too)
            c["button"] = gr.Button("Rank the backbones", variant="primary", elem_id="emb-leaderboard-btn")
            c["templates"] = gr.Textbox(value="\n".join(DEFAULT_TEMPLATES), lines=2, max_lines=8,
                                        label="Prompt templates ({} = class name; one per line, averaged)",
                                        elem_id="emb-templates", elem_classes=["tl-tech"])
    return c


def _leaderboard_results(c: dict) -> dict:
    """What section 2's button draws: status, the best trade-off, the chart, the table."""
    c["status"] = gr.Markdown(elem_id="emb-status")
    c["best"] = gr.Markdown(elem_id="emb-best", visible=False)
    c["chart"] = gr.Plot(value=message_figure("Pick backbones and press Rank the backbones"), elem_id="emb-chart",
                         show_label=False)
    c["table"] = gr.Dataframe(headers=ve.LEADERBOARD_COLUMNS, value=[], interactive=False, wrap=True,
                              elem_id="emb-table", max_height=480, column_widths=ve.LEADERBOARD_WIDTHS)
    # "Fine-tune this one": hidden until the app links this tab to the Fine-tune tab (both made visible there)
    with gr.Row():
        c["finetune_model"] = gr.Dropdown(choices=[], value=None, label="Backbone to fine-tune (the best trade-off "
                                          "unless you pick another)", elem_id="emb-finetune-model", scale=3,
                                          allow_custom_value=True, visible=False)
        c["finetune_button"] = gr.Button("Fine-tune this one →", elem_id="emb-finetune-btn", scale=1, visible=False)
    c["report"] = report_download("emb-leaderboard")
    return c


def _projector_section(settings: Settings, choices) -> dict:
    _heading("3 · Projector", "Every image as a point; images the backbone finds alike end up close. Hover for the "
             "picture, click for its nearest neighbours.")
    c: dict = {}
    with gr.Row(equal_height=False):
        with gr.Column(scale=4):
            c["model"] = model_input(gr.Dropdown(choices=choices,
                                                 value=(default_backbones(choices, settings) or [None])[0],
                                                 label="Backbone", elem_id="emb-projector-model", filterable=True,
                                                 allow_custom_value=True))
            c["mode"] = gr.Radio(MODES, value="random", label="Show", elem_id="emb-mode")
            c["run"] = model_input(gr.Dropdown(choices=[], value=None, label="Run (for before vs after)",
                                               elem_id="emb-run", visible=False, allow_custom_value=True))
        with gr.Column(scale=4):
            c["method"] = gr.Radio(METHODS, value="pca", label="Projection", elem_id="emb-method")
            c["max_points"] = gr.Slider(100, 5000, value=2000, step=100, label="At most this many points",
                                        elem_id="emb-max-points")
        with gr.Column(scale=3):
            c["renderer"] = gr.Radio(RENDERERS, value="auto", label="Points drawn with", elem_id="emb-renderer")
            c["button"] = gr.Button("Project the embeddings", variant="primary", elem_id="emb-projector-btn")
    c["status"] = gr.Markdown(elem_id="emb-projector-status")
    c["plot"] = gr.Plot(value=message_figure("Press Project the embeddings"), elem_id="emb-projector", show_label=False)
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=220):
            c["point"] = gr.Textbox(label="Point (click one, or type panel:number)", max_lines=1, elem_id="emb-point")
            c["point_button"] = gr.Button("Show neighbours", size="sm", elem_id="emb-point-btn")
            c["point_text"] = gr.Markdown(elem_id="emb-point-text")
            c["report"] = report_download("emb-projector")
        with gr.Column(scale=7):
            c["neighbours"] = gr.Gallery(label="Selected image and its nearest neighbours (in the backbone's feature "
                                         "space)", columns=7, height=230, object_fit="contain",
                                         elem_id="emb-neighbours")
    return c


def build(settings: Settings | None = None) -> TabHandle[EmbeddingsTab]:
    settings = settings or get_settings()
    intro(INTRO)
    session = gr.State(EmbSession())
    choices = backbone_choices(settings)
    with gr.Row(equal_height=False):
        with gr.Column(scale=4, min_width=300):
            d = _data_section()
        with gr.Column(scale=8):
            lb = _leaderboard_section(settings, choices)
    _leaderboard_results(lb)
    pj = _projector_section(settings, choices)
    data_inputs = [d["source"], d["zip_file"], d["hub_id"], *d["names"], *d["files"]]
    data_names = (["source", "zip_file", "hub_id"] + [f"class_{i + 1}_name" for i in range(N_SLOTS)]
                  + [f"class_{i + 1}_images" for i in range(N_SLOTS)])

    def _data(sess: EmbSession, values):
        src, zf, hid = values[:3]
        nm, fl = list(values[3:3 + N_SLOTS]), list(values[3 + N_SLOTS:3 + 2 * N_SLOTS])
        key = data_key(src, zf, hid, nm, fl)
        if sess.data is None or sess.data_key != key:
            sess.data = prepare_data(src, zf, hid, nm, fl, settings)
            sess.data_key = key
        return sess.data

    def show_source(src):
        return (gr.update(visible=src == "zip"), gr.update(visible=src == "hub"), gr.update(visible=src == "classes"))

    d["source"].change(show_source, inputs=[d["source"]], outputs=[d["zip_file"], d["hub_id"], d["classes_box"]],
                       api_name="embeddings_source", queue=False)
    rank = _with_signature(_rank_handler(settings, _data, lb, d["notes"]),
                           ["backbones", "custom_backbones", "zero_shot", "templates", *data_names, "session"])
    lb["button"].click(rank, inputs=[lb["models"], lb["custom_models"], lb["zero_shot"], lb["templates"],
                                     *data_inputs, session],
                       outputs=[lb["status"], lb["table"], lb["chart"], lb["best"], lb["finetune_model"], d["notes"]],
                       api_name="leaderboard")

    def show_mode(m):
        from tlweb.engine.runs import list_runs

        if m != "run":
            return gr.update(visible=False)
        runs = [r.run_id for r in list_runs(settings) if r.has_model]
        return gr.update(visible=True, choices=runs, value=runs[0] if runs else None)

    pj["mode"].change(for_session(show_mode), inputs=[pj["mode"]], outputs=[pj["run"]], api_name="embeddings_mode", queue=False)
    project = _with_signature(_project_handler(settings, _data, pj, d["notes"]),
                              ["model", "mode", "run", "method", "max_points", "renderer", *data_names, "session"])
    pj["button"].click(project, inputs=[pj["model"], pj["mode"], pj["run"], pj["method"], pj["max_points"],
                                        pj["renderer"], *data_inputs, session],
                       outputs=[pj["status"], pj["plot"], d["notes"]], api_name="project", js=_webgl_js(5))
    gr.on([pj["point_button"].click, pj["point"].submit], _neighbours_handler(settings), inputs=[pj["point"], session],
          outputs=[pj["neighbours"], pj["point_text"]], api_name="neighbours")
    _wire_reports(lb, pj, session)
    parts = EmbeddingsTab(source=d["source"], models=lb["models"], custom_models=lb["custom_models"],
                          zero_shot=lb["zero_shot"], templates=lb["templates"], leaderboard_button=lb["button"],
                          status=lb["status"], table=lb["table"], chart=lb["chart"], best=lb["best"],
                          finetune_model=lb["finetune_model"], finetune_button=lb["finetune_button"],
                          projector_model=pj["model"], mode=pj["mode"], run=pj["run"], method=pj["method"],
                          renderer=pj["renderer"], projector_button=pj["button"], projector_status=pj["status"],
                          projector=pj["plot"], point=pj["point"], neighbours=pj["neighbours"])
    return TabHandle(button=lb["button"], model=lb["models"], custom_model=lb["custom_models"], parts=parts,
                     outputs={"table": lb["table"], "chart": lb["chart"], "best": lb["best"], "projector": pj["plot"],
                              "finetune_model": lb["finetune_model"]},
                     buttons={"finetune": lb["finetune_button"]})


def _wire_reports(lb: dict, pj: dict, session) -> None:
    """"Download report" of this page's last leaderboard and projection."""
    from tlweb.viz.report import report_for_leaderboard, report_for_projector

    def leaderboard_report(sess: EmbSession):
        if sess.leaderboard is None:
            raise nothing_yet("rank some backbones")
        return report_for_leaderboard(sess.leaderboard)

    def projector_report(sess: EmbSession):
        if not sess.projections:
            raise nothing_yet("project the embeddings")
        return report_for_projector(sess.projections)

    wire_report(*lb["report"], leaderboard_report, [session], "leaderboard_report")
    wire_report(*pj["report"], projector_report, [session], "projector_report")


def _rank_handler(settings: Settings, get_data, lb: dict, notes_box: gr.Markdown):
    """The leaderboard's handler: it fills ``lb``'s status, table, chart, best and fine-tune pick, and the notes."""

    @user_errors
    def rank(chosen, custom, zs, tmpl, *rest):
        from tlweb.engine.compare import parse_models
        from tlweb.engine.leaderboard import check_models, iter_leaderboard

        *values, sess = rest
        names_ = check_models(list(chosen or []) + parse_models(custom))
        data = get_data(sess, values)
        notes = html.escape(data.summary())
        for step in iter_leaderboard(data, names_, (zs or "").strip() or None, tmpl, settings=settings):
            result = step.result.as_dict()
            done = step.finished
            if done:
                sess.leaderboard = step.result
            pick = [r["model"] for r in result["rows"] if r.get("kind") == "backbone" and not r.get("error")]
            sentence = result.get("best_sentence", "")
            values = {lb["status"]: status_markdown(step.message, result, done),
                      lb["table"]: ve.leaderboard_rows(result), notes_box: notes}
            if done or step.done:
                values[lb["chart"]] = ve.leaderboard_chart(result)
            if done:
                best = result.get("best") if result.get("best") in pick else (pick[0] if pick else None)
                values[lb["best"]] = gr.update(value=sentence, visible=bool(sentence))
                values[lb["finetune_model"]] = gr.update(choices=pick, value=best)
            yield values

    return rank


def _project_handler(settings: Settings, get_data, pj: dict, notes_box: gr.Markdown):
    """The projector's handler: it fills ``pj``'s status and plot, and the notes."""

    @user_errors
    def project(model_name, mode_v, run_v, method_v, max_pts, renderer_v, *rest):
        from tlweb.engine.embeddings import iter_projections

        *values, sess = rest
        data = get_data(sess, values)
        notes = html.escape(data.summary())
        kw = {"method": method_v or "pca", "max_points": int(max_pts or 2000), "settings": settings}
        if mode_v == "run" and not run_v:
            raise TlwebError("Pick a run (fine-tune a model in the Fine-tune tab first).")
        if mode_v != "run" and not model_name:
            raise TlwebError("Pick a backbone to project with.")

        projections = []  # one GPU call (ZeroGPU streams the messages, then the projections)
        for item in iter_projections(data, run_v if mode_v == "run" else model_name, mode_v or "random", **kw):
            if isinstance(item, str):
                yield {pj["status"]: f"Working… {html.escape(item)}", notes_box: notes}
            else:
                projections = list(item)
        sess.projections = projections
        if not projections:
            raise TlwebError("Nothing to show: the projection was stopped.")
        webgl = renderer_v != "svg"
        yield {pj["status"]: projector_status(projections, webgl),
               pj["plot"]: ve.projector_figure(projections, webgl=webgl), notes_box: notes}

    return project


def projector_status(projections, webgl: bool) -> str:
    parts = [f"{html.escape(p.title())}: k-NN {p.knn_accuracy * 100:.1f}%, silhouette "
             f"{'n/a' if p.silhouette != p.silhouette else f'{p.silhouette:.2f}'}" for p in projections]
    cached = " · features from the cache (no forward pass)" if all(p.cached for p in projections) else ""
    return (f"**{' · '.join(parts)}**  \n{projections[0].points:,} points · {'WebGL' if webgl else 'SVG'} "
            f"points{cached}")


def _neighbours_handler(settings: Settings):
    @user_errors
    def show_neighbours(text, sess: EmbSession):
        from tlweb.engine.embeddings import neighbour_images, point_name

        if not sess.projections or sess.data is None:
            raise TlwebError("Project the embeddings first, then click a point.")
        panel, index = parse_point(text)
        if not 0 <= panel < len(sess.projections):
            raise TlwebError(f"There is no panel {panel}: the projector has {len(sess.projections)}.")
        proj = sess.projections[panel]
        items = neighbour_images(sess.data, proj, index, settings)
        same = sum(1 for j in proj.neighbours[index] if proj.labels[int(j)] == proj.labels[index])
        what = f"{proj.class_names[proj.labels[index]]}, {point_name(sess.data, proj, index)}"
        return items, (f"**{html.escape(proj.title())}**, point {index} ({html.escape(what)}): {same} of its "
                       f"{len(proj.neighbours[index])} nearest neighbours share its class.")

    return show_neighbours


if __name__ == "__main__":
    from tlweb.ui.serving import launch_single

    launch_single(TITLE, build)
