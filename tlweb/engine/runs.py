"""Run and experiment folders: everything a fine-tune produced, on disk, so it survives restarts.

``settings.runs_dir/``::

    <run_id>/                 a single run
        config.json           TrainConfig + base model + strategy + class names + resolved hyper-parameters
        events.jsonl          one TrainEvent dict per line, appended and flushed as they happen
        metrics.json          written at the end (accuracy, macro-F1, per-class, confusion matrix …)
        model/                save_pretrained of the model with its new head + the processor
        mistakes/             PNGs of the most confident mistakes
        STOP                  present once someone asked the run to stop (any process may write it)
    <experiment_id>/          a strategy ladder or a data-efficiency curve
        experiment.json       kind, base model, strategies, shots, data summary, created, status, pid
        STOP                  stops the experiment's current run and the ones not started yet
        <run_id>/ …           its runs, each laid out as above

Run ids are unique across the whole folder, so a run is found by its id wherever it lives.
Lists are read from these folders every time (no database, nothing in memory), so they are the
same after an app restart, a browser reload, or a run made by another process.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import threading
import time
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.engine import owners, runlock
from tlweb.engine.runlock import alive
from tlweb.engine.stop import STOP_FILE, Stop, now_iso  # noqa: F401 - STOP_FILE: the file name, for readers of run folders
from tlweb.errors import DataError, TlwebError, clip

STATUSES = ("running", "done", "stopped", "failed")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
EXPERIMENT_FILE = "experiment.json"
EXPERIMENT_KINDS = {"ladder": "ladder", "data-efficiency": "data efficiency"}  # kind → its word in titles


def plain(obj, names, transform=None) -> dict:
    """``{name: getattr(obj, name)}`` for ``names``, each value passed through ``transform(name, value)``
    (the ``as_dict()`` of the result records)."""
    out = {}
    for name in names:
        value = getattr(obj, name)
        out[name] = transform(name, value) if transform else value
    return out


def _str_path(name, value):
    return str(value) if isinstance(value, Path) else (list(value) if isinstance(value, list) else value)


@dataclass
class RunInfo:
    run_id: str
    run_dir: Path
    model_dir: Path
    base_model: str
    strategy: str
    created: str  # ISO time
    status: str  # "running" | "done" | "stopped" | "failed"
    test_accuracy: float | None
    test_macro_f1: float | None
    class_names: list[str] = field(default_factory=list)
    name: str = ""
    experiment_id: str = ""  # the experiment folder holding the run ("" for a single run)
    per_class: int | None = None  # training images per class asked for (data-efficiency points)
    seed: int | None = None  # the run's seed (a ladder or curve repeats each run with several)

    @property
    def has_model(self) -> bool:
        return (self.model_dir / "config.json").exists()

    @property
    def part(self) -> str:
        """What tells the run apart inside its experiment: "linear", "linear · 5/class"."""
        return self.strategy + (f" · {self.per_class}/class" if self.per_class else "")

    @property
    def title(self) -> str:
        """A short readable name: base model · strategy · time, e.g. "demo-vit · linear · 14:02"."""
        return " · ".join((short_model(self.base_model) or "?", self.part or "?", when(self.created)))

    def as_dict(self) -> dict:
        d = plain(self, RUN_FIELDS, _str_path)
        d["title"] = self.title
        return d


RUN_FIELDS = ("run_id", "run_dir", "model_dir", "base_model", "strategy", "created", "status", "test_accuracy",
              "test_macro_f1", "class_names", "name", "experiment_id", "per_class", "seed")


@dataclass
class ExperimentInfo:
    """A ladder or a data-efficiency curve: one folder holding its runs."""

    experiment_id: str
    exp_dir: Path
    kind: str  # "ladder" | "data-efficiency"
    base_model: str
    strategies: list[str]
    created: str
    status: str
    runs: list[RunInfo] = field(default_factory=list)  # oldest first (the order they ran)
    shots: list[int] = field(default_factory=list)
    data: dict = field(default_factory=dict)
    zero_shot: dict = field(default_factory=dict)  # a curve's zero-shot baseline (model, test_accuracy …), if any

    @property
    def title(self) -> str:
        return " · ".join((short_model(self.base_model) or "?", EXPERIMENT_KINDS.get(self.kind, self.kind),
                           when(self.created)))

    @property
    def best(self) -> RunInfo | None:
        scored = [r for r in self.runs if r.test_accuracy is not None]
        return max(scored, key=lambda r: r.test_accuracy) if scored else None

    def as_dict(self) -> dict:
        d = plain(self, ("experiment_id", "exp_dir", "kind", "base_model", "strategies", "created", "status",
                         "shots", "data", "zero_shot"), _str_path)
        d["title"] = self.title
        d["runs"] = [r.as_dict() for r in self.runs]
        return d


def short_model(name: str) -> str:
    """A model name for lists: a local folder's own name, a key or Hub id as it is."""
    name = str(name or "")
    if "/" in name and (name.startswith("/") or name.count("/") > 1):
        return name.rstrip("/").rsplit("/", 1)[-1]
    return name


