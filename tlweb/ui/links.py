"""Links between tabs, run by ``tlweb.ui.app.LINKS`` once every tab is built (each gets
``AppParts``: the tab strip and every tab's handle). A link whose tabs are missing does nothing."""

from __future__ import annotations

from typing import TYPE_CHECKING

import gradio as gr

from tlweb.catalog import CLASSIFICATION
from tlweb.errors import TlwebError

if TYPE_CHECKING:
    from tlweb.ui.app import AppParts


def learn_steps(parts: AppParts) -> None:
    """The Learn tab's "Show me" buttons open and run the other tabs."""
    from tlweb.ui.tabs.learn import link

    link(parts)


def run_in_classify(ref: str | None, settings) -> tuple:
    """(tab strip, Classify's dropdown, Classify's free-text box) that open a run's model in Classify;
    an experiment opens its best run. The run joins the list if the list does not show it yet."""
    from tlweb.catalog import resolve
    from tlweb.engine.runs import ExperimentInfo, entry_info
    from tlweb.ui.components import model_choices
    from tlweb.ui.model_state import RUN_GROUP

    if not ref:
        raise TlwebError("Train a model first, or pick a run in the Runs step.")
    info = entry_info(ref, settings)
    if isinstance(info, ExperimentInfo):
        best = info.best
        if best is None:
            raise TlwebError("This experiment has no finished run yet.")
        ref = best.run_id
    choices = model_choices(CLASSIFICATION, settings)
    if ref not in {value for _, value in choices}:
        choices.append((f"{RUN_GROUP}{resolve(ref, settings=settings).label} · ✓", ref))
    return gr.Tabs(selected="classify"), gr.update(choices=choices, value=ref), ""


def finetune_to_classify(parts: AppParts) -> None:
    """Fine-tune's "Use this model in Classify" (the run just trained) and the Runs step's
    "Open in Classify" (the picked run or experiment) select Classify with that model."""
    from tlweb.ui.components import user_errors

    ft, classify = parts.handles.get("finetune"), parts.handles.get("classify")
    if ft is None or classify is None or getattr(classify, "model", None) is None:
        return
    outputs = [parts.tabs, classify.model, classify.custom_model]
    results, runs = getattr(ft, "results", None), getattr(ft, "runs", None)
    if results is not None and getattr(results, "open_btn", None) is not None:
        results.open_btn.click(user_errors(lambda sess: run_in_classify(getattr(sess, "last_run", None),
                                                                          parts.settings)),
                               inputs=[ft.session], outputs=outputs, api_name="ft_open_in_classify")
    if runs is not None and getattr(runs, "open_btn", None) is not None:
        runs.open_btn.click(user_errors(lambda ref: run_in_classify(ref, parts.settings)), inputs=[runs.run_pick],
                            outputs=outputs, api_name="ft_run_open_in_classify")
