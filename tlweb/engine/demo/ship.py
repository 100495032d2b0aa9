"""Demo models whose trained weights ship inside the package: the first pick is a copy, never a training run.

A demo model that really learned something (the shapes ResNet and ViT, the scenes depth model, and the
segmenter and detector that follow them) is one :class:`Shipped` record, declared next to its recipe::

    from tlweb.engine.demo.ship import Shipped, ship

    def recipe(folder: Path) -> dict[str, float]:
        ...  # train from scratch on generated pictures (fixed seeds, one torch thread)
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
        return {"source_test_accuracy": 0.98}  # what the recipe measured on held-out generated pictures

    ship(Shipped(key="demo-x-shapes", task="image-classification", family="resnet", recipe=recipe,
                 description="…", pretrained_on="6 synthetic shapes — tlweb demo", metric="source_test_accuracy"))

in a module listed in :data:`tlweb.engine.demo.MODULES`. Its weights live in the package, as package
data, at ``tlweb/engine/demo/weights/<key>/`` (``config.json``, ``model.safetensors``, the processor's
files; fp32 safetensors of a tiny model: hundreds of KB). Picking the model copies that folder into
``settings.demo_dir`` (:func:`install`, milliseconds on any machine); the loader then reads it as it reads
every demo model. The folder's ``config.json`` says what it is: ``tlweb.shipped`` holds the key, the
recipe version, the measures the recipe returned, the seconds it took and the torch / transformers versions
that made it.

Rebuild the shipped weights with our own recipe (anyone can reproduce them)::

    python -m tlweb.engine.demo.ship demo-resnet-shapes      # one key (or several, or "all")
    python -m tlweb.engine.demo.ship all --out some/folder   # elsewhere, leaving the package as it is
    python -m tlweb.engine.demo.ship --list                  # the records and what their shipped weights say

or :func:`rebuild` from Python. Each prints the new measures beside the shipped ones;
tests/engine/test_demo_ship.py rebuilds the cheapest record and checks it reaches the shipped measure within
the record's ``tolerance`` (a point of accuracy by default), and that every record's weights are in the
package at the record's ``recipe_version`` (bump it when a recipe changes, then rebuild).

Records whose task tlweb does not run yet (no :mod:`tlweb.registry` task of that name) are kept and
rebuildable, but not listed among the demo models until the task is registered: nothing could load them.
A record whose weights are missing (a recipe just written) is trained by its recipe on first pick, as the
demo models were before, and says so in the terminal.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tlweb.engine.demo import DemoModel, register

WEIGHTS = Path(__file__).resolve().parent / "weights"  # package data: weights/<key>/{config.json, …}
# the files a shipped folder keeps (save_pretrained's model and processor output); anything else is dropped
KEEP = ("config.json", "model.safetensors", "preprocessor_config.json", "processor_config.json",
        "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt")


@dataclass(frozen=True)
class Shipped:
    """One demo model whose trained weights ship with tlweb."""

    key: str  # "demo-resnet-shapes"
    task: str  # a tlweb.registry task name ("image-classification", "depth-estimation" …)
    family: str  # the transformers model_type ("resnet", "dpt" …)
    recipe: Callable[[Path], dict[str, float]]  # trains into the folder (model + processor); returns its measures
    description: str  # one sentence for the model card
    pretrained_on: str  # what it learned from ("6 synthetic shapes (…) — tlweb demo")
    label_note: str = "pretrained on synthetic shapes — UI demo"  # the dropdown's note after the key
    metric: str = ""  # the measure a rebuild must reproduce (a key of what the recipe returns)
    tolerance: float = 0.01  # … within this much (absolute)
    recipe_version: int = 1  # bump when the recipe changes; the tests then ask for rebuilt weights

    @property
    def folder(self) -> Path:
        """Where its weights ship inside the package."""
        return WEIGHTS / self.key


_SHIPPED: dict[str, Shipped] = {}


def ship(record: Shipped) -> Shipped:
    """Declare a shipped demo model; list it among the demo models when tlweb runs its task."""
    from tlweb import registry as tasks

    _SHIPPED[record.key] = record
    try:
        tasks.task(record.task)
    except KeyError:
        return record  # kept for rebuilds; listed once the task is registered
    register(DemoModel(key=record.key, family=record.family, task=record.task,
                       build=lambda folder, key=record.key: install(key, folder), description=record.description,
                       pretrained_on=record.pretrained_on,
                       label_note=record.label_note, shipped=True))
    return record


def shipped() -> dict[str, Shipped]:
    """Every shipped record (the builder modules imported first)."""
    from tlweb.engine.demo import registry

    registry()
    return dict(_SHIPPED)


def record(key: str) -> Shipped:
    try:
        return shipped()[key]
    except KeyError:
        raise KeyError(f"no shipped demo model {key!r}; there are: {', '.join(sorted(_SHIPPED))}") from None


def meta(key: str, folder: Path | None = None) -> dict:
    """``tlweb.shipped`` of a shipped folder (the package's by default); {} when there is none."""
    try:
        cfg = json.loads(((folder or record(key).folder) / "config.json").read_text())
    except (OSError, ValueError):
        return {}
    return cfg.get("tlweb", {}).get("shipped", {})


def has_weights(key: str) -> bool:
    folder = record(key).folder
    return (folder / "config.json").is_file() and (folder / "model.safetensors").is_file()


def install(key: str, folder: Path) -> None:
    """Copy the shipped weights of ``key`` into ``folder`` (what a demo model's first pick does), or train
    them by the record's recipe when the package holds none."""
    rec = record(key)
    folder = Path(folder)
    if not has_weights(key):
        from tlweb.events import event

        event("demo model %s ships no weights in this copy of tlweb: training it by its recipe", key)
        _make(rec, folder)
        return
    for item in rec.folder.iterdir():
        if item.is_file():
            shutil.copyfile(item, folder / item.name)


def rebuild(key: str, out: Path | None = None) -> dict:
    """Train ``key`` by its recipe into ``out`` (default: its folder in the package, replaced) and return
    the folder's ``tlweb.shipped`` record (``metrics``: what the recipe measured)."""
    rec = record(key)
    out = Path(out) if out is not None else rec.folder
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".rebuild")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir()
    try:
        _make(rec, tmp)
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp)
    return meta(key, out)


