"""The Fine-tune tab's state, the drain of the training stream and small pure helpers (tested directly, no server)."""

from __future__ import annotations

import html
import time
from pathlib import Path

from tlweb.config import Settings
from tlweb.errors import DataError, TlwebError
from tlweb.viz import training as tv

SOURCES = [
    ("Built-in sample (offline)", "sample"),
    ("Upload a zip of class folders", "zip"),
    ("Images per class (Teachable-Machine style)", "classes"),
    ("Hugging Face dataset id", "hub"),
]
N_SLOTS = 6  # class slots for per-class uploads; 2 shown at first, "add class" reveals the next
FIRST_SLOTS = 2
EPOCH_CHOICES = ["auto", "1", "2", "3", "5", "10", "20"]
BATCH_CHOICES = ["auto", "8", "16", "32", "64", "128"]
LR_CHOICES = ["auto", "1e-2", "3e-3", "1e-3", "3e-4", "1e-4", "3e-5"]
SHOTS = (1, 2, 5, 10, 25)


def strategy_label(name: str) -> str:
    """The UI's name of a strategy (from the registry)."""
    from tlweb.engine.train.strategies import get_strategy

    try:
        return get_strategy(name).label
    except TlwebError:
        return name


def strategy_choices(task: str = "image-classification") -> list[tuple[str, str]]:
    """(label, name) of every registered strategy of ``task`` (the tab fine-tunes classifiers), for
    radios and checkboxes."""
    from tlweb.engine.train.strategies import all_strategies

    return [(s.label, s.name) for s in all_strategies(task)]


# ----------------------------------------------------------------------------------------------
# Per-session state and the event stream


class FtSession:
    """Per-browser-session state (a ``gr.State`` value): the loaded data and the folder training now.

    ``gr.State`` deep-copies its initial value for every session; ``__deepcopy__`` hands each
    session a fresh object.
    """

    def __init__(self):
        self.data = None  # PreparedData
        self.data_key = None
        self.last_run: str | None = None
        self.active: Path | None = None  # the run / experiment folder training now (Stop writes its STOP file)
        self.experiments: dict[str, Path] = {}  # the last ladder / data-efficiency folder (their reports)
        self.task = "image-classification"  # the task switch of step 1 (classification's endpoints skip others)
        self.task_data = None  # segmentation / detection data (tasks.py), its key, the last run of that path
        self.task_data_key = None
        self.task_run: dict | None = None

    def __deepcopy__(self, memo):
        return FtSession()

    def start(self, folder: Path | None = None) -> None:
        """A new job training into ``folder`` (a run or an experiment folder): where Stop goes."""
        self.active = Path(folder) if folder is not None else None

    def request_stop(self) -> bool:
        """Write the STOP file of the folder training now (the loop checks it between steps, in this
        process or in a ZeroGPU worker); False when nothing is training."""
        from tlweb.engine.stop import Stop

        return self.active is not None and Stop(self.active).request() is not None

    def stopping(self) -> bool:
        from tlweb.engine.runs.store import stop_requested

        return self.active is not None and stop_requested(self.active)


class Worker:
    """Drains a training stream (:func:`tlweb.engine.train.iter_finetune` and friends — the same
    generator locally and on ZeroGPU) for a handler: :meth:`batches` yields its events as dicts,
    grouped so that the page redraws at most every ``every`` seconds; results (a RunResult, a
    data-efficiency row) are appended to :attr:`results` as they come, each ending a batch."""

    def __init__(self, stream, every: float = 0.25):
        self.stream = stream
        self.every = every
        self.results: list = []

    @property
    def result(self):
        return self.results[-1] if self.results else None

    def batches(self):
        from tlweb.engine.train import TrainEvent

        batch: list[dict] = []
        last = time.monotonic()
        try:
            for item in self.stream:
                if isinstance(item, TrainEvent):
                    batch.append(tv.as_dict(item))
                    if item.kind == "step" and time.monotonic() - last < self.every:
                        continue
                else:
                    self.results.append(item)
                yield batch
                batch, last = [], time.monotonic()
            if batch:
                yield batch
        finally:
            self.close()

    def close(self) -> None:
        """End the stream (the page went away, or an error): it writes the STOP file and the run
        ends cleanly, keeping its model. Harmless once the stream has ended."""
        close = getattr(self.stream, "close", None)
        if close is not None:
            close()


# ----------------------------------------------------------------------------------------------
# Small pure helpers (tested directly)


