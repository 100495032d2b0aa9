"""THE model catalog, as data: :class:`ModelSpec`, the curated Hub checkpoints per task, and the name rules
(a dropdown label, the name a client is shown, the spec of a saved folder or of a Hub id).

Which models a person can pick (demo models and fine-tuned runs too) and the one gate from a name to a
spec, :func:`tlweb.engine.listing.resolve`, live in the engine: nothing here imports it.

Adding a model: append a :class:`ModelSpec` to ``CATALOG`` (check the task and the licence
on its model card first). Nothing here imports torch or transformers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

from tlweb.errors import clip
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


def _cls(key, hub_id, family, params_m, size=224, license="apache-2.0", desc="", on="ImageNet-1k"):
    return ModelSpec(
        key=key,
        hub_id=hub_id,
        task=CLASSIFICATION,
        family=family,
        params_m=params_m,
        input_size=size,
        license=license,
        description=desc,
        pretrained_on=on,
    )


CATALOG: tuple[ModelSpec, ...] = (
    # ---- image classification (ImageNet-1k heads) ----
    _cls("vit-base", "google/vit-base-patch16-224", "vit", 86.6,
         desc="ViT-B/16, pretrained on ImageNet-21k, fine-tuned on ImageNet-1k", on="ImageNet-21k → 1k"),
    _cls("deit-small", "facebook/deit-small-patch16-224", "vit", 22.1,
         desc="DeiT-S/16: a data-efficient ViT trained on ImageNet-1k only"),
    _cls("swin-tiny", "microsoft/swin-tiny-patch4-window7-224", "swin", 28.3,
         desc="Swin-T: hierarchical ViT with shifted windows"),
    _cls("convnext-tiny", "facebook/convnext-tiny-224", "convnext", 28.6,
         desc="ConvNeXt-T: a CNN modernised with transformer design choices"),
    _cls("resnet-50", "microsoft/resnet-50", "resnet", 25.6,
         desc="ResNet-50 v1.5: the classic residual CNN"),
    _cls("efficientnet-b0", "google/efficientnet-b0", "efficientnet", 5.3,
         desc="EfficientNet-B0: compound-scaled mobile CNN"),
    _cls("mobilenet-v2", "google/mobilenet_v2_1.0_224", "mobilenet_v2", 3.5, license="other",
         desc="MobileNetV2 1.0: inverted residuals for phones"),
    _cls("dinov2-small-linear", "facebook/dinov2-small-imagenet1k-1-layer", "dinov2", 22.8,
         desc="DINOv2 ViT-S/14 self-supervised features + a linear ImageNet head",
         on="LVD-142M (self-supervised) + linear head on ImageNet-1k"),
    _cls("beit-base", "microsoft/beit-base-patch16-224", "beit", 86.5,
         desc="BEiT-B/16: BERT-style masked image modelling, fine-tuned on ImageNet-1k",
         on="ImageNet-21k → 1k"),
    # ---- backbones for features / fine-tuning ----
    ModelSpec("dinov2-small", "facebook/dinov2-small", FEATURES, "dinov2", 22.1, 224, "apache-2.0",
              "DINOv2 ViT-S/14 self-supervised backbone (no head): strong frozen features",
              pretrained_on="LVD-142M"),
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
              "YOLOS-Ti: a plain ViT as a detector (COCO)", pretrained_on="COCO 2017"),
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
              "CLIP ViT-B/32: zero-shot classification from label names"),
)

RUN_LABEL_SUFFIX = " (fine-tuned here)"


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
        source=source,
        pretrained_on=meta.get("pretrained_on", ""),
    )


def hub_spec(name: str, task: str | None) -> ModelSpec:
    """A spec for a Hub id that is not in the catalog (what it is shows once its config is read)."""
    return ModelSpec(key=name, hub_id=name, task=task or CLASSIFICATION, family="unknown", source="hub",
                     license="see the model card")


def shown_name(spec: ModelSpec) -> str:
    """How a model is named to a client: its Hub id, or its key for demo models, runs and folders
    (never an absolute path on the server), clipped."""
    return clip(spec.hub_id if spec.source in ("catalog", "hub") else spec.key, 80)


def with_task(spec: ModelSpec, task: str) -> ModelSpec:
    return replace(spec, task=task)
