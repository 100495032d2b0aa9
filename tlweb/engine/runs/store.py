"""Where runs and experiments live and who may see them: ids and folders (:func:`new_run_dir`,
:func:`find_run`, :func:`entry_path` …), experiments begun and ended, Stop asked, the lists read from
disk (:func:`list_runs`, :func:`list_entries`, :func:`load_run` …) and deletions. Every look-up goes through
:mod:`tlweb.engine.owners` (shared mode: a client sees and changes only its own runs)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import time
import unicodedata
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine import owners, runlock
from tlweb.engine.runlock import alive
from tlweb.engine.runs.files import EXPERIMENT_FILE, last_event_kind, read_events, read_json, write_json
from tlweb.engine.runs.present import EXPERIMENT_KINDS, STATUSES, ExperimentInfo, RunInfo, describe, short_model
from tlweb.engine.stop import Stop, now_iso
from tlweb.errors import DataError, TlwebError, clip

_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


def _slug(text: str, limit: int = 40) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return text[:limit].strip("-")


RUN_ROOM = 64 * 1024 * 1024  # disk a new run must find under the home budget (events, metrics, a small model)


def new_run_dir(settings: Settings | None = None, name: str | None = None,
                parent: Path | None = None) -> tuple[str, Path]:
    """Create ``runs_dir/<run_id>/`` (id: time stamp, a slug of ``name``, 4 random hex digits), or
    the same inside ``parent`` (an experiment folder). Refused with a sentence when the home budget
    (``TLWEB_HOME_BUDGET_MB``) has no :data:`RUN_ROOM` left even after cleaning the caches."""
    from tlweb.engine import budget

    settings = settings or get_settings()
    budget.make_room(RUN_ROOM, settings, what="A new run")
    root = Path(parent) if parent is not None else settings.runs_dir
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = _slug(name or "")
    for _ in range(20):
        run_id = "-".join(p for p in (stamp, slug, secrets.token_hex(2)) if p)
        path = root / run_id
        try:
            path.mkdir()
        except FileExistsError:
            continue
        if parent is None:
            owners.claim(path)  # the browser session that made it (shared mode: only it sees the run)
        return run_id, path
    raise TlwebError("Could not create a new run folder (too many runs started in the same second).")


def _check_id(ref: str, what: str = "run") -> str:
    ref = str(ref or "").strip()
    if not _RUN_ID.match(ref) or ".." in ref:
        raise DataError(f"'{clip(ref)}' is not a {what} id.")
    return ref


def is_experiment(path: Path) -> bool:
    return (Path(path) / EXPERIMENT_FILE).is_file()


def _experiment_dirs(root: Path, settings: Settings | None = None) -> list[Path]:
    """Experiment folders under ``root`` the current client may see (shared mode: its own)."""
    settings = settings or get_settings()
    try:
        return [d for d in root.iterdir() if d.is_dir() and not d.name.startswith(".") and is_experiment(d)
                and owners.visible(d, settings)]
    except OSError:
        return []


def find_run(run_id: str, settings: Settings | None = None) -> Path | None:
    """The folder of run ``run_id`` (single, or inside an experiment), or None."""
    settings = settings or get_settings()
    root = settings.runs_dir
    try:
        run_id = _check_id(run_id)
        direct = root / run_id
        if direct.is_dir() and not is_experiment(direct):
            return direct if owners.visible(direct, settings) else None  # another session's: as if absent
        for exp in _experiment_dirs(root, settings):
            if (exp / run_id).is_dir():
                return exp / run_id
    except (DataError, OSError):  # not an id, or a name too long for the file system
        pass
    return None


def run_path(run_id: str, settings: Settings | None = None) -> Path:
    path = find_run(_check_id(run_id), settings)
    if path is None:
        raise DataError(f"There is no run '{clip(run_id)}' (it may have been deleted).")
    return path


def experiment_path(experiment_id: str, settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    path = settings.runs_dir / _check_id(experiment_id, "experiment")
    if not is_experiment(path) or not owners.visible(path, settings):
        raise DataError(f"There is no experiment '{clip(experiment_id)}' (it may have been deleted).")
    return path


def entry_path(ref: str, settings: Settings | None = None) -> Path:
    """The folder of a run or an experiment, by its id."""
    ref = _check_id(ref, "run or experiment")
    settings = settings or get_settings()
    path = settings.runs_dir / ref
    if path.is_dir() and is_experiment(path) and owners.visible(path, settings):
        return path
    found = find_run(ref, settings)
    if found is None:
        raise DataError(f"There is no run or experiment '{clip(ref)}' (it may have been deleted).")
    return found


def new_experiment(kind: str, base_model: str, strategies, settings: Settings | None = None,
                   data: dict | None = None, shots=(), **extra) -> Path:
    """Create an experiment folder (``kind``: "ladder" or "data-efficiency") with its experiment.json."""
    if kind not in EXPERIMENT_KINDS:
        raise DataError(f"Unknown experiment kind '{kind}'.")
    exp_id, path = new_run_dir(settings, f"{kind} {short_model(base_model)}")
    runlock.hold(path)  # "running" while this process holds it (released by finish_experiment, or at exit)
    write_json(path / EXPERIMENT_FILE, {
        "experiment_id": exp_id, "kind": kind, "base_model": str(base_model), "strategies": list(strategies),
        "shots": [int(s) for s in shots], "data": data or {}, "created": now_iso(), "status": "running",
        "pid": os.getpid(), **extra})
    return path


def finish_experiment(exp_dir: Path, status: str) -> None:
    """Record how an experiment ended ("done", "stopped" or "failed")."""
    try:
        if status == "failed" and not any(d.is_dir() for d in Path(exp_dir).iterdir()):
            shutil.rmtree(exp_dir, ignore_errors=True)  # failed before its first run: nothing to keep
            return
        update_experiment(exp_dir, status=status if status in STATUSES else "failed", finished=now_iso())
    finally:
        runlock.release(exp_dir)


def update_experiment(exp_dir: Path, **changes) -> None:
    """Set fields of an experiment's experiment.json (e.g. ``zero_shot``: a curve's zero-shot baseline)."""
    path = Path(exp_dir) / EXPERIMENT_FILE
    write_json(path, {**(read_json(path) or {}), **changes})


def request_stop(ref, settings: Settings | None = None) -> Path:
    """Ask a run or an experiment to stop, from any process: writes the STOP file the training loop
    checks between steps. ``ref`` is a run / experiment id or its folder; returns the folder."""
    path = Path(ref) if isinstance(ref, Path) or os.sep in str(ref) else owners.writable_or_refuse(
        entry_path(str(ref), settings), settings)
    if not path.is_dir():
        raise DataError(f"There is no run folder '{path.name}'.")
    if not ((path / "config.json").is_file() or is_experiment(path)):
        raise DataError(f"'{path.name}' is not a run or experiment folder (it has no config.json).")
    Stop(path).request()
    return path


def stop_requested(folder: Path) -> bool:
    return Stop(folder).requested()


def _info(run_dir: Path, experiment_id: str = "") -> RunInfo | None:
    cfg = read_json(run_dir / "config.json")
    if not isinstance(cfg, dict):
        return None
    metrics = read_json(run_dir / "metrics.json")
    metrics = metrics if isinstance(metrics, dict) else None
    if metrics is not None:
        status = metrics.get("status") or ("stopped" if metrics.get("stopped") else "done")
    else:
        kind = last_event_kind(run_dir)
        if kind == "error":
            status = "failed"
        elif kind in ("done", "stopped"):  # finished but metrics.json missing: treat as failed to save
            status = "failed"
        else:
            status = "running" if alive(run_dir, cfg) else "failed"
    if status not in STATUSES:
        status = "failed"
    return RunInfo(
        run_id=run_dir.name,
        run_dir=run_dir,
        model_dir=run_dir / "model",
        base_model=str(cfg.get("base_model", "")),
        strategy=str(cfg.get("strategy", "")),
        created=str(cfg.get("created", "")),
        status=status,
        test_accuracy=_num(metrics.get("test_accuracy", metrics.get("accuracy"))) if metrics else None,
        test_macro_f1=_num(metrics.get("test_macro_f1", metrics.get("macro_f1"))) if metrics else None,
        class_names=[str(c) for c in cfg.get("class_names", [])],
        name=str(cfg.get("name") or ""),
        experiment_id=experiment_id,
        per_class=_int((cfg.get("train_config") or {}).get("per_class")),
        seed=_int((cfg.get("train_config") or {}).get("seed")),
        task=str(cfg.get("task") or (metrics or {}).get("task") or ""),
        metric=str(cfg.get("metric") or (metrics or {}).get("metric") or ""),
        test_metric=_num(metrics.get("test_metric")) if metrics else None,
    )


def _int(v):
    try:
        return None if v is None else int(v)
    except (TypeError, ValueError):
        return None


def _num(v):
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def _runs_in(folder: Path, experiment_id: str = "", settings: Settings | None = None) -> list[RunInfo]:
    infos = []
    settings = settings or get_settings()
    try:
        children = [d for d in folder.iterdir() if d.is_dir() and not d.name.startswith(".")
                    and (experiment_id or owners.visible(d, settings))]
    except OSError:
        return infos
    for d in children:
        if not experiment_id and is_experiment(d):
            continue
        info = _info(d, experiment_id)
        if info is not None:
            infos.append(info)
    return infos


def _newest_first(items: list) -> list:
    return sorted(items, key=lambda i: (i.created, getattr(i, "run_id", "") or getattr(i, "experiment_id", "")),
                  reverse=True)


def _experiment_info(exp_dir: Path) -> ExperimentInfo | None:
    cfg = read_json(exp_dir / EXPERIMENT_FILE)
    if not isinstance(cfg, dict):
        return None
    runs = sorted(_runs_in(exp_dir, exp_dir.name), key=lambda r: (r.created, r.run_id))
    status = str(cfg.get("status") or "failed")
    if status == "running" and not alive(exp_dir, cfg):
        status = "failed"  # the process that ran it is gone (the cleaner writes it down)
    return ExperimentInfo(
        experiment_id=exp_dir.name, exp_dir=exp_dir, kind=str(cfg.get("kind", "")),
        base_model=str(cfg.get("base_model", "")), strategies=[str(s) for s in cfg.get("strategies") or []],
        created=str(cfg.get("created", "")), status=status if status in STATUSES else "failed", runs=runs,
        shots=[int(s) for s in cfg.get("shots") or [] if _int(s) is not None], data=cfg.get("data") or {},
        zero_shot=cfg.get("zero_shot") if isinstance(cfg.get("zero_shot"), dict) else {})


def list_experiments(settings: Settings | None = None) -> list[ExperimentInfo]:
    """Every experiment folder, newest first, each with its runs (read from disk each call)."""
    root = (settings or get_settings()).runs_dir
    return _newest_first([e for e in map(_experiment_info, _experiment_dirs(root, settings)) if e is not None])


def list_runs(settings: Settings | None = None) -> list[RunInfo]:
    """Every run — single, or inside an experiment — newest first (read from disk each call)."""
    root = (settings or get_settings()).runs_dir
    if not root.is_dir():
        return []
    infos = _runs_in(root, settings=settings)
    for exp in _experiment_dirs(root, settings):
        infos.extend(_runs_in(exp, exp.name))
    return _newest_first(infos)


def list_entries(settings: Settings | None = None) -> list[RunInfo | ExperimentInfo]:
    """What a runs list shows: experiments (each holding its runs) and single runs, newest first."""
    root = (settings or get_settings()).runs_dir
    if not root.is_dir():
        return []
    return _newest_first(_runs_in(root, settings=settings) + list_experiments(settings))


def run_models(settings: Settings | None = None) -> list[tuple[str, Path, str]]:
    """(run id, model folder, title) of every run with a saved model, newest model first (the
    Classify tab's list). A folder with only ``model/`` (no config.json) is listed by its id."""
    settings = settings or get_settings()
    root = settings.runs_dir
    if not root.is_dir():
        return []
    found = [p for p in root.glob("*/model/config.json") if owners.visible(p.parent.parent, settings)]
    for exp in _experiment_dirs(root, settings):
        found.extend(exp.glob("*/model/config.json"))
    return [(cfg.parent.parent.name, cfg.parent, run_title(cfg.parent.parent))
            for cfg in sorted(found, key=lambda p: p.stat().st_mtime, reverse=True)]


def run_title(run_dir: Path) -> str:
    """The run's short readable title (its id when it has no readable config.json)."""
    info = _info(Path(run_dir))
    return info.title if info is not None else Path(run_dir).name


def load_run(run_id: str, settings: Settings | None = None) -> tuple[RunInfo, list[dict], dict]:
    """(info, events, metrics) of one run; metrics is {} while it runs or when it failed."""
    path = run_path(run_id, settings)
    info = _info(path, path.parent.name if is_experiment(path.parent) else "")
    if info is None:
        raise DataError(f"The run '{clip(run_id)}' has no readable config.json.")
    metrics = read_json(path / "metrics.json")
    return info, read_events(path), metrics if isinstance(metrics, dict) else {}


def run_config(run_id: str, settings: Settings | None = None) -> dict:
    return read_json(run_path(run_id, settings) / "config.json") or {}


def delete_run(run_id: str, settings: Settings | None = None) -> None:
    shutil.rmtree(owners.writable_or_refuse(run_path(run_id, settings), settings))


def entry_info(ref: str, settings: Settings | None = None) -> RunInfo | ExperimentInfo:
    """The run or experiment ``ref`` names (its id)."""
    path = entry_path(ref, settings)
    info = _experiment_info(path) if is_experiment(path) else _info(path, path.parent.name
                                                                     if is_experiment(path.parent) else "")
    if info is None:
        raise DataError(f"'{path.name}' has no readable config (experiment.json / config.json).")
    return info


def delete_entry(ref: str, settings: Settings | None = None, force: bool = False) -> str:
    """Delete a run or an experiment (with its runs) by id; returns what was deleted, in words.
    A run still training (or an experiment still running) is refused unless ``force``."""
    try:
        info = entry_info(ref, settings)
    except DataError:
        if not force:
            raise
        info = None  # an unreadable folder: force deletes it anyway
    path = info.exp_dir if isinstance(info, ExperimentInfo) else info.run_dir if info else entry_path(ref, settings)
    owners.writable_or_refuse(path, settings)
    running = info is not None and (info.status == "running" or (
        isinstance(info, ExperimentInfo) and any(r.status == "running" for r in info.runs)))
    if running and not force:
        raise DataError(f"'{path.name}' is still running: stop it first.")
    shutil.rmtree(path)
    return describe(info) if info is not None else path.name
