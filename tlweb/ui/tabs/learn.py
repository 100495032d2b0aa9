"""Learn tab: the story of transfer learning in six short steps, each with a "Show me" button
that opens the right tab preset with demo data and runs it — a ten-minute talk from the app alone.

A step is one :class:`Step` record; its ``preset(parts, settings)`` is a small function that
looks up the target tab's handle (:class:`tlweb.ui.components.TabHandle`) and returns a
:class:`Preset`: the values to put in that tab's inputs and the button to press. The wiring
(:func:`link`, run from ``tlweb.ui.app.LINKS`` once every tab is built) selects the tab, sets
the values and clicks the button in the page, so the tab runs exactly as if the presenter had
done it. A step whose tab is not in this build says so; a step whose tab has no handle for
presets (yet) opens the tab and says what to press.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import gradio as gr

from tlweb import registry
from tlweb.catalog import CLASSIFICATION, ZERO_SHOT_DETECTION
from tlweb.config import Settings, get_settings
from tlweb.ui.components import AppParts, TabHandle, example_copies, intro

INTRO = ("**Transfer learning in six steps.** Each step is a minute of talk and a *Show me* button: it opens the "
         "tab that shows the idea, with demo data, and runs it. Read the step aloud, press the button, point at the "
         "result, come back here for the next one.")


@dataclass
class Preset:
    """What a step does in its tab: ``values`` (component → value, or a function giving it at
    click time), then a click on ``run`` (None: only open the tab). ``note``: a sentence (or a function
    giving it at click time) added to the step's status, e.g. why the demo shows a generated picture."""

    values: dict = field(default_factory=dict)
    run: gr.Button | None = None
    note: str | Callable[[], str] = ""


@dataclass(frozen=True)
class Step:
    id: str
    title: str
    text: str  # two or three sentences (Markdown)
    tab: str  # id of the tab it opens
    preset: Callable[[AppParts, Settings], Preset | None]  # None: the tab has no handle to preset
    by_hand: str = ""  # what to press when the tab cannot be preset


# --------------------------------------------------------------------------- presets (one small function each)


def example(name: str) -> str:
    """An example photo as a file the page may show (a temp copy)."""
    return next((p for p in example_copies() if Path(p).name == name), example_copies()[0])


def ready_model(task: str, settings: Settings, prefer: tuple[str, ...] = ()) -> Callable[[], str | None]:
    """At click time: a model of ``task`` that runs now — a cached Hub model first, then a demo
    model that was really pretrained (``prefer``'d ones first), then any ready model (runs
    fine-tuned here come last)."""

    def pick() -> str | None:
        from tlweb.engine.availability import model_states
        from tlweb.engine.listing import list_models

        specs = list_models(task, settings)
        states = model_states(specs, settings)
        cached = [s.key for s, st in zip(specs, states) if st.kind == "cached"]
        pretrained = sorted((s.key for s in specs if s.source == "demo" and not s.random_weights),
                            key=lambda k: k not in prefer)
        ready = [s.key for s, st in zip(specs, states) if st.ready and s.source != "run"]
        runs = [s.key for s in specs if s.source == "run"]
        return (cached or pretrained or ready or runs or [s.key for s in specs] or [None])[0]

    return pick


SHAPE = "ring"  # the generated picture shown to a model pretrained on the demo's shapes
SHAPE_NOTE = ("Demo mode: this model learned six generated shapes, not photos, so it is shown a {shape} it has never "
              "seen — on a photo it could only answer with a shape name.")


def _knows_shapes(name: str | None, settings: Settings) -> bool:
    """True for a demo model pretrained on the generated shapes (demo-resnet-shapes, demo-vit-shapes)."""
    from tlweb.engine.demo_recipes.pretrained import PRETRAINED_ON
    from tlweb.engine.listing import resolve
    from tlweb.errors import TlwebError

    try:
        return bool(name) and resolve(name, settings=settings).pretrained_on == PRETRAINED_ON
    except TlwebError:
        return False


def shape_picture(kind: str = SHAPE) -> str:
    """A generated picture of one of the shapes the demo backbones learned (drawn once, beside the example copies)."""
    import numpy as np
    from PIL import Image

    from tlweb.engine.data import draw_shape

    path = Path(example_copies()[0]).parent / f"shape-{kind}.png"
    if not path.is_file():
        rng = np.random.default_rng(5)
        Image.fromarray(draw_shape(kind, rng, size=320, color=(240, 180, 40), background=(40, 60, 90))).save(path)
    return str(path)


