"""Tiny random-weight image classifiers, one per catalog family."""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.demo import DemoModel, register, stamp_params

TASK = "image-classification"
SIZE = 64  # input side in pixels: small so CPU inference takes milliseconds
LABELS = [
    "tabby cat", "golden retriever", "goldfish", "school bus", "espresso",
    "daisy", "mountain bike", "lighthouse", "pizza", "red fox",
]


def _label_maps(labels=LABELS):
    id2label = {i: name for i, name in enumerate(labels)}
    return id2label, {name: i for i, name in id2label.items()}


def _save(folder: Path, model, processor, size: int = SIZE) -> None:
    model.eval()
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    stamp_params(folder, model, size)


def _seed():
    import torch

    torch.manual_seed(0)


def build_vit(folder: Path) -> None:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    _seed()
    id2label, label2id = _label_maps()
    cfg = ViTConfig(image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, id2label=id2label, label2id=label2id)
    proc = ViTImageProcessorPil(size={"height": SIZE, "width": SIZE})
    _save(folder, ViTForImageClassification(cfg), proc)


def build_deit(folder: Path) -> None:
    from transformers import DeiTConfig, DeiTForImageClassification, DeiTImageProcessorPil

    _seed()
    id2label, label2id = _label_maps()
    cfg = DeiTConfig(image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, id2label=id2label, label2id=label2id)
    proc = DeiTImageProcessorPil(size={"height": SIZE + 8, "width": SIZE + 8}, crop_size={"height": SIZE, "width": SIZE})
    _save(folder, DeiTForImageClassification(cfg), proc)


def build_swin(folder: Path) -> None:
    from transformers import SwinConfig, SwinForImageClassification, ViTImageProcessorPil

    _seed()
    id2label, label2id = _label_maps()
    cfg = SwinConfig(image_size=SIZE, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4,
                     id2label=id2label, label2id=label2id)
    proc = ViTImageProcessorPil(size={"height": SIZE, "width": SIZE})
    _save(folder, SwinForImageClassification(cfg), proc)


def build_convnext(folder: Path) -> None:
    from transformers import ConvNextConfig, ConvNextForImageClassification, ConvNextImageProcessorPil

    _seed()
    id2label, label2id = _label_maps()
    cfg = ConvNextConfig(num_stages=2, hidden_sizes=[16, 32], depths=[1, 1], id2label=id2label, label2id=label2id)
    proc = ConvNextImageProcessorPil(size={"shortest_edge": SIZE}, crop_pct=0.875)
    _save(folder, ConvNextForImageClassification(cfg), proc)


def build_resnet(folder: Path) -> None:
    from transformers import ConvNextImageProcessorPil, ResNetConfig, ResNetForImageClassification

    _seed()
    id2label, label2id = _label_maps()
    cfg = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic",
                       id2label=id2label, label2id=label2id)
    proc = ConvNextImageProcessorPil(size={"shortest_edge": SIZE}, crop_pct=0.875)
    _save(folder, ResNetForImageClassification(cfg), proc)


def build_efficientnet(folder: Path) -> None:
    from transformers import EfficientNetConfig, EfficientNetForImageClassification, EfficientNetImageProcessorPil

    _seed()
    id2label, label2id = _label_maps()
    # hidden_dim must equal round_filters(1280) for the chosen width coefficient
    width = 0.25
    cfg = EfficientNetConfig(image_size=SIZE, width_coefficient=width, depth_coefficient=0.25, hidden_dim=320,
                             id2label=id2label, label2id=label2id)
    proc = EfficientNetImageProcessorPil(size={"height": SIZE, "width": SIZE})
    _save(folder, EfficientNetForImageClassification(cfg), proc)


def build_mobilenet_v2(folder: Path) -> None:
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification, MobileNetV2ImageProcessorPil

    _seed()
    id2label, label2id = _label_maps()
    cfg = MobileNetV2Config(image_size=SIZE, depth_multiplier=0.25, id2label=id2label, label2id=label2id)
    proc = MobileNetV2ImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    _save(folder, MobileNetV2ForImageClassification(cfg), proc)


def build_dinov2(folder: Path) -> None:
    from transformers import BitImageProcessorPil, Dinov2Config, Dinov2ForImageClassification

    _seed()
    id2label, label2id = _label_maps()
    cfg = Dinov2Config(image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       mlp_ratio=2, id2label=id2label, label2id=label2id)
    proc = BitImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    _save(folder, Dinov2ForImageClassification(cfg), proc)


def build_beit(folder: Path) -> None:
    from transformers import BeitConfig, BeitForImageClassification, BeitImageProcessorPil

    _seed()
    id2label, label2id = _label_maps()
    cfg = BeitConfig(image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, use_mean_pooling=True, id2label=id2label, label2id=label2id)
    proc = BeitImageProcessorPil(size={"height": SIZE, "width": SIZE}, do_center_crop=False)
    _save(folder, BeitForImageClassification(cfg), proc)


for _key, _family, _fn, _attn in (
    ("demo-vit", "vit", build_vit, True),
    ("demo-deit", "deit", build_deit, True),
    ("demo-swin", "swin", build_swin, True),
    ("demo-convnext", "convnext", build_convnext, False),
    ("demo-resnet", "resnet", build_resnet, False),
    ("demo-efficientnet", "efficientnet", build_efficientnet, False),
    ("demo-mobilenet-v2", "mobilenet_v2", build_mobilenet_v2, False),
    ("demo-dinov2", "dinov2", build_dinov2, True),
    ("demo-beit", "beit", build_beit, True),
):
    register(DemoModel(key=_key, family=_family, task=TASK, build=_fn, supports_attention=_attn,
                       description=f"Tiny random-weight {_family} classifier (10 made-up ImageNet classes)"))
