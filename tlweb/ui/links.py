"""Links between tabs, run by ``tlweb.ui.app.LINKS`` once every tab is built (each gets ``AppParts``:
the tab strip and every tab's handle). A link whose tabs are missing does nothing, so a tab served alone
(``python -m tlweb.ui.tabs.classify``) shows no button that leads nowhere.

A link puts its button next to the component it belongs to (:func:`beside`: the container holding that
component is re-entered, so the button lands at its end) and wires it; the tab modules stay unaware of
each other:

- **Classify → Explain**: "Explain this image" with the same image and model (:func:`classify_to_explain`);
- **Fine-tune → Explain**: pick one of the run's confident mistakes, "Explain this mistake" opens it with
  the run's model and the run preselected for before / after (:func:`mistakes_to_explain`);
- **Embeddings → Fine-tune**: "Fine-tune this one", shown once a leaderboard has ranked the backbones
  (:func:`embeddings_to_finetune`);
- **Fine-tune → Classify**: "Use this model in Classify" for the run just trained, and "Open in its tab"
  for the run (or the best run of the experiment) picked in the Runs step (:func:`finetune_to_classify`;
  a segmenter's or detector's run opens in Segment or Detect);
- **Learn → every tab**: the Learn tab's "Show me" buttons (:func:`learn_steps`).

A link declares the ports it reads and writes (:func:`~tlweb.ui.components.ports`: ``"tab.field"`` of the tabs'
:class:`~tlweb.ui.components.TabHandle`) and reaches them through :meth:`AppParts.reach`, nothing else of a tab;
its handlers return dicts keyed by component (what they leave out stays as it is).
"""

from __future__ import annotations

import contextlib

import gradio as gr

from tlweb.catalog import CLASSIFICATION
from tlweb.errors import TlwebError
from tlweb.ui.components import NEED_IMAGE, AppParts, TabHandle, model_choices, ports, user_errors


@contextlib.contextmanager
def beside(component):
    """Add components at the end of the container that holds ``component`` (its row or column)."""
    box = component.parent
    keep = box.parent  # entering a container again re-parents it; put it back afterwards
    with box:
        yield box
    box.parent = keep


def click_js(button) -> str:
    """Browser-side: press ``button`` (the target tab's main action) once the tab switch has shown it —
    a tab's content is drawn when the tab is first selected — and the preset values have settled;
    gives up after 15 s."""
    return ("() => { let n = 0; const t = setInterval(() => { "
            f"const b = document.getElementById('{button.elem_id}'); n += 1; "
            "if (b && b.offsetParent !== null) { clearInterval(t); setTimeout(() => b.click(), 400); } "
            "else if (n > 150) { clearInterval(t); } }, 100); }")


def _run_there(event, button, api_name: str) -> None:
    """After ``event`` succeeded, press ``button`` in the browser (API callers call its endpoint themselves)."""
    if button is not None and button.elem_id:
        event.success(None, None, None, js=click_js(button), api_name=api_name, api_visibility="private",
                      queue=False)


EXPLAIN_PRESET = tuple(f"explain.{port}" for port in ("image", "model", "custom_model", "inputs.run"))  # preset()'s


def _preset_outputs(p: dict) -> list:
    return [p[name] for name in EXPLAIN_PRESET]


# --------------------------------------------------------------------------- Classify → Explain


def to_explain(image, choice, custom, settings, p: dict) -> dict:
    """Updates for the Explain tab's :func:`~tlweb.ui.tabs.explain.preset` ports and the tab strip (keyed by
    component; ``p``: the link's ports): the same picture and model; a zero-shot model (CLIP, SigLIP) is
    refused with a sentence."""
    from tlweb.engine.zeroshot import is_zero_shot

    if not image:
        raise TlwebError(NEED_IMAGE)
    typed = (custom or "").strip()
    name = typed or choice
    if not name:
        raise TlwebError("Pick a model from the list or type a Hugging Face model id or a local folder.")
    if is_zero_shot(name, settings):
        raise TlwebError(f"'{name}' is a zero-shot model (CLIP or SigLIP): Explain shows where an image classifier "
                         "looks; pick a classifier.")
    known = {value for _, value in model_choices(CLASSIFICATION, settings)}
    chosen = {"custom": name} if typed or name not in known else {"model": name}
    return {**_explain_preset(p, image, **chosen), p["tabs"]: gr.Tabs(selected="explain")}