def parse_auto(value, kind=int, what="value"):
    """``"auto"`` / empty → None; else a positive number of ``kind``; else a one-sentence error."""
    if value is None:
        return None
    text = str(value).strip().lower()
    if text in ("", "auto", "none", "0"):
        return None
    try:
        number = kind(float(text)) if kind is int else kind(text)
    except ValueError:
        raise TlwebError(f"{what.capitalize()} must be a number or 'auto' (got '{value}').") from None
    if kind is int and float(text) != int(float(text)):
        raise TlwebError(f"{what.capitalize()} must be a whole number or 'auto' (got '{value}').")
    if number <= 0:
        raise TlwebError(f"{what.capitalize()} must be positive or 'auto' (got '{value}').")
    return number


def _paths(files) -> list[str]:
    out = []
    for f in files or []:
        path = f if isinstance(f, str) else getattr(f, "path", None) or getattr(f, "name", None)
        if isinstance(f, dict):
            path = f.get("path") or f.get("name")
        if path:
            out.append(str(path))
    return out


def class_uploads(names, files) -> dict[str, list[str]]:
    """{class name: [image paths]} from the class slots; named empty slots are ignored."""
    classes: dict[str, list[str]] = {}
    for i, (name, group) in enumerate(zip(names, files), start=1):
        paths = _paths(group)
        name = (name or "").strip()
        if not paths:
            continue
        if not name:
            raise DataError(f"Class {i} has images but no name: type a name for it.")
        if name in classes:
            raise DataError(f"Two classes are called '{name}': give each class its own name.")
        classes[name] = paths
    return classes


def _fmt_s(seconds) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min {int(seconds % 60):02d} s"
    return f"{int(seconds // 3600)} h {int(seconds % 3600 // 60):02d} min"


def job_story(strategy: str | None, done: int, total: int, elapsed_s: float, what: str = "runs") -> str:
    """Sentences under a ladder's or a curve's status line: what the run now training does (its strategy's
    explanation) and how far the job is, with the time left once a run has finished (from the runs so far);
    ``total`` 0: the explanation only (a single run, whose line has its own ETA)."""
    from tlweb.engine.train.strategies import get_strategy

    try:
        explanation = get_strategy(strategy).explanation if strategy else ""
    except TlwebError:
        explanation = ""
    where = f"{done} of {total} {what} done" if total else ""
    if done and done < total:
        where += f"; about {_fmt_s(elapsed_s / done * (total - done))} left (from the {what} so far)"
    return html.escape(" ".join(x for x in (explanation, where + "." if where else "") if x))