def when(created: str, now: datetime | None = None) -> str:
    """"14:02" today, "Mar 04 14:02" earlier this year, "2025-03-04 14:02" before."""
    try:
        t = datetime.fromisoformat(str(created))
    except ValueError:
        return str(created or "")[:16]
    now = now or datetime.now(t.tzinfo)
    if t.date() == now.date():
        return t.strftime("%H:%M")
    return t.strftime("%b %d %H:%M" if t.year == now.year else "%Y-%m-%d %H:%M")


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
    _write_json(path / EXPERIMENT_FILE, {
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
    _write_json(path, {**(_read_json(path) or {}), **changes})


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


class RunWriter:
    """Writes a run folder as the run goes; thread-safe appends to events.jsonl."""

    def __init__(self, run_id: str, run_dir: Path):
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self._lock = threading.Lock()
        runlock.hold(self.run_dir)  # the run is "running" exactly while this process holds it
        self._events = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")

    def write_config(self, config: dict) -> None:
        _write_json(self.run_dir / "config.json", config)

    def update_config(self, **changes) -> None:
        path = self.run_dir / "config.json"
        cfg = _read_json(path) or {}
        cfg.update(changes)
        _write_json(path, cfg)

    def event(self, event: dict) -> None:
        line = json.dumps(event, ensure_ascii=False, default=_json_default)
        with self._lock:
            if self._events.closed:
                return
            self._events.write(line + "\n")
            self._events.flush()

    def write_metrics(self, metrics: dict) -> None:
        _write_json(self.run_dir / "metrics.json", metrics)

    def close(self) -> None:
        with self._lock:
            if not self._events.closed:
                self._events.close()
        runlock.release(self.run_dir)


def _json_default(o):
    if isinstance(o, Path):
        return str(o)
    try:
        import numpy as np

        if isinstance(o, np.generic):
            return o.item()
        if isinstance(o, np.ndarray):
            return o.tolist()
    except ImportError:  # pragma: no cover
        pass
    return str(o)


def _write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=_json_default), encoding="utf-8")
    tmp.replace(path)


def _read_json(path: Path):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def read_events(run_dir: Path) -> list[dict]:
    out = []
    try:
        with open(Path(run_dir) / "events.jsonl", encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if not line:
                    continue
                try:
                    out.append(json.loads(line))
                except ValueError:  # a line cut short by a crash
                    continue
    except OSError:
        pass
    return out


def read_events_since(run_dir: Path, offset: int = 0) -> tuple[list[dict], int]:
    """Events appended to ``events.jsonl`` since byte ``offset`` (whole lines only) and the offset to
    pass next time: how a process follows a run that another process trains."""
    try:
        with open(Path(run_dir) / "events.jsonl", "rb") as f:
            f.seek(offset)
            chunk = f.read()
    except OSError:
        return [], offset
    end = chunk.rfind(b"\n") + 1  # a line still being written waits for the next call
    out = []
    for line in chunk[:end].decode("utf-8", "replace").splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out, offset + end


def _last_event_kind(run_dir: Path) -> str | None:
    path = run_dir / "events.jsonl"
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - 8192))
            tail = f.read().decode("utf-8", "replace").strip().splitlines()
    except OSError:
        return None
    for line in reversed(tail):
        try:
            return json.loads(line).get("kind")
        except ValueError:
            continue
    return None


def _info(run_dir: Path, experiment_id: str = "") -> RunInfo | None:
    cfg = _read_json(run_dir / "config.json")
    if not isinstance(cfg, dict):
        return None
    metrics = _read_json(run_dir / "metrics.json")
    metrics = metrics if isinstance(metrics, dict) else None
    if metrics is not None:
        status = metrics.get("status") or ("stopped" if metrics.get("stopped") else "done")
    else:
        kind = _last_event_kind(run_dir)
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
    cfg = _read_json(exp_dir / EXPERIMENT_FILE)
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
    metrics = _read_json(path / "metrics.json")
    return info, read_events(path), metrics if isinstance(metrics, dict) else {}


def experiment_rows(info: ExperimentInfo) -> list[dict]:
    """One result dict per run of an experiment, in the order they ran (strategy, per_class,
    train_images, test_accuracy, test_macro_f1, wall_s, stopped, run_id): what the ladder chart and
    the data-efficiency curve draw, read back from the runs' metrics.json."""
    rows = []
    for r in info.runs:
        m = _read_json(r.run_dir / "metrics.json")
        m = m if isinstance(m, dict) else {}
        rows.append({"run_id": r.run_id, "strategy": r.strategy, "per_class": r.per_class, "seed": r.seed,
                     "status": r.status, "train_images": m.get("train_images"), "val_images": m.get("val_images"),
                     "test_images": m.get("test_images"),
                     "test_accuracy": r.test_accuracy, "test_macro_f1": r.test_macro_f1,
                     "wall_s": m.get("wall_s"), "stopped": bool(m.get("stopped"))})
    return rows


def run_config(run_id: str, settings: Settings | None = None) -> dict:
    return _read_json(run_path(run_id, settings) / "config.json") or {}


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


def describe(info: RunInfo | ExperimentInfo) -> str:
    """"run demo-vit · linear · 14:02" / "experiment demo-vit · ladder · 14:02 (6 runs)"."""
    if isinstance(info, ExperimentInfo):
        return f"experiment {info.title} ({len(info.runs)} run{'s' if len(info.runs) != 1 else ''})"
    return f"run {info.title}"


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


def export_zip(run_id: str, settings: Settings | None = None) -> Path:
    """A zip of the run's model folder (model + processor), ready for ``from_pretrained`` once unzipped."""
    path = run_path(run_id, settings)
    model_dir = path / "model"
    if not (model_dir / "config.json").exists():
        raise DataError(f"The run '{clip(run_id)}' has no saved model (it failed or is still running).")
    out = path / f"{run_id}-model.zip"
    newest = max(p.stat().st_mtime for p in model_dir.rglob("*") if p.is_file())
    if out.exists() and out.stat().st_mtime >= newest:
        return out
    tmp = out.with_name(out.name + f".tmp{os.getpid()}")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in sorted(model_dir.rglob("*")):
            if p.is_file():
                zf.write(p, arcname=f"{run_id}/{p.relative_to(model_dir).as_posix()}")
    tmp.replace(out)
    return out