def _explain_preset(p: dict, image, **kw) -> dict:
    """Explain's :func:`~tlweb.ui.tabs.explain.preset`, keyed by the components the link declared."""
    from tlweb.ui.tabs.explain import preset

    handle = TabHandle(image=p["explain.image"], model=p["explain.model"], custom_model=p["explain.custom_model"],
                       inputs={"run": p["explain.inputs.run"]})
    return preset(handle, image, **kw)


@ports("classify.button", "classify.image", "classify.model", "classify.custom_model", "explain.button",
       *EXPLAIN_PRESET)
def classify_to_explain(parts: AppParts) -> None:
    """"Explain this image" under Classify's button: the Explain tab with the same image and model,
    selected, and its Explain button pressed."""
    p = parts.reach(classify_to_explain)
    if p is None:
        return
    p = {**p, "tabs": parts.tabs}
    with beside(p["classify.button"]):
        button = gr.Button("Explain this image →", elem_id="classify-explain-btn", scale=1, min_width=190)
    settings = parts.settings
    event = button.click(user_errors(lambda image, choice, custom: to_explain(image, choice, custom, settings, p)),
                         inputs=[p["classify.image"], p["classify.model"], p["classify.custom_model"]],
                         outputs=[*_preset_outputs(p), parts.tabs], api_name="classify_to_explain")
    _run_there(event, p["explain.button"], "classify_to_explain_run")


# --------------------------------------------------------------------------- Fine-tune's mistakes → Explain


def mistake_to_explain(index, run_id: str | None, settings, p: dict) -> dict:
    """Updates for Explain's preset ports and the tab strip (keyed by component): the ``index``-th confident
    mistake of the run ``run_id``, explained by that run's model, with the run preselected for before / after."""
    from tlweb.engine.runs import load_run

    if not run_id:
        raise TlwebError("Train a model first: the gallery shows the confident mistakes of the run just trained.")
    if index is None or str(index).strip() == "":
        raise TlwebError("Click one of the mistakes in the gallery first.")
    _, _, metrics = load_run(run_id, settings)
    mistakes = (metrics or {}).get("mistakes") or []
    i = int(float(index))
    if not 0 <= i < len(mistakes):
        raise TlwebError(f"The run has {len(mistakes)} mistakes in its gallery; there is no number {i}.")
    return {**_explain_preset(p, str(mistakes[i]["image"]), model=run_id, run=run_id),
            p["tabs"]: gr.Tabs(selected="explain")}


@ports("finetune.outputs.mistakes", "finetune.state", "explain.button", *EXPLAIN_PRESET)
def mistakes_to_explain(parts: AppParts) -> None:
    """Under the Fine-tune results' mistakes gallery: the picked mistake's number (clicking a picture
    sets it) and "Explain this mistake", which opens Explain with that picture and the run's model,
    the run preselected for before / after, and presses Explain."""
    p = parts.reach(mistakes_to_explain)
    if p is None:
        return
    p = {**p, "tabs": parts.tabs}
    mistakes = p["finetune.outputs.mistakes"]
    with beside(mistakes):
        with gr.Row(equal_height=True):
            index = gr.Number(value=None, precision=0, visible=False, elem_id="ft-mistake-index")  # 0 = the first
            shown = gr.Markdown("Click a mistake above, then explain it.", elem_id="ft-mistake-picked")
            button = gr.Button("Explain this mistake →", elem_id="ft-explain-mistake-btn", scale=0, min_width=200)

    def picked(evt: gr.SelectData):
        caption = (evt.value or {}).get("caption") if isinstance(evt.value, dict) else None
        return evt.index, f"Picked: **{caption or f'mistake {evt.index + 1}'}**"

    mistakes.select(picked, None, [index, shown], api_name="ft_pick_mistake", queue=False)
    settings = parts.settings
    event = button.click(user_errors(lambda i, sess: mistake_to_explain(i, getattr(sess, "last_run", None), settings,
                                                                        p)),
                         inputs=[index, p["finetune.state"]], outputs=[*_preset_outputs(p), parts.tabs],
                         api_name="ft_explain_mistake")
    _run_there(event, p["explain.button"], "ft_explain_mistake_run")


