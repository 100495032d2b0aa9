"""Fine-tune tab: bring a few images per class and see what a pretrained backbone buys you.

Steps, one sub-tab each (one builder each in :mod:`.sections`), so a presenter shows one at a
time and each step's main button is in view: 1 data (sample, zip, per-class uploads, Hub dataset)
→ 2 backbone + strategy → 3 train with live curves → 4 results (metrics, confusion matrix,
confident mistakes) → 5 compare strategies (the strategy ladder and the data-efficiency curve, each
one experiment folder, each run repeated with several seeds) → 6 runs (survive restarts; filter,
open in Classify, download, push to the Hub, delete).
Handlers (:mod:`.handlers`) are thin: widget values → engine → ``tlweb.viz.training``.
:func:`build` returns a :class:`~tlweb.ui.components.TabHandle` whose ``parts`` are the sections (:class:`FinetuneTab`).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import gradio as gr

from tlweb.catalog import CLASSIFICATION
from tlweb.config import Settings, get_settings
from tlweb.ui import model_state
from tlweb.ui.components import TabHandle, intro, model_choices, refresh_choices, wire_report
from tlweb.ui.queue import TRAIN_CONCURRENCY  # fine-tunes, ladders and curves share one queue: one job per GPU
from tlweb.ui.tabs.finetune.handlers import Handlers
from tlweb.ui.tabs.finetune.helpers import (  # noqa: F401 - the tab's helpers, tested through this module
    FtSession,
    Progress,
    Worker,
    class_uploads,
    data_key,
    data_notes,
    job_story,
    parse_auto,
    prepare_data,
    status_html,
)
from tlweb.ui.tabs.finetune.sections import (
    CompareSection,
    DataSection,
    ModelSection,
    ResultsSection,
    RunsSection,
    TrainSection,
    compare_section,
    data_section,
    model_section,
    results_section,
    runs_section,
    train_section,
)
from tlweb.ui.tabs.finetune.tasks import (
    DETECTION,
    SEGMENTATION,
    TaskDataSection,
    TaskModelSection,
    TaskResultsSection,
    strategy_explanation,
    task_data_section,
    task_model_section,
    task_picker,
    task_results_section,
)

TITLE = "Fine-tune"
INTRO = (
    "**What you see:** a model pretrained on millions of images, given a new head for *your* labels, masks or "
    "boxes and trained on a handful of examples. The curves and above all the *strategy ladder* and "
    "*data-efficiency curve* show what the pretrained weights buy you compared with training from scratch."
)


def train_slots() -> int:
    """How many training jobs run at once across the app (every other visitor waits in line, with their
    position): one per GPU (``TLWEB_TRAIN_SLOTS`` overrides; a CPU or a ZeroGPU Space: 1)."""
    import os

    forced = os.environ.get("TLWEB_TRAIN_SLOTS", "").strip()
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    if os.environ.get("SPACES_ZERO_GPU", "").strip().lower() in ("1", "t", "true"):
        return 1  # ZeroGPU lends one GPU slice per call; one training job per Space at a time
    try:
        import torch

        return max(1, torch.cuda.device_count())
    except Exception:  # noqa: BLE001 - no torch or no driver: the CPU, one job
        return 1
STEPS = {"data": "1 · Data", "model": "2 · Backbone", "train": "3 · Train", "results": "4 · Results",
         "compare": "5 · Compare strategies", "runs": "6 · Runs"}  # step id (sub-tab "ft-step-<id>") → title


@dataclass
class FinetuneTab:
    """The tab's own components, by section (``TabHandle.parts`` of what :func:`build` returns: the tab's
    wiring, handlers and tests; other tabs reach it through the handle's fields, :func:`handle`)."""

    session: gr.State
    data: DataSection
    backbone: ModelSection
    train: TrainSection
    results: ResultsSection
    compare: CompareSection
    runs: RunsSection
    steps: gr.Tabs | None = None  # the step sub-tabs (ids in STEPS)
    task: gr.Radio | None = None  # step 1's task switch: classification, segmentation, detection
    tasks: TaskSections | None = None  # the segmentation / detection sections (:mod:`.tasks`)