def picture_for(pick: Callable[[], str | None], settings: Settings, photo: str = "cat.jpg"):
    """(image, note) functions for a step: the cat photo, or — when ``pick()`` gives a model pretrained on the
    demo's generated shapes — a generated shape it can name, and a sentence that says why."""

    def image() -> str:
        return shape_picture() if _knows_shapes(pick(), settings) else example(photo)

    def note() -> str:
        return SHAPE_NOTE.format(shape=SHAPE) if _knows_shapes(pick(), settings) else ""

    return image, note


def _handle(parts: AppParts, tab: str, *fields: str) -> TabHandle | None:
    h = parts.handles.get(tab)
    return h if isinstance(h, TabHandle) and all(getattr(h, f, None) is not None for f in fields) else None


def _photo_preset(parts: AppParts, tab: str, task: str, settings: Settings, **inputs) -> Preset | None:
    """The cat photo and a model of ``task`` that runs now in ``tab`` (and its other ``inputs`` by
    name), then its main button."""
    h = _handle(parts, tab, "image", "model", "button")
    if h is None:
        return None
    pick = ready_model(task, settings)
    image, note = picture_for(pick, settings)
    values = {h.image: image, h.model: pick}
    if h.custom_model is not None:
        values[h.custom_model] = ""
    values.update({h.inputs[name]: value for name, value in inputs.items() if name in h.inputs})
    return Preset(values, h.button, note)


def pretrained_preset(parts: AppParts, settings: Settings) -> Preset | None:
    return _photo_preset(parts, "classify", CLASSIFICATION, settings)


FINETUNE_PORTS = ("button", "model", "custom_model", "inputs.steps", "inputs.source", "inputs.strategy",
                  "inputs.ladder_strategies", "inputs.eff_strategies", "inputs.eff_shots", "buttons.ladder",
                  "buttons.efficiency")  # what the Fine-tune steps' presets read of its handle


def _finetune(parts: AppParts) -> dict | None:
    """The Fine-tune tab's :data:`FINETUNE_PORTS` when it has them all, its step sub-tabs among them (else None:
    open the tab only)."""
    ft = parts.handles.get("finetune")
    if not isinstance(ft, TabHandle):
        return None
    found = {name: ft.port(name) for name in FINETUNE_PORTS}
    return found if all(v is not None for v in found.values()) else None


def _finetune_values(ft: dict, settings: Settings, step: str) -> dict:
    """The built-in sample, a backbone that was really pretrained, and the step's sub-tab."""
    # (a function: a gr.Tabs made while the page is built would be a new, empty tab strip on it)
    return {ft["inputs.steps"]: lambda: gr.Tabs(selected=f"ft-step-{step}"), ft["inputs.source"]: "sample",
            ft["model"]: ready_model(CLASSIFICATION, settings), ft["custom_model"]: ""}


def features_preset(parts: AppParts, settings: Settings) -> Preset | None:
    ft = _finetune(parts)
    if ft is None:
        return None
    return Preset({**_finetune_values(ft, settings, "train"), ft["inputs.strategy"]: "linear"}, ft["button"])


def scratch_preset(parts: AppParts, settings: Settings) -> Preset | None:
    ft = _finetune(parts)
    if ft is None:
        return None
    values = {**_finetune_values(ft, settings, "compare"), ft["inputs.ladder_strategies"]: ["linear", "full", "scratch"]}
    return Preset(values, ft["buttons.ladder"])


def data_preset(parts: AppParts, settings: Settings) -> Preset | None:
    ft = _finetune(parts)
    if ft is None:
        return None
    values = {**_finetune_values(ft, settings, "compare"), ft["inputs.eff_strategies"]: ["linear", "scratch"],
              ft["inputs.eff_shots"]: ["1", "2", "5", "10"]}
    return Preset(values, ft["buttons.efficiency"])


def zero_shot_preset(parts: AppParts, settings: Settings) -> Preset | None:
    return _photo_preset(parts, "detect", ZERO_SHOT_DETECTION, settings, queries="cat, remote control, sofa")


def inside_preset(parts: AppParts, settings: Settings) -> Preset | None:
    """Explain: where a model that really learned something (demo-vit-shapes in demo mode, else a
    cached Hub model) looks on the cat photo, by attention rollout."""
    h = _handle(parts, "explain", "image", "button")
    if h is None:
        return None
    pick = ready_model(CLASSIFICATION, settings, prefer=("demo-vit-shapes",))
    image, note = picture_for(pick, settings)
    values = {h.image: image}
    if h.model is not None:
        values[h.model] = pick
    if h.custom_model is not None:
        values[h.custom_model] = ""
    if "method" in h.inputs:
        values[h.inputs["method"]] = "rollout"
    return Preset(values, h.button, note)