# --------------------------------------------------------------------------- Embeddings → Fine-tune


def to_finetune(name: str | None, settings, tabs, model, custom) -> dict:
    """Updates keyed by component for the tab strip ``tabs`` and Fine-tune's backbone dropdown ``model`` and
    free-text box ``custom``, for the backbone ``name``: a model of the dropdown's list is picked there, anything
    else (a Hub id, a folder, a feature-only backbone) goes into the free-text box (the dropdown stays)."""
    name = (name or "").strip()
    if not name:
        raise TlwebError("Rank the backbones first, then pick the one to fine-tune.")
    choices = model_choices(CLASSIFICATION, settings)
    if name in {value for _, value in choices}:
        return {tabs: gr.Tabs(selected="finetune"), model: gr.update(choices=choices, value=name), custom: ""}
    return {tabs: gr.Tabs(selected="finetune"), custom: name}


@ports("embeddings.outputs.finetune_model", "embeddings.buttons.finetune", "finetune.model", "finetune.custom_model",
       "finetune.inputs.steps")
def embeddings_to_finetune(parts: AppParts) -> None:
    """"Fine-tune this one" beside the leaderboard: shown once a leaderboard has ranked the backbones
    (with the best trade-off picked); a click opens the Fine-tune tab with that backbone, on its backbone step."""
    p = parts.reach(embeddings_to_finetune)
    if p is None:
        return
    pick, button = p["embeddings.outputs.finetune_model"], p["embeddings.buttons.finetune"]

    def ready(value):
        return gr.update(visible=bool(value)), gr.update(visible=bool(value))

    pick.change(ready, [pick], [pick, button], api_name="embeddings_finetune_ready", queue=False)
    settings = parts.settings
    model, custom, steps = p["finetune.model"], p["finetune.custom_model"], p["finetune.inputs.steps"]

    def open_finetune(name):
        return {**to_finetune(name, settings, parts.tabs, model, custom), steps: gr.Tabs(selected="ft-step-model")}

    button.click(user_errors(open_finetune), inputs=[pick], outputs=[parts.tabs, model, custom, steps],
                 api_name="embeddings_to_finetune")


# --------------------------------------------------------------------------- Fine-tune's runs → Classify


def run_in_classify(ref: str | None, settings) -> tuple:
    """(tab strip, Classify's dropdown, Classify's free-text box) that open a run's model in Classify;
    an experiment opens its best run. The run joins the list if the list does not show it yet."""
    from tlweb.engine.listing import resolve
    from tlweb.engine.runs import ExperimentInfo, entry_info
    from tlweb.ui.model_state import RUN_GROUP

    if not ref:
        raise TlwebError("Pick a run in the Runs step first, or train one.")
    info = entry_info(ref, settings)
    if isinstance(info, ExperimentInfo):
        info = info.best
        if info is None:
            raise TlwebError("This experiment has no finished run yet.")
    elif not info.has_model:
        raise TlwebError(f"The run '{info.run_id}' saved no model (it failed before the end), so there is nothing "
                         "to classify with.")
    ref = info.run_id
    if info.task in TASK_TABS:  # a segmenter or detector opens in its own tab (open_run_in_task_tab sets its list)
        return gr.Tabs(selected=TASK_TABS[info.task]), gr.skip(), gr.skip()
    from tlweb.ui.tabs.classify import classify_choices

    choices = classify_choices(settings)  # classifiers and zero-shot classifiers, as Classify lists them
    if ref not in {value for _, value in choices}:
        choices.append((f"{RUN_GROUP}{resolve(ref, settings=settings).label} · ✓", ref))
    return gr.Tabs(selected="classify"), gr.update(choices=choices, value=ref), ""


@ports("finetune.state", "finetune.buttons.open_in_classify", "finetune.buttons.run_open_in_classify",
       "finetune.outputs.run", "classify.model", "classify.custom_model", "segment.model", "detect.model")