def handle(tab: FinetuneTab) -> TabHandle[FinetuneTab]:
    """What other tabs may reach (no single image input): the Start button, the backbone, the session, the main
    outputs, the inputs the Learn tab presets (the step sub-tabs among them) and the buttons links wire."""
    d, m, c, r, runs = tab.data, tab.backbone, tab.compare, tab.results, tab.runs
    buttons = {"ladder": c.ladder_btn, "efficiency": c.eff_btn, "open_in_classify": r.open_btn,
               "run_open_in_classify": runs.open_btn}
    if tab.tasks is not None:
        buttons["open_in_task_tab"] = tab.tasks.results.open_btn
    inputs = {"source": d.source, "strategy": m.strategy, "ladder_strategies": c.ladder_strategies,
              "eff_strategies": c.eff_strategies, "eff_shots": c.eff_shots}
    inputs.update({k: v for k, v in (("steps", tab.steps), ("task", tab.task)) if v is not None})
    return TabHandle(button=tab.train.start_btn, model=m.model, custom_model=m.custom, state=tab.session, parts=tab,
                     outputs={"status": tab.train.status, "curves": tab.train.curves, "metrics": r.metrics,
                              "mistakes": r.mistakes, "ladder": c.ladder_plot, "efficiency": c.eff_plot,
                              "runs": runs.table, "run": runs.run_pick},
                     inputs=inputs, buttons=buttons)


def _with_signature(fn, names: list[str]):
    """A ``*args`` handler with named parameters, so the API (gradio_client) shows real names."""

    def handler(*args):
        return fn(*args)

    handler.__name__ = getattr(fn, "__name__", "handler")
    handler.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD, default=None) for n in names])
    return handler


def _wire_inputs(tab: FinetuneTab, h: Handlers, load) -> None:
    d, m = tab.data, tab.backbone
    from tlweb.engine.train.strategies import get_strategy

    d.source.change(h.on_source, [d.source], [d.zip_box, d.hub_box, d.classes_box], api_name="ft_source_view",
                    queue=False)
    d.add_class.click(h.add_slot, [d.shown], [d.shown, *d.slot_rows, d.add_class], api_name="ft_add_class",
                      queue=False)
    d.capture_btn.click(h.add_capture, [d.capture, d.capture_to, *d.slot_files], d.slot_files,
                        api_name="ft_add_capture")
    m.strategy.change(lambda s: get_strategy(s).explanation if s else "", [m.strategy], [m.strategy_info],
                      api_name="ft_strategy_info", queue=False)
    d.load_btn.click(load, [*d.inputs, tab.session], [d.counts_plot, d.notes], api_name="load_data")
    m.model.focus(lambda: refresh_choices(CLASSIFICATION, h.settings), outputs=[m.model], api_name="ft_models",
                  queue=False)  # runs fine-tuned since the page loaded appear in the list
    model_state.wire([m.model], m.custom, CLASSIFICATION, h.settings, "ft", m.state_html, m.download,
                     [(m.model, lambda: model_choices(CLASSIFICATION, h.settings))])
    if tab.steps is not None:
        m.next_btn.click(lambda: gr.Tabs(selected="ft-step-train"), outputs=[tab.steps], api_name="ft_next_train",
                         queue=False)


def _wire_training(tab: FinetuneTab, h: Handlers, load) -> None:
    d, m, t, r, c, runs = tab.data, tab.backbone, tab.train, tab.results, tab.compare, tab.runs
    slots = train_slots()
    load_inputs, load_outputs = [*d.inputs, tab.session], [d.counts_plot, d.notes]
    settings_in = [m.epochs, m.batch_size, m.lr]
    train_outputs = [t.status, t.curves, r.metrics, r.hint, r.confusion, r.per_class_plot, r.mistakes, runs.table,
                     runs.run_pick]
    t.start_btn.click(load, load_inputs, load_outputs, api_name="prepare_data").success(
        h.train, [m.model, m.custom, m.strategy, *settings_in, m.per_class, tab.session], train_outputs,
        api_name="finetune", concurrency_limit=slots, concurrency_id=TRAIN_CONCURRENCY)
    t.stop_btn.click(h.stop, [tab.session], [t.status], api_name="stop", concurrency_limit=None, queue=False)
    c.ladder_btn.click(load, load_inputs, load_outputs, api_name="prepare_data_ladder").success(
        h.ladder, [m.model, m.custom, c.ladder_strategies, *settings_in, m.per_class, c.seeds, tab.session],
        [c.status, c.ladder_plot, c.curves], api_name="ladder", concurrency_limit=slots,
        concurrency_id=TRAIN_CONCURRENCY).then(h.refresh_runs, [runs.query], [runs.table, runs.run_pick], queue=False)
    c.eff_btn.click(load, load_inputs, load_outputs, api_name="prepare_data_efficiency").success(
        h.efficiency, [m.model, m.custom, c.eff_strategies, c.eff_shots, *settings_in, c.seeds, c.zero_shot,
                       c.templates, tab.session],
        [c.status, c.eff_plot, c.curves], api_name="data_efficiency", concurrency_limit=slots,
        concurrency_id=TRAIN_CONCURRENCY).then(h.refresh_runs, [runs.query], [runs.table, runs.run_pick], queue=False)


