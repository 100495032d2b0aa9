"""THE model registry: curated Hub checkpoints per task, plus demo models, fine-tuned runs,
and anything a user types (a Hub id or a local folder).

Adding a model: append a :class:`ModelSpec` to ``CATALOG`` (check the task and the licence
on its model card first). Nothing here imports torch or transformers.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

from tlweb import access
from tlweb.config import Settings, get_settings
from tlweb.errors import ModelError, clip
from tlweb.registry import (  # noqa: F401 - the task names and task_from_config are re-exported
    CLASSIFICATION,
    DEPTH,
    DETECTION,
    FEATURES,
    SEGMENTATION,
    ZERO_SHOT_CLASSIFICATION,
    ZERO_SHOT_DETECTION,
    task_from_config,
    tasks,
)

TASKS = tuple(t.name for t in tasks())  # every registered task (records in tlweb.registry)


@dataclass(frozen=True)
class ModelSpec:
    """What the app knows about a model before loading it."""

    key: str  # short, stable name ("vit-base"); the Hub id or folder for typed models
    hub_id: str  # a Hub repo id or a local folder path
    task: str
    family: str  # model_type in transformers terms: vit, resnet, convnext …
    params_m: float | None = None  # millions of parameters (from the model card)
    input_size: int | None = None  # square input side in pixels
    license: str = "unknown"
    description: str = ""
    supports_attention: bool = False  # attention maps make sense (transformers)
    supports_gradcam: bool = False  # has conv/patch feature maps for Grad-CAM
    source: str = "catalog"  # catalog | demo | run | local | hub
    pretrained_on: str = ""
    revision: str | None = None  # a Hub branch/commit, e.g. DETR's "no_timm" (no timm dependency)
    label_note: str = ""  # demo models: the dropdown's note ("" → "random weights — UI demo"); runs: their title

    @property
    def random_weights(self) -> bool:
        """A demo model whose weights are random (its predictions are noise)."""
        return self.source == "demo" and (self.pretrained_on or "").startswith("nothing")

    @property
    def is_local(self) -> bool:
        return self.source in ("demo", "run", "local")

    @property
    def label(self) -> str:
        """The text shown in dropdowns; unique across the catalog."""
        if self.source == "demo":
            return f"{self.key} ({self.label_note or 'random weights — UI demo'})"
        if self.source == "run":
            return f"{self.label_note or self.key}{RUN_LABEL_SUFFIX}"
        if self.source == "catalog":
            return f"{self.key} · {self.hub_id}"
        return self.hub_id

    def facts(self) -> dict:
        return {
            "model": self.hub_id,
            "family": self.family,
            "task": self.task,
            "params_m": self.params_m,
            "input_size": self.input_size,
            "license": self.license,
            "source": self.source,
        }


def _cls(key, hub_id, family, params_m, size=224, license="apache-2.0", desc="", attn=False, on="ImageNet-1k"):
    return ModelSpec(
        key=key,
        hub_id=hub_id,
        task=CLASSIFICATION,
        family=family,
        params_m=params_m,
        input_size=size,
        license=license,
        description=desc,
        supports_attention=attn,
        supports_gradcam=True,
        pretrained_on=on,
    )


CATALOG: tuple[ModelSpec, ...] = (
    # ---- image classification (ImageNet-1k heads) ----
    _cls("vit-base", "google/vit-base-patch16-224", "vit", 86.6, attn=True,
         desc="ViT-B/16, pretrained on ImageNet-21k, fine-tuned on ImageNet-1k", on="ImageNet-21k → 1k"),
    _cls("deit-small", "facebook/deit-small-patch16-224", "vit", 22.1, attn=True,
         desc="DeiT-S/16: a data-efficient ViT trained on ImageNet-1k only"),
    _cls("swin-tiny", "microsoft/swin-tiny-patch4-window7-224", "swin", 28.3, attn=True,
         desc="Swin-T: hierarchical ViT with shifted windows"),
    _cls("convnext-tiny", "facebook/convnext-tiny-224", "convnext", 28.6,
         desc="ConvNeXt-T: a CNN modernised with transformer design choices"),
    _cls("resnet-50", "microsoft/resnet-50", "resnet", 25.6,
         desc="ResNet-50 v1.5: the classic residual CNN"),
    _cls("efficientnet-b0", "google/efficientnet-b0", "efficientnet", 5.3,
         desc="EfficientNet-B0: compound-scaled mobile CNN"),
    _cls("mobilenet-v2", "google/mobilenet_v2_1.0_224", "mobilenet_v2", 3.5, license="other",
         desc="MobileNetV2 1.0: inverted residuals for phones"),
    _cls("dinov2-small-linear", "facebook/dinov2-small-imagenet1k-1-layer", "dinov2", 22.8, attn=True,
         desc="DINOv2 ViT-S/14 self-supervised features + a linear ImageNet head",
         on="LVD-142M (self-supervised) + linear head on ImageNet-1k"),
    _cls("beit-base", "microsoft/beit-base-patch16-224", "beit", 86.5, attn=True,
         desc="BEiT-B/16: BERT-style masked image modelling, fine-tuned on ImageNet-1k",
         on="ImageNet-21k → 1k"),
    # ---- backbones for features / fine-tuning ----
    ModelSpec("dinov2-small", "facebook/dinov2-small", FEATURES, "dinov2", 22.1, 224, "apache-2.0",
              "DINOv2 ViT-S/14 self-supervised backbone (no head): strong frozen features",
              supports_attention=True, supports_gradcam=True, pretrained_on="LVD-142M"),
    # ---- semantic segmentation ----
    ModelSpec("segformer-b0-ade", "nvidia/segformer-b0-finetuned-ade-512-512", SEGMENTATION, "segformer",
              3.8, 512, "other", "SegFormer-B0 fine-tuned on ADE20k (150 classes)", pretrained_on="ADE20k"),
    ModelSpec("mask2former-swin-tiny-ade", "facebook/mask2former-swin-tiny-ade-semantic", SEGMENTATION,
              "mask2former", 47.4, 512, "other", "Mask2Former (Swin-T) semantic segmentation on ADE20k",
              pretrained_on="ADE20k"),
    ModelSpec("upernet-convnext-small", "openmmlab/upernet-convnext-small", SEGMENTATION, "upernet",
              81.9, 512, "mit", "UperNet with a ConvNeXt-S backbone on ADE20k", pretrained_on="ADE20k"),
    # ---- object detection ----
    ModelSpec("detr-resnet-50", "facebook/detr-resnet-50", DETECTION, "detr", 41.6, 800, "apache-2.0",
              "DETR: end-to-end detection with a transformer decoder (COCO)", pretrained_on="COCO 2017", revision="no_timm"),
    ModelSpec("yolos-tiny", "hustvl/yolos-tiny", DETECTION, "yolos", 6.5, 512, "apache-2.0",
              "YOLOS-Ti: a plain ViT as a detector (COCO)", supports_attention=True, pretrained_on="COCO 2017"),
    ModelSpec("rtdetr-r18", "PekingU/rtdetr_r18vd", DETECTION, "rt_detr", 20.2, 640, "apache-2.0",
              "RT-DETR R18: real-time DETR (COCO)", pretrained_on="COCO 2017"),
    # ---- depth estimation (relative inverse depth: larger = nearer) ----
    ModelSpec("dpt-hybrid-midas", "Intel/dpt-hybrid-midas", DEPTH, "dpt", 123.0, 384, "apache-2.0",
              "DPT-Hybrid (MiDaS 3.0): a ViT-hybrid backbone with a convolutional decoder, relative depth",
              pretrained_on="MIX 6 (1.4 M images from 10 depth datasets)"),
    ModelSpec("depth-anything-v2-small", "depth-anything/Depth-Anything-V2-Small-hf", DEPTH, "depth_anything",
              24.8, 518, "apache-2.0", "Depth Anything V2 Small: a DINOv2 ViT-S backbone with a DPT head, relative depth",
              pretrained_on="595 k synthetic images + 62 M pseudo-labelled real images"),
    # ---- zero-shot ----
    ModelSpec("owlv2-base", "google/owlv2-base-patch16-ensemble", ZERO_SHOT_DETECTION, "owlv2", 155.0, 960,
              "apache-2.0", "OWLv2: open-vocabulary detection from text queries"),
    ModelSpec("owlvit-base", "google/owlvit-base-patch32", ZERO_SHOT_DETECTION, "owlvit", 153.2, 768,
              "apache-2.0", "OWL-ViT: open-vocabulary detection from text queries"),
    ModelSpec("clip-vit-base", "openai/clip-vit-base-patch32", ZERO_SHOT_CLASSIFICATION, "clip", 151.3, 224,
              "not stated on the Hub card (openai/CLIP code: MIT)",
              "CLIP ViT-B/32: zero-shot classification from label names", supports_attention=True),
)

_HUB_ID = access.HUB_ID  # kept for callers of the old name


def demo_specs(settings: Settings | None = None) -> list[ModelSpec]:
    """Demo models (built lazily by :mod:`tlweb.engine.demo`); listed only in demo mode."""
    from tlweb.engine.demo import demo_model_specs  # light: no torch at import

    return demo_model_specs(settings or get_settings())


def run_specs(settings: Settings | None = None) -> list[ModelSpec]:
    """Models fine-tuned in this app: single runs and runs inside experiments (``tlweb.engine.runs``),
    each labelled by its short readable title."""
    from tlweb.engine.runs import run_models  # light: no torch at import

    out = []
    for run_id, model_dir, title in run_models(settings or get_settings()):
        spec = local_spec(model_dir, source="run", key=run_id)
        if spec is not None:
            out.append(replace(spec, label_note=title))
    return out


RUN_LABEL_SUFFIX = " (fine-tuned here)"


def _run_spec(name: str, settings: Settings) -> ModelSpec | None:
    """The fine-tuned run that ``name`` means (its key, dropdown label or model folder), if any."""
    from tlweb.engine.runs import find_run, run_title

    root = settings.runs_dir
    key = name[: -len(RUN_LABEL_SUFFIX)] if name.endswith(RUN_LABEL_SUFFIX) else name
    path = Path(name)
    try:  # a name too long for the file system raises OSError rather than "no such file"
        run_dir = find_run(key, settings) if re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", key) else None
        if run_dir is None and path.is_absolute() and path.name == "model" and root.is_dir():
            run_dir = find_run(path.parent.name, settings)
            run_dir = run_dir if run_dir is not None and run_dir.resolve() == path.resolve().parent else None
        if run_dir is not None and (run_dir / "model" / "config.json").is_file():
            spec = local_spec(run_dir / "model", source="run", key=run_dir.name)
            return replace(spec, label_note=run_title(run_dir)) if spec is not None else None
    except OSError:
        pass
    if name.endswith(RUN_LABEL_SUFFIX):  # a dropdown label: titles are not ids, look them up
        return next((s for s in run_specs(settings) if s.label == name), None)
    return None


def list_models(task: str | None = None, settings: Settings | None = None, include_catalog: bool | None = None) -> list[ModelSpec]:
    """Models for a task: fine-tuned runs first, then demo models (demo mode), then the catalog.

    In demo mode the Hub catalog is still listed after the demo models (it works wherever the
    Hub is reachable) unless ``include_catalog=False``.
    """
    settings = settings or get_settings()
    specs: list[ModelSpec] = []
    specs.extend(run_specs(settings))
    if settings.demo:
        specs.extend(demo_specs(settings))
    if include_catalog is None or include_catalog:
        specs.extend(CATALOG)
    if task is not None:
        specs = [s for s in specs if s.task == task]
    return specs


def list_for_pickers(task: str | None = None, settings: Settings | None = None) -> list[ModelSpec]:
    """What a model list shows, in order: the catalog, the demo models (demo mode), then the runs
    fine-tuned here as a group of their own — each single run, and one run per experiment (its best:
    a ladder or a data-efficiency curve holds many). Every run still resolves by its id."""
    from tlweb.engine.runs import ExperimentInfo, list_entries

    settings = settings or get_settings()
    specs = list_models(task, settings)
    order = {"catalog": 0, "demo": 1, "run": 3}
    best: dict[str, str] = {}  # run id → what it stands for in the list
    for entry in list_entries(settings):
        if isinstance(entry, ExperimentInfo):
            pick = entry.best or (entry.runs[-1] if entry.runs else None)
            if pick is not None:
                best[pick.run_id] = f"best of {entry.title}: {pick.part}"
        else:
            best[entry.run_id] = ""
    listed = [s if s.source != "run" or not best[s.key] else replace(s, label_note=best[s.key])
              for s in specs if s.source != "run" or s.key in best]
    return sorted(listed, key=lambda s: order.get(s.source, 2))  # stable: each group keeps its order


def local_spec(folder: Path, source: str = "local", key: str | None = None) -> ModelSpec | None:
    """A spec for a folder produced by ``save_pretrained`` (None if it is not one)."""
    cfg_path = Path(folder) / "config.json"
    try:
        cfg = json.loads(cfg_path.read_text())
    except (OSError, ValueError):
        return None
    meta = cfg.get("tlweb", {}) if isinstance(cfg.get("tlweb"), dict) else {}
    size = meta.get("input_size") or cfg.get("image_size")
    if isinstance(size, (list, tuple)):
        size = size[0]
    return ModelSpec(
        key=key or meta.get("key") or Path(folder).name,
        hub_id=str(Path(folder).resolve()),
        task=meta.get("task") or task_from_config(cfg),
        family=meta.get("family") or cfg.get("model_type", "unknown"),
        params_m=meta.get("params_m"),
        input_size=int(size) if isinstance(size, (int, float)) else None,
        license=meta.get("license", "see the source model"),
        description=meta.get("description", ""),
        supports_attention=cfg.get("model_type") in ("vit", "deit", "dinov2", "beit", "swin", "yolos", "clip"),
        supports_gradcam=True,
        source=source,
        pretrained_on=meta.get("pretrained_on", ""),
    )


def resolve(name: str, task: str | None = None, settings: Settings | None = None) -> ModelSpec:
    """Turn what a user picked or typed into a :class:`ModelSpec`.

    Accepts a catalog key, a dropdown label, a catalog Hub id, a demo/run key, any Hub id
    (``owner/name``) and, in local mode only, a local folder (made by ``save_pretrained``). In
    shared mode (:attr:`Settings.shared`) a name is never looked up on disk: anything that is not
    in the lists, a run or a Hub id is refused with :data:`tlweb.access.SHARED_RULE`.
    """
    settings = settings or get_settings()
    name = access.model_name(name, settings)
    candidates = list(demo_specs(settings)) if settings.demo or name.startswith("demo-") else []
    candidates.extend(CATALOG)
    for spec in candidates:  # a demo model's hub_id is its folder: named only by key or label when shared
        if name in (spec.key, spec.label) or (name == spec.hub_id and not (settings.shared and spec.is_local)):
            return spec
    path_like = access.looks_like_path(name)
    run = _run_spec(name, settings) if not (settings.shared and path_like) else None
    if run is not None:  # a direct look-up: no scan of every run on each request
        return run
    if settings.shared:
        if path_like or not access.is_hub_id(name):
            raise access.refuse_path(name)
        return _hub_spec(name, task)
    shown = clip(name)
    path = Path(name).expanduser()
    try:
        exists = path.exists()
    except OSError:  # name too long for the file system, etc.
        exists = False
    if exists:
        if not path.is_dir():
            raise ModelError(f"'{shown}' is a file, not a model folder: give the folder that holds config.json.")
        spec = local_spec(path)
        if spec is None:
            raise ModelError(
                f"The folder '{shown}' has no readable config.json, so it is not a saved model "
                "(save one with save_pretrained)."
            )
        return spec
    if name.startswith(("/", "./", "../", "~")) or "\\" in name:
        raise ModelError(f"The folder '{shown}' does not exist.")
    if not access.is_hub_id(name):
        raise ModelError(
            f"'{shown}' is neither a model in the list, a local folder, nor a valid Hugging Face model id "
            "(ids look like 'google/vit-base-patch16-224')."
        )
    return _hub_spec(name, task)


def _hub_spec(name: str, task: str | None) -> ModelSpec:
    return ModelSpec(key=name, hub_id=name, task=task or CLASSIFICATION, family="unknown", source="hub",
                     license="see the model card")


def shown_name(spec: ModelSpec) -> str:
    """How a model is named to a client: its Hub id, or its key for demo models, runs and folders
    (never an absolute path on the server), clipped."""
    return clip(spec.hub_id if spec.source in ("catalog", "hub") else spec.key, 80)


def with_task(spec: ModelSpec, task: str) -> ModelSpec:
    return replace(spec, task=task)
