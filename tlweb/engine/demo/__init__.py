"""Tiny demo models, built into a local folder on first use: random weights from configs, plus
a few really trained on generated pictures whose weights ship inside the package
(:mod:`tlweb.engine.demo.ship`: the shapes ResNet and ViT of :mod:`tlweb.engine.demo_recipes.pretrained`, the
scenes depth model of :mod:`tlweb.engine.demo.depth`), so their first pick is a copy.

``python app.py --demo`` lists them (labelled "random weights — UI demo", or the model's own
``label_note``) so every tab works with zero downloads; the tests use the same builders. Each builder module registers
:class:`DemoModel` entries; builders import transformers only when they run.

Add a family: write ``build(folder)`` in one of ``MODULES`` (or a new module listed there) and
``register(DemoModel(...))`` it; a trained one is a ``ship(Shipped(...))`` record instead (see
:mod:`tlweb.engine.demo.ship`).
"""

from __future__ import annotations

import importlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tlweb.config import Settings, get_settings

# Builder modules, imported on first use of the registry (each is light at import time). The demo models that
# tlweb trains with its own fine-tune live in tlweb.engine.demo_recipes, above the training engine: listed here
# by name, never imported by this package's code.
MODULES = ("tlweb.engine.demo.classification", "tlweb.engine.demo_recipes.pretrained",
           "tlweb.engine.demo.segmentation", "tlweb.engine.demo_recipes.segmenter",
           "tlweb.engine.demo.detection", "tlweb.engine.demo_recipes.detector",
           "tlweb.engine.demo.zeroshot", "tlweb.engine.demo.depth")  # in the order the pickers list them

BUILD_VERSION = 2  # bump to rebuild every demo model after a builder change


@dataclass(frozen=True)
class DemoModel:
    key: str  # "demo-vit" …
    family: str
    task: str
    build: Callable[[Path], None]  # writes save_pretrained output into the folder
    description: str = ""
    # what the builder really trained it on ("" = nothing: random weights) and the dropdown's note
    pretrained_on: str = ""
    label_note: str = ""
    shipped: bool = False  # trained weights ship inside the package (tlweb.engine.demo.ship): built by a copy

    @property
    def license(self) -> str:
        if self.shipped:
            return "trained by tlweb's own recipe on generated pictures, ships with tlweb (no licence needed)"
        return ("trained here on generated pictures (no licence needed)" if self.pretrained_on
                else "random weights (no licence needed)")


_REGISTRY: dict[str, DemoModel] = {}
_LOADED = False
_LOCK = threading.Lock()


def register(model: DemoModel) -> DemoModel:
    _REGISTRY[model.key] = model
    return model


def registry() -> dict[str, DemoModel]:
    global _LOADED
    if not _LOADED:
        for name in MODULES:
            importlib.import_module(name)
        _LOADED = True
    return dict(_REGISTRY)


def demo_model_specs(settings: Settings | None = None) -> list:
    from tlweb.catalog import ModelSpec

    settings = settings or get_settings()
    specs = []
    for dm in registry().values():
        folder = settings.demo_dir / dm.key
        specs.append(
            ModelSpec(
                key=dm.key,
                hub_id=str(folder),
                task=dm.task,
                family=dm.family,
                params_m=None,
                input_size=None,
                license=dm.license,
                description=dm.description or f"Tiny random-weight {dm.family} — for trying the UI, predictions are noise",
                source="demo",
                pretrained_on=dm.pretrained_on or "nothing (random weights)",
                label_note=dm.label_note,
            )
        )
    return specs


def _is_built(folder: Path) -> bool:
    try:
        cfg = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    return cfg.get("tlweb", {}).get("build_version") == BUILD_VERSION


def is_built(key: str, settings: Settings | None = None) -> bool:
    """The demo model ``key`` is in ``settings.demo_dir`` already (no build on its first use)."""
    return _is_built((settings or get_settings()).demo_dir / key)


def ensure_built(key: str, settings: Settings | None = None) -> Path:
    """Build the demo model ``key`` into ``settings.demo_dir`` unless it is there already
    (demo models are built when first picked, never before the server starts)."""
    settings = settings or get_settings()
    dm = registry()[key]
    folder = settings.demo_dir / key
    with _LOCK:
        if not _is_built(folder):
            import time

            from tlweb.events import event, quiet_libraries

            quiet_libraries()
            t0 = time.perf_counter()
            tmp = folder.with_name(folder.name + ".tmp")
            if tmp.exists():
                import shutil

                shutil.rmtree(tmp)
            tmp.mkdir(parents=True)
            dm.build(tmp)
            _stamp(tmp, dm)
            if folder.exists():
                import shutil

                shutil.rmtree(folder)
            tmp.rename(folder)
            event("built demo model %s in %.1f s", key, time.perf_counter() - t0)
    return folder


def build_all(settings: Settings | None = None, task: str | None = None) -> list[Path]:
    return [ensure_built(k, settings) for k, dm in registry().items() if task is None or dm.task == task]


def _stamp(folder: Path, dm: DemoModel) -> None:
    """Record tlweb metadata (task, family, size, parameters) in the saved config.json."""
    path = folder / "config.json"
    cfg = json.loads(path.read_text())
    meta = cfg.setdefault("tlweb", {})
    meta.update(
        {
            "key": dm.key,
            "task": dm.task,
            "family": dm.family,
            "license": dm.license,
            "description": dm.description,
            "pretrained_on": dm.pretrained_on or "nothing (random weights)",
            "build_version": BUILD_VERSION,
        }
    )
    path.write_text(json.dumps(cfg, indent=2))


def stamp_params(folder: Path, model, input_size: int) -> None:
    """Builders call this after save_pretrained to record parameter count and input size."""
    path = Path(folder) / "config.json"
    cfg = json.loads(path.read_text())
    meta = cfg.setdefault("tlweb", {})
    meta["params_m"] = round(sum(p.numel() for p in model.parameters()) / 1e6, 4)
    meta["input_size"] = int(input_size)
    path.write_text(json.dumps(cfg, indent=2))


# --------------------------------------------------------------------------- builder helpers


def label_maps(labels) -> tuple[dict[int, str], dict[str, int]]:
    id2label = {i: name for i, name in enumerate(labels)}
    return id2label, {name: i for i, name in id2label.items()}


def seed(value: int = 0) -> None:
    """Same weights on every build (tests and screenshots stay stable)."""
    import torch

    torch.manual_seed(value)


def save_model(folder: Path, model, processor, size: int) -> None:
    model.eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    stamp_params(folder, model, size)


def spread(module, std: float, bias_std: float | None = None) -> None:
    """Re-draw a head's weights from N(0, std²) so random logits differ between classes."""
    import torch

    with torch.no_grad():
        for p in module.parameters():
            if p.dim() > 1:
                p.normal_(0.0, std)
            else:
                p.normal_(0.0, std / 4 if bias_std is None else bias_std)


def fan_in(module, gain: float = 1.0) -> None:
    """Re-draw every Linear/Conv weight in ``module`` from N(0, gain²/fan_in) (biases small)."""
    import torch

    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (torch.nn.Linear, torch.nn.Conv2d)):
                m.weight.normal_(0.0, gain / m.weight[0].numel() ** 0.5)
                if m.bias is not None:
                    m.bias.normal_(0.0, 0.1 * gain)