class Every:
    """True at most once every ``seconds`` (``due()``): live curves are redrawn less often than the status line.
    Building a plotly figure of a ladder's curves takes 0.1-0.2 s of a small CPU; four a second took a large
    share of a 2-core machine away from the training it showed."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.last = float("-inf")

    def due(self) -> bool:
        now = time.monotonic()
        if now - self.last < self.seconds:
            return False
        self.last = now
        return True


def status_html(text: str, fraction: float | None = None, state: str = "running", detail: str = "") -> str:
    bar = ""
    if fraction is not None:
        pct = max(0.0, min(1.0, float(fraction))) * 100
        bar = f"<div class='bar'><div style='width:{pct:.1f}%'></div></div>"
    detail = f"<div class='muted'>{detail}</div>" if detail else ""
    return f"<div class='ft-status {state}'>{text}{detail}{bar}</div>"


class Progress:
    """Folds TrainEvent dicts into one status line (epoch, loss, accuracy, images/s, ETA)."""

    def __init__(self, label: str = ""):
        self.label = label
        self.latest: dict = {}
        self.events: list[dict] = []

    def add(self, batch: list[dict]) -> None:
        for ev in batch:
            self.events.append(ev)
            if ev.get("run_id") and ev.get("run_id") != self.latest.get("run_id"):
                self.latest = {}  # a new run (a ladder's next strategy): nothing of the last one carries over
            for k, v in ev.items():
                if v is not None and v != "":
                    self.latest[k] = v

    def html(self, prefix: str = "", fraction: float | None = None, detail: str = "") -> str:
        """The status line; ``detail``: sentences under it (what the job is doing, how long it has left)."""
        d = self.latest
        if not d:
            return status_html(f"{prefix}Preparing: loading the model and decoding the images once…", fraction or 0.0,
                               detail=detail)
        strategy = strategy_label(str(d.get("strategy", "")))
        parts = [f"<b>{html.escape(prefix + strategy)}</b>"]
        if d.get("C") is not None:  # the linear probe: a sweep over its regularization, not epochs
            parts.append(f"C = {float(d['C']):.3g}")
        elif d.get("epoch") is not None:
            parts.append(f"epoch {float(d['epoch']):.2f}")
        if d.get("total_steps"):
            parts.append(f"step {int(d.get('step') or 0)}/{int(d['total_steps'])}")
        if d.get("train_loss") is not None:
            parts.append(f"loss {float(d['train_loss']):.3f}")
        if d.get("val_accuracy") is not None:
            # tiny data has no validation hold-out: the per-epoch number then comes from the test
            # split and is shown for monitoring only (nothing is selected on it)
            on_test = d.get("eval_split") == "test"
            label = "test accuracy (monitoring)" if on_test else "val accuracy"
            parts.append(f"{label} {float(d['val_accuracy']) * 100:.1f}%")
        if d.get("images_per_s"):
            parts.append(f"{float(d['images_per_s']):,.0f} images/s")
        if d.get("eta_s") is not None and self.events and self.events[-1].get("kind") not in ("done", "stopped"):
            parts.append(f"ETA {_fmt_s(d['eta_s'])}")
        if fraction is None and d.get("total_steps"):
            fraction = int(d.get("step") or 0) / max(1, int(d["total_steps"]))
        last = self.events[-1] if self.events else {}
        kind = last.get("kind")
        state = {"done": "done", "stopped": "stopped"}.get(kind, "running")
        message = html.escape(str(last.get("message") or "")) if kind in ("start", "stopped", "error") else ""
        return status_html(" · ".join(parts), fraction, state, " ".join(m for m in (detail, message) if m))


# ----------------------------------------------------------------------------------------------
# Engine calls (imported lazily: importing this module loads no torch)


def prepare_data(source, zip_file, hub_id, image_column, label_column, names, files, settings: Settings):
    """Widget values → PreparedData (raises DataError with a sentence)."""
    from tlweb.engine import data as engine_data

    source = source or "sample"
    if source == "sample":
        return engine_data.sample_data(settings=settings)
    if source == "zip":
        paths = _paths([zip_file] if zip_file and not isinstance(zip_file, list) else zip_file)
        if not paths:
            raise DataError("Upload a .zip of class folders first (one folder per class, images inside).")
        return engine_data.load_upload(paths[0], settings=settings)  # unpacked within budgets, then deleted
    if source == "classes":
        classes = class_uploads(names, files)
        if not classes:
            raise DataError("Add images to at least two classes first (name each class, then drop its images).")
        return engine_data.from_class_uploads(classes, settings=settings)
    if source == "hub":
        if not hub_id or not str(hub_id).strip():
            raise DataError("Type a Hugging Face dataset id first (for example 'beans' or 'cifar10').")
        return engine_data.load_hub_dataset(hub_id, image_column=image_column, label_column=label_column,
                                            settings=settings)  # an id in every mode, never a server path
    raise DataError(f"Unknown data source '{source}': pick one of the options.")


def data_key(source, zip_file, hub_id, image_column, label_column, names, files):
    source = source or "sample"
    if source == "sample":
        return ("sample",)
    if source == "zip":
        return ("zip", tuple(_paths([zip_file] if zip_file and not isinstance(zip_file, list) else zip_file)))
    if source == "hub":
        return ("hub", (hub_id or "").strip(), (image_column or "").strip(), (label_column or "").strip())
    return ("classes", tuple((n or "").strip() for n in names), tuple(tuple(_paths(f)) for f in files))


def data_notes(data) -> str:
    counts = data.counts()
    n_train = sum(counts.get("train", {}).values())
    n_test = sum(counts.get("test", {}).values())
    smallest = min(counts.get("train", {}).values() or [0])
    parts = [f"<b>{len(data.class_names)} classes</b> · {n_train:,} training images · {n_test:,} test images "
             f"(test set: {html.escape(str(data.test_from))}) · smallest class: {smallest} training images"]
    if data.skipped:
        items = "".join(f"<li>{html.escape(s)}</li>" for s in data.skipped[:12])
        more = f"<li>… and {len(data.skipped) - 12} more</li>" if len(data.skipped) > 12 else ""
        parts.append(f"<div>⚠️ Skipped {len(data.skipped)} file(s):<ul>{items}{more}</ul></div>")
    return f"<div class='ft-notes'>{'<br>'.join(parts)}</div>"


def _chance(data) -> float | None:
    n = len(getattr(data, "class_names", []) or [])
    return 1.0 / n if n >= 2 else None