def finetune_to_classify(parts: AppParts) -> None:
    """Fine-tune's "Use this model in Classify" (the run just trained) and the Runs step's "Open in its tab"
    (the picked run or experiment) select Classify with that model; the Runs step opens a segmenter or a
    detector in Segment or Detect instead (the endpoint's outputs stay as they were)."""
    p = parts.reach(finetune_to_classify)
    if p is None:
        return
    outputs = [parts.tabs, p["classify.model"], p["classify.custom_model"]]
    p["finetune.buttons.open_in_classify"].click(
        user_errors(lambda sess: run_in_classify(getattr(sess, "last_run", None), parts.settings)),
        inputs=[p["finetune.state"]], outputs=outputs, api_name="ft_open_in_classify")
    p["finetune.buttons.run_open_in_classify"].click(
        user_errors(lambda ref: run_in_classify(ref, parts.settings)), inputs=[p["finetune.outputs.run"]],
        outputs=outputs, api_name="ft_run_open_in_classify").success(
        lambda ref: open_run_in_task_tab(ref, parts.settings, {"segment": p["segment.model"],
                                                                "detect": p["detect.model"]}),
        inputs=[p["finetune.outputs.run"]], outputs=[p["segment.model"], p["detect.model"]], api_name=False)


def open_run_in_task_tab(ref: str | None, settings, models: dict) -> dict:
    """After the Runs step's open button: a segmenter's or detector's run (an experiment: its best run) picked in
    its tab's list (``models``: tab id → dropdown); nothing for a classifier (Classify's list was set already)."""
    from tlweb.engine.runs import ExperimentInfo, entry_info

    try:
        info = entry_info(ref, settings) if ref else None
    except TlwebError:
        return {}
    if isinstance(info, ExperimentInfo):
        info = info.best
    if info is None or info.task not in TASK_TABS:
        return {}
    return {models[TASK_TABS[info.task]]: _pick_in_task_tab(info.run_id, info.task, settings)}


# --------------------------------------------------------------------------- Fine-tune's segmenters / detectors → Segment, Detect

TASK_TABS = {"image-segmentation": "segment", "object-detection": "detect"}


def run_in_task_tab(run: dict | None, settings, tabs, models: dict) -> dict:
    """Updates keyed by component that open the segmenter or detector just fine-tuned in its tab: the tab strip
    ``tabs`` and that tab's dropdown (``models``: tab id → dropdown; the other tab's dropdown is left as it is);
    the run joins the list if the list does not show it yet."""
    if not run or run.get("task") not in TASK_TABS:
        raise TlwebError("Train a segmenter or a detector in step 3 first.")
    task = run["task"]
    return {tabs: gr.Tabs(selected=TASK_TABS[task]), models[TASK_TABS[task]]: _pick_in_task_tab(run["run_id"], task,
                                                                                                settings)}


def _pick_in_task_tab(ref: str, task: str, settings):
    """The Segment or Detect dropdown's update that picks the run ``ref`` (added to the list if it is not shown)."""
    from tlweb.engine.listing import resolve
    from tlweb.ui.model_state import RUN_GROUP

    if task == "object-detection":
        from tlweb.ui.tabs.detect import detector_choices

        choices = detector_choices(settings)  # what Detect lists: detectors and zero-shot detectors
    else:
        choices = model_choices(task, settings)
    if ref not in {value for _, value in choices}:
        choices.append((f"{RUN_GROUP}{resolve(ref, settings=settings).label} · ✓", ref))
    return gr.update(choices=choices, value=ref)


@ports("finetune.state", "finetune.buttons.open_in_task_tab", "segment.model", "detect.model")
def finetune_to_task_tabs(parts: AppParts) -> None:
    """Fine-tune's "Use this model in Segment / Detect" (the segmenter or detector just trained)."""
    p = parts.reach(finetune_to_task_tabs)
    if p is None:
        return
    models = {"segment": p["segment.model"], "detect": p["detect.model"]}
    p["finetune.buttons.open_in_task_tab"].click(
        user_errors(lambda sess: run_in_task_tab(getattr(sess, "task_run", None), parts.settings, parts.tabs,
                                                 models)),
        inputs=[p["finetune.state"]], outputs=[parts.tabs, *models.values()], api_name="ft_open_in_task_tab")


# --------------------------------------------------------------------------- Learn → every tab


def learn_steps(parts: AppParts) -> None:
    """The Learn tab's "Show me" buttons open and run the other tabs."""
    from tlweb.ui.tabs.learn import link

    link(parts)
