"""Tiny random-weight image classifiers, one per catalog family."""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.demo import DemoModel, label_maps, register, save_model, seed

TASK = "image-classification"
SIZE = 64  # input side in pixels: small so CPU inference takes milliseconds
LABELS = [
    "tabby cat", "golden retriever", "goldfish", "school bus", "espresso",
    "daisy", "mountain bike", "lighthouse", "pizza", "red fox",
]








def build_vit(folder: Path) -> None:
    from transformers import ViTConfig, ViTForImageClassification, ViTImageProcessorPil

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = ViTConfig(image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=64, id2label=id2label, label2id=label2id)
    proc = ViTImageProcessorPil(size={"height": SIZE, "width": SIZE})
    save_model(folder, ViTForImageClassification(cfg), proc, SIZE)


def build_deit(folder: Path) -> None:
    from transformers import DeiTConfig, DeiTForImageClassification, DeiTImageProcessorPil

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = DeiTConfig(image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, id2label=id2label, label2id=label2id)
    proc = DeiTImageProcessorPil(size={"height": SIZE + 8, "width": SIZE + 8}, crop_size={"height": SIZE, "width": SIZE})
    save_model(folder, DeiTForImageClassification(cfg), proc, SIZE)


def build_swin(folder: Path) -> None:
    from transformers import SwinConfig, SwinForImageClassification, ViTImageProcessorPil

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = SwinConfig(image_size=SIZE, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 2], window_size=4,
                     id2label=id2label, label2id=label2id)
    proc = ViTImageProcessorPil(size={"height": SIZE, "width": SIZE})
    save_model(folder, SwinForImageClassification(cfg), proc, SIZE)


def build_convnext(folder: Path) -> None:
    from transformers import ConvNextConfig, ConvNextForImageClassification, ConvNextImageProcessorPil

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = ConvNextConfig(num_stages=2, hidden_sizes=[16, 32], depths=[1, 1], id2label=id2label, label2id=label2id)
    proc = ConvNextImageProcessorPil(size={"shortest_edge": SIZE}, crop_pct=0.875)
    save_model(folder, ConvNextForImageClassification(cfg), proc, SIZE)


def build_resnet(folder: Path) -> None:
    from transformers import ConvNextImageProcessorPil, ResNetConfig, ResNetForImageClassification

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1], layer_type="basic",
                       id2label=id2label, label2id=label2id)
    proc = ConvNextImageProcessorPil(size={"shortest_edge": SIZE}, crop_pct=0.875)
    save_model(folder, ResNetForImageClassification(cfg), proc, SIZE)


def build_efficientnet(folder: Path) -> None:
    from transformers import EfficientNetConfig, EfficientNetForImageClassification, EfficientNetImageProcessorPil

    seed()
    id2label, label2id = label_maps(LABELS)
    # hidden_dim must equal round_filters(1280) for the chosen width coefficient
    width = 0.25
    cfg = EfficientNetConfig(image_size=SIZE, width_coefficient=width, depth_coefficient=0.25, hidden_dim=320,
                             id2label=id2label, label2id=label2id)
    proc = EfficientNetImageProcessorPil(size={"height": SIZE, "width": SIZE})
    save_model(folder, EfficientNetForImageClassification(cfg), proc, SIZE)


def build_mobilenet_v2(folder: Path) -> None:
    from transformers import MobileNetV2Config, MobileNetV2ForImageClassification, MobileNetV2ImageProcessorPil

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = MobileNetV2Config(image_size=SIZE, depth_multiplier=0.25, id2label=id2label, label2id=label2id)
    proc = MobileNetV2ImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    save_model(folder, MobileNetV2ForImageClassification(cfg), proc, SIZE)


def build_dinov2(folder: Path) -> None:
    from transformers import BitImageProcessorPil, Dinov2Config, Dinov2ForImageClassification

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = Dinov2Config(image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                       mlp_ratio=2, id2label=id2label, label2id=label2id)
    proc = BitImageProcessorPil(size={"shortest_edge": SIZE}, crop_size={"height": SIZE, "width": SIZE})
    save_model(folder, Dinov2ForImageClassification(cfg), proc, SIZE)


def build_beit(folder: Path) -> None:
    from transformers import BeitConfig, BeitForImageClassification, BeitImageProcessorPil

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = BeitConfig(image_size=SIZE, patch_size=8, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                     intermediate_size=64, use_mean_pooling=True, id2label=id2label, label2id=label2id)
    proc = BeitImageProcessorPil(size={"height": SIZE, "width": SIZE}, do_center_crop=False)
    save_model(folder, BeitForImageClassification(cfg), proc, SIZE)


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
