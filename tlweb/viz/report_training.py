"""Reports of fine-tuning: one run folder, a strategy ladder, a data-efficiency curve (see :mod:`tlweb.viz.report`)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from tlweb.engine.metrics import percent
from tlweb.engine.runs import short_model
from tlweb.viz.report_base import Report, accuracy_sentence, shown_path, shown_paths, wilson
from tlweb.viz.training import as_dict


def _read_json(path: Path) -> dict:
    try:
        out = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return out if isinstance(out, dict) else {}


def run_folder(run, settings=None) -> Path:
    """A run folder from a path, a run id, a RunResult / RunInfo, or their dicts."""
    from tlweb.engine.runs import run_path
    from tlweb.errors import DataError

    if isinstance(run, (str, Path)) and Path(run).expanduser().is_dir():
        path = Path(run).expanduser()
    elif isinstance(run, Path) or (isinstance(run, str) and ("/" in run or "\\" in run or run.startswith("."))):
        raise DataError(f"The run folder '{run}' does not exist.")
    else:
        d = as_dict(run) if not isinstance(run, (str, Path)) else {"run_id": str(run)}
        path = Path(d["run_dir"]) if d.get("run_dir") else run_path(str(d.get("run_id", "")), settings)
    if not (path / "config.json").is_file():
        raise DataError(f"'{path}' is not a run folder (it has no config.json).")
    return path


def load_run_folder(path: Path) -> tuple[dict, dict, list[dict]]:
    from tlweb.engine.runs.files import read_events

    return _read_json(path / "config.json"), _read_json(path / "metrics.json"), read_events(path)


def _mistake_items(path: Path, metrics: dict) -> list[tuple[Path, str]]:
    from tlweb.viz.training import mistake_captions

    out = []
    for image, caption in mistake_captions(metrics.get("mistakes") or []):
        p = Path(image)
        if not p.is_file():  # the run folder moved: look beside it
            p = path / "mistakes" / p.name
        if p.is_file():
            out.append((p, caption))
    return out


def _run_sections(rep: Report, path: Path, cfg: dict, metrics: dict, events: list[dict], settings=None) -> None:
    from tlweb.viz.training import (
        confusion_heatmap,
        metrics_html,
        per_class_bars,
        training_curves,
    )

    data = cfg.get("data") or {}
    if (metrics.get("task") or cfg.get("task")) in ("image-segmentation", "object-detection"):
        from tlweb.viz.task_results import report_sections

        report_sections(rep, path, cfg, metrics, events)
        _data_section(rep, data, settings)
        return
    if metrics:
        rep.section("Result")
        rep.raw(metrics_html({**metrics, "run_id": cfg.get("run_id")}))
        rep.text(accuracy_sentence(metrics.get("test_accuracy"), metrics.get("test_images")))
    else:
        rep.section("Result").raw("<p class='warn'>This run has no final metrics (it is still running, was "
                                  "interrupted or failed); what it logged so far is shown.</p>")
    rep.section("Training curves", "Loss per step and per epoch, validation accuracy per epoch.")
    rep.figure(training_curves(events))
    if metrics.get("confusion_matrix"):
        rep.section("Evaluation on the test set",
                    f"{metrics.get('test_images', '?')} test images the model never trained on.")
        rep.figure(confusion_heatmap(metrics["confusion_matrix"], metrics.get("class_names") or cfg.get("class_names")))
        per_class = metrics.get("per_class") or {}
        rep.figure(per_class_bars(per_class))
        rep.table(["class", "precision", "recall", "F1", "test images"],
                  [[c, percent(v.get("precision"), sep=""), percent(v.get("recall"), sep=""), percent(v.get("f1"), sep=""), v.get("support")]
                   for c, v in per_class.items()], numeric=(1, 2, 3, 4))
    _data_section(rep, data, settings)
    mistakes = _mistake_items(path, metrics)
    if mistakes:
        rep.section("Most confident mistakes", "Test images the model got wrong with the highest confidence.")
        rep.images(mistakes)


def _data_section(rep: Report, data: dict, settings=None) -> None:
    from tlweb.viz.training import class_counts_bar

    if data.get("counts"):
        rep.section("Data")
        rep.figure(class_counts_bar(data["counts"]))
        rep.facts([("source", shown_paths(data.get("source"), settings)), ("test split", data.get("test_from")),
                   ("training images", data.get("train_images")), ("validation images", data.get("val_images")),
                   ("test images", data.get("test_images")), ("epoch kept by", data.get("selection")),
                   ("images skipped (unreadable)", data.get("skipped_total")), ("fingerprint", data.get("fingerprint"))])


def run_report_html(run, settings=None) -> str:
    """The report of one fine-tune run folder (path, run id, or RunResult)."""
    path = run_folder(run, settings)
    cfg, metrics, events = load_run_folder(path)
    strategy = cfg.get("strategy", "")
    rep = Report(f"Fine-tune run · {cfg.get('name') or path.name}",
                 f"{strategy} · base model {short_model(cfg.get('base_model', '?'))} · run {cfg.get('run_id', path.name)}", kind="run")
    _run_sections(rep, path, cfg, metrics, events, settings)
    rep.section("Model")
    weights = cfg.get("base_model_path")
    rep.facts([("base model", shown_paths(cfg.get("base_model"), settings)),
               ("weights from", shown_path(weights, settings) if weights else None),
               ("family", cfg.get("family")), ("strategy", strategy), ("classes", ", ".join(cfg.get("class_names") or [])),
               ("created", cfg.get("created")), ("status", metrics.get("status") or "no final metrics")])
    rep.section("Configuration")
    if cfg.get("hyperparameters"):
        rep.json(shown_paths(cfg["hyperparameters"], settings), "Hyper-parameters (resolved)")
    rep.json(shown_paths(cfg.get("train_config") or {}, settings), "Training configuration (as given)")
    rep.environment(cfg.get("device"), cfg.get("precision"))
    return rep.render()


def _ladder_rows(paths: list[Path]) -> tuple[list[dict], list[dict], list[str]]:
    rows, events, classes = [], [], []
    for path in paths:
        cfg, metrics, evs = load_run_folder(path)
        classes = classes or list(cfg.get("class_names") or [])
        rows.append({"strategy": cfg.get("strategy"), "run_id": cfg.get("run_id", path.name),
                     "base_model": cfg.get("base_model"), "test_accuracy": metrics.get("test_accuracy"),
                     "test_macro_f1": metrics.get("test_macro_f1"), "wall_s": metrics.get("wall_s"),
                     "train_images": metrics.get("train_images"), "test_images": metrics.get("test_images"),
                     "stopped": metrics.get("stopped"), "device": cfg.get("device"), "precision": cfg.get("precision")})
        events.extend(evs)
    return rows, events, classes


def ladder_report_html(runs: Iterable, settings=None, title: str = "Strategy ladder") -> str:
    """Several runs on the same data side by side (the strategy ladder)."""
    from tlweb.viz.training import ladder_chart, training_curves

    paths = [run_folder(r, settings) for r in runs]
    rows, events, classes = _ladder_rows(paths)
    chance = 1 / len(classes) if classes else None
    rep = Report(title, f"{len(rows)} runs · base model {short_model(rows[0]['base_model']) if rows else '?'}", kind="ladder")
    rep.section("Scores", "Same data, same budget; the dashed line is guessing (1 / classes).")
    rep.figure(ladder_chart(rows, chance=chance))
    rep.table(["strategy", "run", "test accuracy", "95% interval", "macro-F1", "wall time (s)", "train images"],
              [[r["strategy"], r["run_id"], percent(r["test_accuracy"], sep=""), _interval(r), percent(r["test_macro_f1"], sep=""),
                r["wall_s"], r["train_images"]] for r in rows], numeric=(2, 4, 5, 6))
    rep.section("Training curves", "Every run's loss and validation accuracy, one colour per strategy.")
    rep.figure(training_curves(events))
    rep.environment(rows[0]["device"] if rows else None, rows[0]["precision"] if rows else None)
    return rep.render()


def _interval(row: dict) -> str:
    try:
        n = int(row.get("test_images") or 0)
        lo, hi = wilson(round(float(row["test_accuracy"]) * n), n)
    except (TypeError, ValueError, KeyError):
        return "–"
    return f"{lo * 100:.0f}–{hi * 100:.0f}%" if n else "–"


def efficiency_report_html(rows: Iterable, chance: float | None = None,
                           title: str = "Data efficiency: accuracy vs images per class", zero_shot=None) -> str:
    """The data-efficiency curve (``data_efficiency()`` rows; ``zero_shot``, or a zero-shot row among
    them: the CLIP/SigLIP baseline, a dashed line and the table's first row)."""
    from tlweb.viz.training import ZERO_SHOT_KIND, efficiency_curves, zero_shot_label, zero_shot_sentence

    rows = [as_dict(r) for r in rows]
    zs = as_dict(zero_shot) or next((r for r in rows if r.get("kind") == ZERO_SHOT_KIND), {})
    rows = [r for r in rows if r.get("kind") != ZERO_SHOT_KIND]
    rep = Report(title, f"{len(rows)} runs · strategies {', '.join(dict.fromkeys(str(r.get('strategy')) for r in rows))}",
                 kind="efficiency")
    rep.section("Accuracy vs training images per class", "Same test split for every point"
                + (f"; the dashed {zero_shot_sentence(rows, zs)}." if zs else "."))
    rep.figure(efficiency_curves(rows, chance=chance, zero_shot=zs or None))
    first = [[zero_shot_label(zs), 0, 0, percent(zs.get("test_accuracy"), sep=""), percent(zs.get("test_macro_f1"), sep=""),
              "class names only"]] if zs else []
    rep.table(["strategy", "images per class", "train images", "test accuracy", "macro-F1", "run"],
              first + [[r.get("strategy"), r.get("per_class"), r.get("train_images"), percent(r.get("test_accuracy"), sep=""),
                        percent(r.get("test_macro_f1"), sep=""), r.get("run_id")] for r in rows], numeric=(1, 2, 3, 4))
    rep.environment()
    return rep.render()


def experiment_report_html(experiment, settings=None) -> str:
    """A ladder or a data-efficiency experiment (its id, folder or ExperimentInfo), read from its folder."""
    from tlweb.engine.runs import ExperimentInfo, entry_info
    from tlweb.engine.runs.present import experiment_rows
    from tlweb.errors import DataError

    info = experiment if isinstance(experiment, ExperimentInfo) else entry_info(
        Path(experiment).name if isinstance(experiment, Path) else str(experiment), settings)
    if not isinstance(info, ExperimentInfo):
        raise DataError(f"'{info.run_id}' is a single run, not a ladder or a data-efficiency curve.")
    if not info.runs:
        raise DataError(f"The experiment '{info.title}' has no finished run to report yet.")
    if info.kind == "data-efficiency":
        n = len(info.data.get("class_names") or [])
        return efficiency_report_html(experiment_rows(info), 1.0 / n if n >= 2 else None,
                                      title=f"Data efficiency · {info.title}", zero_shot=info.zero_shot or None)
    return ladder_report_html([r.run_dir for r in info.runs], settings, title=f"Strategy ladder · {info.title}")