def _make(rec: Shipped, folder: Path) -> None:
    """Run the recipe into ``folder``, keep the model's and processor's files, and stamp what it is."""
    import torch
    import transformers

    from tlweb.events import quiet_libraries

    quiet_libraries()
    t0 = time.perf_counter()
    metrics = rec.recipe(folder) or {}
    seconds = time.perf_counter() - t0
    for item in folder.iterdir():
        if item.name not in KEEP:
            shutil.rmtree(item) if item.is_dir() else item.unlink()
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    old = cfg.get("tlweb", {})
    cfg["tlweb"] = {
        **{k: v for k, v in old.items() if k != "license"},  # what the recipe noted (a fine-tune's licence is not ours)
        "key": rec.key, "task": rec.task, "family": rec.family, "description": rec.description,
        "pretrained_on": rec.pretrained_on,
        "shipped": {"key": rec.key, "recipe_version": rec.recipe_version,
                    "metrics": {k: round(float(v), 4) for k, v in metrics.items()},
                    "seconds": round(seconds, 1), "torch": torch.__version__, "transformers": transformers.__version__},
    }
    path.write_text(json.dumps(cfg, indent=2) + "\n")


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in Path(folder).iterdir() if p.is_file())


# --------------------------------------------------------------------------- command line


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tlweb.engine.demo.ship",
                                 description="Rebuild the demo models whose trained weights ship with tlweb.")
    ap.add_argument("keys", nargs="*", help="shipped demo model keys, or 'all'")
    ap.add_argument("--out", help="write into this folder (one sub-folder per key) instead of the package")
    ap.add_argument("--list", action="store_true", help="list the records and what their shipped weights say")
    args = ap.parse_args(argv)
    records = shipped()
    if args.list or not args.keys:
        for key, rec in records.items():
            m = meta(key)
            state = (f"ships {folder_bytes(rec.folder) / 1e3:.0f} KB, recipe v{m.get('recipe_version')}, "
                     f"{m.get('metrics')}" if has_weights(key) else "no weights shipped yet")
            print(f"{key:24s} {rec.task:22s} recipe v{rec.recipe_version}: {state}")
        return 0
    keys = list(records) if args.keys == ["all"] else args.keys
    unknown = [k for k in keys if k not in records]
    if unknown:
        print(f"error: no shipped demo model {', '.join(unknown)}; there are: {', '.join(records)}", file=sys.stderr)
        return 2
    for key in keys:
        before = meta(key).get("metrics", {})
        out = Path(args.out) / key if args.out else None
        got = rebuild(key, out)
        folder = out or records[key].folder
        print(f"{key}: {got['metrics']} in {got['seconds']} s, {folder_bytes(folder) / 1e3:.0f} KB"
              + (f" (shipped: {before})" if before else ""), flush=True)
    return 0


if __name__ == "__main__":
    from tlweb.engine.demo.ship import main as _main  # the registered module, not this __main__ copy

    raise SystemExit(_main())
