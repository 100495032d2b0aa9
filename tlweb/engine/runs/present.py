"""What a run or an experiment looks like to a person or a client: its record as the lists read it
(:class:`RunInfo`, :class:`ExperimentInfo`, ``as_dict()`` for ``--json``), its title ("demo-vit · linear ·
14:02"), its words in a sentence (:func:`describe`) and the rows a ladder or curve chart draws
(:func:`experiment_rows`). Nothing here finds, creates or deletes a folder (:mod:`tlweb.engine.runs.store`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tlweb.engine.runs.files import read_json

STATUSES = ("running", "done", "stopped", "failed")
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
    task: str = ""  # the task it was trained for ("" for runs from before tasks were recorded: classification)
    metric: str = ""  # its task's headline metric ("accuracy", "miou", "map")
    test_metric: float | None = None  # that metric on the test set, 0–1

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


def describe(info: RunInfo | ExperimentInfo) -> str:
    """"run demo-vit · linear · 14:02" / "experiment demo-vit · ladder · 14:02 (6 runs)"."""
    if isinstance(info, ExperimentInfo):
        return f"experiment {info.title} ({len(info.runs)} run{'s' if len(info.runs) != 1 else ''})"
    return f"run {info.title}"


def experiment_rows(info: ExperimentInfo) -> list[dict]:
    """One result dict per run of an experiment, in the order they ran (strategy, per_class,
    train_images, test_accuracy, test_macro_f1, wall_s, stopped, run_id): what the ladder chart and
    the data-efficiency curve draw, read back from the runs' metrics.json."""
    rows = []
    for r in info.runs:
        m = read_json(r.run_dir / "metrics.json")
        m = m if isinstance(m, dict) else {}
        rows.append({"run_id": r.run_id, "strategy": r.strategy, "per_class": r.per_class, "seed": r.seed,
                     "status": r.status, "train_images": m.get("train_images"), "val_images": m.get("val_images"),
                     "test_images": m.get("test_images"),
                     "test_accuracy": r.test_accuracy, "test_macro_f1": r.test_macro_f1,
                     "wall_s": m.get("wall_s"), "stopped": bool(m.get("stopped"))})
    return rows
