"""The files inside a run or experiment folder: how they are written (atomically, JSON; events appended
a line at a time by :class:`RunWriter` while the run holds the folder's lock) and read back (a line cut
short by a crash is skipped). The layout is described in :mod:`tlweb.engine.runs`."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from tlweb.engine import runlock

EXPERIMENT_FILE = "experiment.json"


class RunWriter:
    """Writes a run folder as the run goes; thread-safe appends to events.jsonl."""

    def __init__(self, run_id: str, run_dir: Path):
        self.run_id = run_id
        self.run_dir = Path(run_dir)
        self._lock = threading.Lock()
        runlock.hold(self.run_dir)  # the run is "running" exactly while this process holds it
        self._events = open(self.run_dir / "events.jsonl", "a", encoding="utf-8")

    def write_config(self, config: dict) -> None:
        write_json(self.run_dir / "config.json", config)

    def update_config(self, **changes) -> None:
        path = self.run_dir / "config.json"
        cfg = read_json(path) or {}
        cfg.update(changes)
        write_json(path, cfg)

    def event(self, event: dict) -> None:
        line = json.dumps(event, ensure_ascii=False, default=json_default)
        with self._lock:
            if self._events.closed:
                return
            self._events.write(line + "\n")
            self._events.flush()

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.run_dir / "metrics.json", metrics)

    def close(self) -> None:
        with self._lock:
            if not self._events.closed:
                self._events.close()
        runlock.release(self.run_dir)


def json_default(o):
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


def write_json(path: Path, obj) -> None:
    tmp = path.with_name(path.name + f".tmp{os.getpid()}-{threading.get_ident()}")
    tmp.write_text(json.dumps(obj, indent=2, ensure_ascii=False, default=json_default), encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path):
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


def last_event_kind(run_dir: Path) -> str | None:
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
