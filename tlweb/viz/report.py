"""One self-contained HTML report per result: a run folder, a strategy ladder, a data-efficiency
curve, a Compare result, a Segment or Detect result.

Each report is ONE ``.html`` file that opens with the network off: plotly.js is inlined once
(``plotly.offline.get_plotlyjs()``), pictures are embedded as data URLs, and it carries the
configuration, the metrics, a summary of the data, the model facts, the device, the library
versions and the date. The figures come from the same functions the tabs use
(:mod:`tlweb.viz.training`, :mod:`tlweb.viz.compare`, :mod:`tlweb.viz.segment`,
:mod:`tlweb.viz.detect`).

Two layers:

- ``*_report_html(...) -> str`` builds the document (pure: results in, HTML out);
- ``report_for_*(...) -> Path`` writes it into a fresh temporary folder (which Gradio may serve) and
  returns the path, so a tab's "Download report" button is one line
  (``btn.click(lambda st: report_for_compare(st), [state], [file])``). A run's or an experiment's
  report is named after it (``demo-vit-linear-14-02-report.html``), the others after what they show
  and when (``compare-20261206-140211.html``).

Paths in a report (:func:`shown_path`): never a server path in shared mode (only a folder's own
name), and locally relative to the home (``~/.cache/tlweb/runs/…``, or ``$TLWEB_HOME/…`` when the
tlweb home is elsewhere). The CLI's ``--json`` output keeps absolute paths: it is for scripts.

A new kind of result is one small function: start a :class:`Report`,
add figures / images / tables / facts, ``render()``.
"""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.runs import ExperimentInfo, entry_info, run_title
from tlweb.viz.report_base import report_name, write_report
from tlweb.viz.report_embeddings import leaderboard_report_html, projector_report_html
from tlweb.viz.report_inference import compare_report_html, detect_report_html, explain_report_html, segment_report_html
from tlweb.viz.report_training import (
    efficiency_report_html,
    experiment_report_html,
    ladder_report_html,
    run_folder,
    run_report_html,
)


def report_for_run(run, settings=None) -> Path:
    """Fine-tune run (folder, run id or RunResult) → a temporary ``<its title>-report.html``."""
    path = run_folder(run, settings)
    return write_report(run_report_html(path, settings), name=report_name(run_title(path)), stamp=False)


def report_for_ladder(runs, settings=None) -> Path:
    """Strategy ladder (RunResults, run ids or folders) → a temporary ``ladder-….html``."""
    return write_report(ladder_report_html(runs, settings), name="ladder")


def report_for_experiment(experiment, settings=None) -> Path:
    """A ladder or data-efficiency experiment (id, folder or ExperimentInfo) → a temporary
    ``<its title>-report.html`` (``demo-vit-ladder-14-02-report.html``)."""
    info = experiment if isinstance(experiment, ExperimentInfo) else entry_info(
        Path(experiment).name if isinstance(experiment, Path) else str(experiment), settings)
    name = report_name(info.title) if isinstance(info, ExperimentInfo) else "experiment"
    return write_report(experiment_report_html(info, settings), name=name, stamp=False)


def report_for_efficiency(rows, chance: float | None = None) -> Path:
    """Data-efficiency rows (``data_efficiency()``) → a temporary ``data-efficiency-….html``."""
    return write_report(efficiency_report_html(rows, chance), name="data-efficiency")


def report_for_compare(result, images=None, settings=None) -> Path:
    """Compare result (CompareResult or its dict) and, optionally, its images → ``compare-….html``."""
    return write_report(compare_report_html(result, images, settings), name="compare")


def report_for_segment(results, image, settings=None) -> Path:
    """One or two SegmentResults and their image → ``segment-….html``."""
    return write_report(segment_report_html(results, image, settings), name="segment")


def report_for_detect(result, image, threshold: float | None = None, settings=None) -> Path:
    """A DetectResult and its image (at ``threshold``) → ``detect-….html``."""
    return write_report(detect_report_html(result, image, threshold, settings), name="detect")


def report_for_explain(result, image, settings=None) -> Path:
    """An ExplainResult and its picture → ``explain-….html``."""
    return write_report(explain_report_html(result, image, settings), name="explain")


def report_for_leaderboard(result) -> Path:
    """A backbone leaderboard (LeaderboardResult or its dict) → ``leaderboard-….html``."""
    return write_report(leaderboard_report_html(result), name="leaderboard")


def report_for_projector(projections) -> Path:
    """The projector's Projections (one or two panels) → ``projector-….html``."""
    return write_report(projector_report_html(projections), name="projector")
