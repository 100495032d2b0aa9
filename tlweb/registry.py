"""The registries: tasks, tabs and command-line modules, one record each.

Everything that lists tasks, tabs or commands (the loader, the catalog, the app, the CLI, the
docs and the tests) reads these records; nothing types the lists again. The module is light:
records hold names as strings (an Auto class, a ``module:function``), resolved on first use, so
importing it imports neither torch nor transformers nor gradio.

Adding one is one record (see docs/architecture.md for the whole recipe):

- a task: ``register_task(Task(...))`` below (what loads and tells it), then its engine module, whose
  runner declares itself with ``@inference_task(NAME, …)`` (:mod:`tlweb.engine.pipeline`) and which
  :mod:`tlweb.engine.inference` imports; callers run it as ``task(NAME).run(image, model, settings=…)``;
- a tab: ``tlweb/ui/tabs/<id>.py`` with ``build(settings)``, then ``register_tab(Tab(...))``;
- a CLI module: ``tlweb/cli/<name>.py`` with ``COMMANDS``, then ``register_command(Command(...))``.

Demo model families have their own registry in :mod:`tlweb.engine.demo` (their builders need
transformers); strategies live in the training engine.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

R = TypeVar("R")


class Records(Generic[R]):
    """Records by their key field; ``all()`` in registration order, or by ``order`` when ``ordered``."""

    def __init__(self, key: str, ordered: bool = False):
        self._key, self._ordered = key, ordered
        self._items: dict[str, R] = {}

    def register(self, record: R) -> R:
        self._items[getattr(record, self._key)] = record
        return record

    def get(self, key: str) -> R:
        """The record with this key; KeyError when there is none."""
        return self._items[key]

    def all(self) -> tuple[R, ...]:
        items = list(self._items.values())
        if self._ordered:
            items.sort(key=lambda r: (r.order, getattr(r, self._key)))
        return tuple(items)


# --------------------------------------------------------------------------- tasks


@dataclass(frozen=True)
class Task:
    """One task, named as its Hugging Face pipeline tag."""

    name: str  # "image-classification"
    noun: str  # with its article, for sentences: "an image classifier"
    auto_class: str  # the transformers Auto class that loads it, by name
    auto_class_for: Mapping[str, str] = field(default_factory=dict)  # model_type → another Auto class
    needs_text: bool = False  # the processor has a tokenizer (AutoProcessor, not AutoImageProcessor)
    architectures: tuple[str, ...] = ()  # parts of config.json "architectures" names that mean this task
    model_types: tuple[str, ...] = ()  # if set, only checkpoints of these families are this task (see task_from_config)
    example: Mapping[str, object] = field(default_factory=dict)  # what else the runner needs on a sample image
    tab: str | None = None  # id of the tab that serves it
    command: str | None = None  # the CLI command that serves it

    def auto_model_class(self, model_type: str | None = None):
        """The Auto class for a checkpoint of this task (imports transformers)."""
        import transformers

        return getattr(transformers, self.auto_class_for.get(model_type or "", self.auto_class))

    def runner(self) -> Callable | None:
        """The engine function that runs this task on one picture, as its engine module declared it
        (:func:`runs`); None until that module is imported (:mod:`tlweb.engine.inference` imports them all)."""
        return _RUNNERS.get(self.name)

    def run(self, image, model, *, settings=None, **options):
        """Run this task on one picture (a path, bytes, PIL image or array) with ``model`` (a name or a
        ``ModelSpec``): ``runner(image, model, settings=settings, **options)``."""
        fn = self.runner()
        if fn is None:
            raise LookupError(f"No engine module has declared a runner for {self.name!r} "
                              "(import tlweb.engine.inference first).")
        return fn(image, model, settings=settings, **options)


_RUNNERS: dict[str, Callable] = {}  # task name → the engine function that runs it (declared by its module)


def runs(*names: str) -> Callable[[Callable], Callable]:
    """Decorator for the engine function that runs tasks ``names`` on one picture, called
    ``fn(image, model, settings=…, **options)``. The tasks must be registered first (a KeyError
    otherwise); engine modules use :func:`tlweb.engine.pipeline.inference_task`, which adds the
    ZeroGPU wrapper."""

    def declare(fn: Callable) -> Callable:
        for name in names:
            task(name)  # KeyError for a task nobody registered
            _RUNNERS[name] = fn
        return fn

    return declare


TASKS: Records[Task] = Records("name")
register_task = TASKS.register
tasks = TASKS.all  # in registration order
task = TASKS.get  # the record of a task name (KeyError when none)


def task_noun(name: str) -> str:
    """"an image classifier" for "image-classification" (the name itself when unknown)."""
    try:
        return task(name).noun
    except KeyError:
        return name


# Task names, named as the Hugging Face pipeline tags (re-exported by tlweb.catalog).
CLASSIFICATION = "image-classification"
SEGMENTATION = "image-segmentation"
DETECTION = "object-detection"
ZERO_SHOT_DETECTION = "zero-shot-object-detection"
ZERO_SHOT_CLASSIFICATION = "zero-shot-image-classification"
FEATURES = "image-feature-extraction"
DEPTH = "depth-estimation"

# Families whose class names mislead (checked by a test against transformers' Auto mappings).
_ZERO_SHOT_DETECTORS = ("owlv2", "owlvit", "grounding-dino", "mm-grounding-dino", "omdet-turbo")
_IMAGE_TEXT = ("clip", "siglip", "siglip2", "align", "altclip", "blip", "blip-2", "chinese_clip", "clipseg",
               "metaclip_2", "tipsv2", "videoprism")
_UNIVERSAL = "AutoModelForUniversalSegmentation"

register_task(Task(
    CLASSIFICATION, "an image classifier", "AutoModelForImageClassification",
    architectures=("ForImageClassification", "ForImageClassificationWithTeacher"),
    tab="classify", command="classify"))
register_task(Task(
    SEGMENTATION, "a segmentation model", "AutoModelForSemanticSegmentation",
    auto_class_for={"mask2former": _UNIVERSAL, "maskformer": _UNIVERSAL, "oneformer": _UNIVERSAL},
    architectures=("ForSemanticSegmentation", "ForUniversalSegmentation", "ForInstanceSegmentation"),
    tab="segment", command="segment"))
register_task(Task(
    DETECTION, "an object detector", "AutoModelForObjectDetection", architectures=("ForObjectDetection",),
    tab="detect", command="detect"))
register_task(Task(
    ZERO_SHOT_DETECTION, "a zero-shot detector", "AutoModelForZeroShotObjectDetection", needs_text=True,
    architectures=("ForObjectDetection",), model_types=_ZERO_SHOT_DETECTORS,
    example={"queries": "cat, remote control"}, tab="detect", command="detect"))
register_task(Task(
    ZERO_SHOT_CLASSIFICATION, "a zero-shot classifier", "AutoModelForZeroShotImageClassification", needs_text=True,
    architectures=("Model", "ForImageTextRetrieval"), model_types=_IMAGE_TEXT,
    example={"labels": "cat, dog, car"}, tab="classify", command="classify"))
register_task(Task(FEATURES, "a feature backbone", "AutoModel", architectures=("VisionModel",)))
register_task(Task(
    DEPTH, "a depth estimator", "AutoModelForDepthEstimation", architectures=("ForDepthEstimation",),
    tab="depth", command="depth"))


def task_from_config(cfg: dict) -> str:
    """Best guess of a checkpoint's task from its config.json.

    Each architecture name is matched against the records' ``architectures`` parts; the longest
    part wins, and on a tie the record made for the checkpoint's family (``model_types``): a
    plain ``save_pretrained`` OWLv2 folder says ``Owlv2ForObjectDetection`` yet is a zero-shot
    detector, ``CLIPModel`` is a zero-shot classifier, ``CLIPForImageClassification`` a classifier
    and ``CLIPVisionModel`` a backbone. Without a match, a family's record decides; then a head
    with more than two labels is a classifier, anything else a feature backbone.
    """
    model_type = cfg.get("model_type") or ""
    eligible = [t for t in tasks() if not t.model_types or model_type in t.model_types]
    best: tuple[int, int, str] | None = None
    for arch in cfg.get("architectures") or []:
        for record in eligible:
            for part in record.architectures:
                if part in arch:
                    rank = (len(part), bool(record.model_types), record.name)
                    best = rank if best is None or rank[:2] > best[:2] else best
    if best is not None:
        return best[2]
    for record in eligible:
        if record.model_types:
            return record.name
    if len(cfg.get("id2label") or {}) > 2:
        return CLASSIFICATION
    return FEATURES


# --------------------------------------------------------------------------- tabs


@dataclass(frozen=True)
class Tab:
    """One tab of the app: ``module`` has ``build(settings)`` returning a handle (or None)."""

    id: str  # also the gr.Tab id and elem_id "tab-<id>"
    title: str
    module: str
    order: int  # position among the tabs, smallest first

    def load(self):
        return importlib.import_module(self.module)


TABS: Records[Tab] = Records("id", ordered=True)
register_tab = TABS.register
tabs = TABS.all  # in display order
tab = TABS.get


register_tab(Tab("classify", "Classify", "tlweb.ui.tabs.classify", order=10))
register_tab(Tab("compare", "Compare", "tlweb.ui.tabs.compare", order=20))
register_tab(Tab("finetune", "Fine-tune", "tlweb.ui.tabs.finetune", order=30))
register_tab(Tab("segment", "Segment", "tlweb.ui.tabs.segment", order=40))
register_tab(Tab("depth", "Depth", "tlweb.ui.tabs.depth", order=45))
register_tab(Tab("detect", "Detect", "tlweb.ui.tabs.detect", order=50))
register_tab(Tab("explain", "Explain", "tlweb.ui.tabs.explain", order=60))
register_tab(Tab("embeddings", "Embeddings", "tlweb.ui.tabs.embeddings", order=70))
register_tab(Tab("learn", "Learn", "tlweb.ui.tabs.learn", order=90))


# --------------------------------------------------------------------------- command-line modules


@dataclass(frozen=True)
class Command:
    """One module of sub-commands: ``module.COMMANDS`` lists its ``add_<name>(subparsers)`` functions."""

    module: str
    order: int  # position in ``--help``, smallest first

    def adders(self) -> list[Callable]:
        return list(importlib.import_module(self.module).COMMANDS)


COMMANDS: Records[Command] = Records("module", ordered=True)
register_command = COMMANDS.register
commands = COMMANDS.all  # in --help order


register_command(Command("tlweb.cli.serve", order=10))
register_command(Command("tlweb.cli.classify", order=20))
register_command(Command("tlweb.cli.compare", order=30))
register_command(Command("tlweb.cli.finetune", order=40))
register_command(Command("tlweb.cli.efficiency", order=42))
register_command(Command("tlweb.cli.runs", order=45))
register_command(Command("tlweb.cli.publish", order=46))
register_command(Command("tlweb.cli.segment_detect", order=50))
register_command(Command("tlweb.cli.depth", order=52))
register_command(Command("tlweb.cli.explain", order=55))
register_command(Command("tlweb.cli.leaderboard", order=56))
register_command(Command("tlweb.cli.embed", order=57))
register_command(Command("tlweb.cli.models", order=60))
register_command(Command("tlweb.cli.space", order=70))
register_command(Command("tlweb.cli.report", order=80))
register_command(Command("tlweb.cli.selfcheck", order=90))
register_command(Command("tlweb.cli.cache", order=95))