STEPS: tuple[Step, ...] = (
    Step("pretrained", "1 · Pretrained models",
         "A network trained on millions of labelled photos already knows edges, textures, parts and objects. Used "
         "as downloaded, it names what it sees — no training on your data.", "classify", pretrained_preset),
    Step("features", "2 · Feature extraction",
         "Freeze that network and keep its last layer's output as a description of each image. A linear classifier "
         "on those features (a *linear probe*) learns your classes in seconds.", "finetune", features_preset,
         by_hand="In Fine-tune: press Load data (the built-in sample), pick the strategy “linear”, press Start."),
    Step("scratch", "3 · Fine-tuning vs from scratch",
         "Fine-tune a little (the head), more (the last blocks, LoRA) or everything — or train the same network "
         "from random weights. The strategy ladder puts them side by side on the same data.", "finetune",
         scratch_preset, by_hand="In Fine-tune: press Load data, then “Run the strategy ladder”."),
    Step("data", "4 · How much data?",
         "Pretrained features shine when data is scarce: with a handful of images per class they beat training from "
         "scratch by far; the gap closes as data grows.", "finetune", data_preset,
         by_hand="In Fine-tune: press Load data, then “Draw the data-efficiency curve”."),
    Step("zero-shot", "5 · Zero-shot",
         "Models trained on images *and* text match regions to words, so they find things they were never given "
         "a class for: type what to look for.", "detect", zero_shot_preset),
    Step("inside", "6 · Looking inside",
         "Attention maps and Grad-CAM show which pixels a prediction rests on — a check that the model looks at the "
         "object and not at the background.", "explain", inside_preset),
)


# --------------------------------------------------------------------------- tab and wiring


def build(settings: Settings | None = None) -> TabHandle:
    settings = settings or get_settings()
    intro(INTRO)
    buttons: dict[str, gr.Button] = {}
    for row in (STEPS[:3], STEPS[3:]):
        with gr.Row(equal_height=True):
            for step in row:
                with gr.Column(elem_classes=["tl-step"], elem_id=f"learn-step-{step.id}"):
                    gr.Markdown(f"### {step.title}\n\n{step.text}")
                    buttons[step.id] = gr.Button("Show me ▶", variant="primary", size="sm",
                                                 elem_id=f"learn-show-{step.id}")
    status = gr.Markdown(elem_id="learn-status")
    return TabHandle(button=buttons[STEPS[0].id], outputs={"status": status}, buttons=buttons)  # a button per step


def _resolve(values: dict) -> list:
    return [v() if callable(v) else v for v in values.values()]


def _click_js(button: gr.Button | None) -> str | None:
    if button is None or not button.elem_id:
        return None
    # after the tab's inputs have their new values, press its button as the presenter would
    return ("() => { setTimeout(() => { const b = document.getElementById(" + json.dumps(button.elem_id)
            + "); if (b) b.click(); }, 400); }")


def _wire_step(parts: AppParts, step: Step, button: gr.Button, status: gr.Markdown) -> None:
    known = {t.id: t.title for t in registry.tabs()}
    api = f"learn_{step.id.replace('-', '_')}"
    if step.tab not in known or step.tab not in parts.handles:
        note = (f"Step “{step.title.split('· ')[-1]}” shows the {step.tab.title()} tab, which this version of tlweb "
                "does not have yet.")
        button.click(lambda: note, outputs=[status], api_name=api, queue=False)
        return
    preset = step.preset(parts, parts.settings)
    if preset is None:  # the tab is there but cannot be preset: open it and say what to press
        note = f"Opened **{known[step.tab]}**. {step.by_hand}".strip()

        def open_tab():
            gr.Info(step.by_hand, duration=12)  # the note in the Learn tab is out of sight now
            return gr.Tabs(selected=step.tab), note

        button.click(open_tab, outputs=[parts.tabs, status], api_name=api, queue=False)
        return
    targets = list(preset.values)
    opened = f"Opened **{known[step.tab]}** and ran it with demo data."

    def apply():
        extra = preset.note() if callable(preset.note) else preset.note
        return (gr.Tabs(selected=step.tab), f"{opened} {extra}".strip(), *_resolve(preset.values))

    event = button.click(apply, outputs=[parts.tabs, status, *targets], api_name=api, queue=False)
    js = _click_js(preset.run)
    if js:
        event.then(None, js=js, api_name=f"{api}_run", queue=False)


def link(parts: AppParts) -> None:
    """Wire every step's "Show me" to its tab (run by ``tlweb.ui.app.LINKS``)."""
    handle = parts.handles.get("learn")
    if not isinstance(handle, TabHandle) or "status" not in handle.outputs:
        return
    for step in STEPS:
        _wire_step(parts, step, handle.buttons[step.id], handle.outputs["status"])


if __name__ == "__main__":
    from tlweb.ui.serving import launch_single

    launch_single("learn", build)
