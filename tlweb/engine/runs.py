"""Run folders: everything a fine-tune produced, on disk, so it survives restarts.

``settings.runs_dir/<run_id>/``::

    config.json     TrainConfig + base model + strategy + class names + resolved hyper-parameters
    events.jsonl    one TrainEvent dict per line, appended and flushed as they happen
    metrics.json    written at the end (accuracy, macro-F1, per-class, confusion matrix …)
    model/          save_pretrained of the model with its new head + the processor
    mistakes/       PNGs of the most confident mistakes

The runs list is read from these folders every time (no database, nothing in memory), so it
is the same after an app restart or a browser reload.
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
from datetime import datetime, timezone
from pathlib import Path

from tlweb.config import Settings, get_settings
from tlweb.errors import DataError, ModelError, TlwebError, first_line

STATUSES = ("running", "done", "stopped", "failed")
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")


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

    @property
    def has_model(self) -> bool:
        return (self.model_dir / "config.json").exists()

    def as_dict(self) -> dict:
        return {
            "run_id": self.run_id,
            "run_dir": str(self.run_dir),
            "model_dir": str(self.model_dir),
            "base_model": self.base_model,
            "strategy": self.strategy,
            "created": self.created,
            "status": self.status,
            "test_accuracy": self.test_accuracy,
            "test_macro_f1": self.test_macro_f1,
            "class_names": list(self.class_names),
            "name": self.name,
        }


def _slug(text: str, limit: int = 40) -> str:
    text = unicodedata.normalize("NFKD", str(text)).encode("ascii", "ignore").decode()
    text = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return text[:limit].strip("-")


def now_iso() -> str:
    return datetime.now(timezone.utc).astimezone().isoformat(timespec="seconds")


def new_run_dir(settings: Settings | None = None, name: str | None = None) -> tuple[str, Path]:
    """Create ``runs_dir/<run_id>/`` (id: time stamp, a slug of ``name``, 4 random hex digits)."""
    settings = settings or get_settings()
    root = settings.runs_dir
    root.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    slug = _slug(name or "")
    for _ in range(20):
        run_id = "-".join(p for p in (stamp, slug, secrets.token_hex(2)) if p)
        path = root / run_id
        try:
            path.mkdir()
            return run_id, path
        except FileExistsError:
            continue
    raise TlwebError("Could not create a new run folder (too many runs started in the same second).")


def run_path(run_id: str, settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    run_id = str(run_id or "").strip()
    if not _RUN_ID.match(run_id) or ".." in run_id:
        raise DataError(f"'{run_id}' is not a run id.")
    path = settings.runs_dir / run_id
    if not path.is_dir():
        raise DataError(f"There is no run '{run_id}' (it may have been deleted).")
    return path


class RunWriter:
    """Writes a run folder as the run goes; thread-safe appends to events.jsonl."""

    def __init__(self, run_id: str, run_dir: Path):
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self._lock = threading.Lock()
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


def _pid_alive(pid) -> bool:
    try:
        pid = int(pid)
    except (TypeError, ValueError):
        return False
    if pid <= 0:
        return False
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


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


def _info(run_dir: Path) -> RunInfo | None:
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
            status = "running" if _pid_alive(cfg.get("pid")) else "failed"
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
    )


def _num(v):
    try:
        return None if v is None else float(v)
    except (TypeError, ValueError):
        return None


def list_runs(settings: Settings | None = None) -> list[RunInfo]:
    """Every run folder, newest first (read from disk each call)."""
    settings = settings or get_settings()
    root = settings.runs_dir
    if not root.is_dir():
        return []
    infos = []
    for d in root.iterdir():
        if not d.is_dir() or d.name.startswith("."):
            continue
        info = _info(d)
        if info is not None:
            infos.append(info)
    infos.sort(key=lambda i: (i.created, i.run_id), reverse=True)
    return infos


def load_run(run_id: str, settings: Settings | None = None) -> tuple[RunInfo, list[dict], dict]:
    """(info, events, metrics) of one run; metrics is {} while it runs or when it failed."""
    path = run_path(run_id, settings)
    info = _info(path)
    if info is None:
        raise DataError(f"The run '{run_id}' has no readable config.json.")
    metrics = _read_json(path / "metrics.json")
    return info, read_events(path), metrics if isinstance(metrics, dict) else {}


def run_config(run_id: str, settings: Settings | None = None) -> dict:
    return _read_json(run_path(run_id, settings) / "config.json") or {}


def delete_run(run_id: str, settings: Settings | None = None) -> None:
    shutil.rmtree(run_path(run_id, settings))


def export_zip(run_id: str, settings: Settings | None = None) -> Path:
    """A zip of the run's model folder (model + processor), ready for ``from_pretrained`` once unzipped."""
    path = run_path(run_id, settings)
    model_dir = path / "model"
    if not (model_dir / "config.json").exists():
        raise DataError(f"The run '{run_id}' has no saved model (it failed or is still running).")
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


def push_to_hub(run_id: str, repo_id: str, token: str, private: bool = True,
                settings: Settings | None = None) -> str:
    """Upload the run's model folder to the Hub; returns the repo URL.

    The token is passed to ``huggingface_hub`` for this call only: never written to disk, to
    the run folder, to logs or into error messages.
    """
    settings = settings or get_settings()
    path = run_path(run_id, settings)
    model_dir = path / "model"
    if not (model_dir / "config.json").exists():
        raise DataError(f"The run '{run_id}' has no saved model to push.")
    repo_id = str(repo_id or "").strip()
    from tlweb.catalog import _HUB_ID

    if "/" not in repo_id or not _HUB_ID.match(repo_id):
        raise ModelError("Give the Hub repository as 'your-name/model-name'.")
    token = str(token or "").strip()
    if not token:
        raise ModelError("A Hugging Face access token with write permission is needed to push.")
    from tlweb.engine.loading import hub_reachable

    if not hub_reachable(settings=settings):
        raise ModelError("The Hugging Face Hub cannot be reached from this machine, so the model cannot be pushed.")
    try:
        from huggingface_hub import HfApi

        api = HfApi(token=token)
        url = api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
        api.upload_folder(folder_path=str(model_dir), repo_id=repo_id, repo_type="model",
                          commit_message=f"Upload {run_id} from tlweb")
    except Exception as exc:  # noqa: BLE001 - one sentence, token scrubbed
        text = first_line(exc, None).replace(token, "***")[:200]  # scrub before cutting
        if "401" in text or "403" in text or "Unauthorized" in text or "Forbidden" in text:
            raise ModelError(f"The Hub refused the token for '{repo_id}' (it needs write permission).") from None
        raise ModelError(f"Pushing to '{repo_id}' failed: {text}") from None
    return str(getattr(url, "url", None) or f"https://huggingface.co/{repo_id}")