def _wire_runs(tab: FinetuneTab, h: Handlers) -> None:
    runs = tab.runs

    def picked(ref):
        """Another run or experiment picked: the files offered for the last one go (its model zip, its report), and
        the last note ("Deleted …") too, unless the pick was emptied by that very delete."""
        hide = gr.update(value=None, visible=False)
        return {runs.export_file: hide, runs.report[1]: hide, **({runs.note: ""} if ref else {})}

    runs.refresh_btn.click(h.refresh_runs, [runs.query], [runs.table, runs.run_pick], api_name="runs")
    gr.on(None, h.refresh_runs, [runs.query], [runs.table, runs.run_pick], api_name="runs_on_load")  # page load
    gr.on([runs.query.submit, runs.query.change], h.filter_runs, [runs.query, runs.run_pick],
          [runs.table, runs.run_pick], api_name="runs_filter", trigger_mode="always_last", show_progress="hidden")
    runs.table.select(h.pick_row, None, [runs.run_pick], api_name="ft_pick_run", queue=False)
    runs.run_pick.change(h.details, [runs.run_pick], [runs.curves, runs.details], api_name="run_details")
    runs.run_pick.input(h.expand, [runs.run_pick, runs.query], [runs.table], api_name="runs_expand",
                        show_progress="hidden")  # a picked experiment shows its runs in the table
    runs.export_btn.click(h.export, [runs.run_pick], [runs.export_file], api_name="export")
    runs.push_btn.click(h.push, [runs.run_pick, runs.repo_id, runs.token, runs.private], [runs.push_result],
                        api_name="push_to_hub")
    runs.delete_btn.click(h.delete_ask, [runs.run_pick], [runs.confirm_box, runs.confirm_text],
                          api_name="delete_ask")
    runs.confirm_no.click(lambda: gr.update(visible=False), None, [runs.confirm_box], api_name="delete_cancel",
                          queue=False)
    runs.confirm_yes.click(h.delete, [runs.run_pick], [runs.confirm_box, runs.table, runs.run_pick, runs.details],
                           api_name="delete_run").success(  # (said once, under the buttons)
        lambda said: (said, ""), [runs.details], [runs.note, runs.details], api_name="delete_said",
        api_visibility="private", queue=False)
    # another pick: what was offered for the last one (its model zip, its report, "Deleted …") goes
    runs.run_pick.change(picked, [runs.run_pick], [runs.export_file, runs.report[1], runs.note], api_name="run_picked",
                         api_visibility="private", queue=False, show_progress="hidden")


def _wire_reports(tab: FinetuneTab, h: Handlers) -> None:
    """"Download report" of the picked run or experiment, and of this page's last ladder and curve."""
    wire_report(*tab.runs.report, h.report, [tab.runs.run_pick], "run_report")
    wire_report(*tab.compare.ladder_report, h.experiment_report("ladder", "run the strategy ladder"), [tab.session],
                "ladder_report")
    wire_report(*tab.compare.eff_report, h.experiment_report("data-efficiency", "draw the data-efficiency curve"),
                [tab.session], "efficiency_report")


@dataclass
class TaskSections:
    """The segmentation / detection sections and the classification columns they replace."""

    data: TaskDataSection
    model: TaskModelSection
    results: TaskResultsSection
    cls_columns: list  # classification's data, backbone, results and compare columns (hidden for other tasks)
    compare_note: gr.HTML  # step 5's sentence for the other tasks


COMPARE_NOTE = (
    "<div class='ft-hint'>The strategy ladder and the data-efficiency curve are drawn on this page for "
    "classification only. For segmentation and detection, train each strategy in step <b>3 · Train</b> (pick it "
    "in step 2) and compare their runs in step <b>6 · Runs</b>.</div>")


def _wire_tasks(tab: FinetuneTab, h: Handlers) -> None:
    """The task switch and the segmentation / detection path (their own endpoints; classification's unchanged)."""
    from tlweb.ui.tabs.finetune.task_handlers import TaskHandlers

    th, ts, t, runs = TaskHandlers(h), tab.tasks, tab.train, tab.runs
    d, m, r = ts.data, ts.model, ts.results
    views = [*(("cls", c) for c in ts.cls_columns), ("tasked", d.box), ("tasked", m.box), ("tasked", r.box),
             ("compare_note", ts.compare_note), ("data_title", d.title), ("model_title", m.title),
             ("results_title", r.title), ("zip", d.zip_file), ("hub", d.hub_id), ("mask_column", d.mask_column),
             ("preview", d.preview), ("counts", d.counts_plot), ("notes", d.notes), ("model", m.model),
             ("strategy", m.strategy), ("strategy_info", m.strategy_info), ("epochs", m.epochs), ("open", r.open_btn),
             # one Start button a task: a visitor's click queues one training event, not one a task
             ("cls", t.start_btn), ("tasked", t.task_start_btn)]
    tab.task.change(_with_signature(lambda task, sess: th.switch(task, sess, views), ["task", "session"]),
                    [tab.task, tab.session], [c for _, c in views], api_name="ft_task")
    d.source.change(th.on_source, [d.source], [d.zip_box, d.hub_box], api_name="ft_task_source_view", queue=False)
    d.load_btn.click(th.load, [tab.task, *d.inputs, tab.session], [d.counts_plot, d.notes, d.preview],
                     api_name="ft_task_data")
    m.strategy.change(strategy_explanation, [m.strategy], [m.strategy_info], api_name="ft_task_strategy_info",
                      queue=False)
    m.model.focus(lambda task: refresh_choices(task, h.settings) if task in (SEGMENTATION, DETECTION) else gr.skip(),
                  [tab.task], [m.model], api_name="ft_task_models", queue=False)
    if tab.steps is not None:
        m.next_btn.click(lambda: gr.Tabs(selected="ft-step-train"), outputs=[tab.steps], api_name="ft_task_next_train",
                         queue=False)
    t.task_start_btn.click(th.train, [tab.task, *d.inputs, m.model, m.strategy, m.epochs, m.batch_size, m.lr, m.per_class,
                              tab.session],
                      [t.status, t.curves, r.metrics, r.hint, r.per_class_plot, r.worst, r.before, r.after, r.ba_note,
                       runs.table, runs.run_pick], api_name="finetune_task", concurrency_limit=train_slots(),
                      concurrency_id=TRAIN_CONCURRENCY)
    r.ba_next.click(th.next_before_after, [tab.session], [r.before, r.after, r.ba_note], api_name="ft_before_after")


_SECTIONS = {"data": lambda s: data_section(), "model": model_section, "train": lambda s: train_section(),
             "results": lambda s: results_section(), "compare": compare_section,
             "runs": lambda s: runs_section()}
_TASK_SECTIONS = {"data": lambda s: task_data_section(), "model": task_model_section,
                  "results": lambda s: task_results_section()}


def build(settings: Settings | None = None) -> TabHandle[FinetuneTab]:
    settings = settings or get_settings()
    intro(INTRO)
    session = gr.State(FtSession())
    task = None
    with gr.Tabs(elem_id="ft-steps") as steps:
        built, columns, tasked = {}, [], {}
        for step_id, title in STEPS.items():
            with gr.Tab(title, id=f"ft-step-{step_id}", elem_id=f"ft-step-{step_id}"):
                if step_id == "data":
                    task = task_picker()
                if step_id == "compare":
                    tasked["note"] = gr.HTML(COMPARE_NOTE, visible=False, elem_id="ft-compare-task-note")
                if step_id in ("data", "model", "results", "compare"):  # hidden for segmentation and detection
                    with gr.Column() as column:
                        built[step_id] = _SECTIONS[step_id](settings)
                    columns.append(column)
                else:
                    built[step_id] = _SECTIONS[step_id](settings)
                if step_id in _TASK_SECTIONS:
                    tasked[step_id] = _TASK_SECTIONS[step_id](settings)
    tab = FinetuneTab(session, built["data"], built["model"], built["train"], built["results"], built["compare"],
                      built["runs"], steps, task=task,
                      tasks=TaskSections(tasked["data"], tasked["model"], tasked["results"], columns, tasked["note"]))
    handlers = Handlers(settings, tab)
    load = _with_signature(handlers.load, DataSection.input_names() + ["session"])
    _wire_inputs(tab, handlers, load)
    _wire_training(tab, handlers, load)
    _wire_runs(tab, handlers)
    _wire_reports(tab, handlers)
    _wire_tasks(tab, handlers)
    return handle(tab)
