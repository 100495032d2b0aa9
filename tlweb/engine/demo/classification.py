"""Tiny random-weight image classifiers, one per catalog family.

Each family is one row of ``FAMILIES``: the transformers config, model and processor classes
(by name, imported when a model is built) with the arguments that make them tiny.
"""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.demo import DemoModel, label_maps, register, save_model, seed

TASK = "image-classification"
SIZE = 64  # input side in pixels: small so CPU inference takes milliseconds
LABELS = [
    "tabby cat", "golden retriever", "goldfish", "school bus", "espresso",
    "daisy", "mountain bike", "lighthouse", "pizza", "red fox",
]
_SQUARE = {"height": SIZE, "width": SIZE}
_VIT_LIKE = {"image_size": SIZE, "patch_size": 8, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2}

# (key, family, config class, model class, processor class, processor kwargs, config kwargs)
FAMILIES = (
    ("demo-vit", "vit", "ViTConfig", "ViTForImageClassification", "ViTImageProcessorPil",
     {"size": _SQUARE}, {**_VIT_LIKE, "intermediate_size": 64}),
    ("demo-deit", "deit", "DeiTConfig", "DeiTForImageClassification", "DeiTImageProcessorPil",
     {"size": {"height": SIZE + 8, "width": SIZE + 8}, "crop_size": _SQUARE}, {**_VIT_LIKE, "intermediate_size": 64}),
    ("demo-swin", "swin", "SwinConfig", "SwinForImageClassification", "ViTImageProcessorPil",
     {"size": _SQUARE},
     {"image_size": SIZE, "patch_size": 4, "embed_dim": 16, "depths": [1, 1], "num_heads": [2, 2], "window_size": 4}),
    ("demo-convnext", "convnext", "ConvNextConfig", "ConvNextForImageClassification",
     "ConvNextImageProcessorPil", {"size": {"shortest_edge": SIZE}, "crop_pct": 0.875},
     {"num_stages": 2, "hidden_sizes": [16, 32], "depths": [1, 1]}),
    ("demo-resnet", "resnet", "ResNetConfig", "ResNetForImageClassification", "ConvNextImageProcessorPil",
     {"size": {"shortest_edge": SIZE}, "crop_pct": 0.875},
     {"embedding_size": 16, "hidden_sizes": [16, 32], "depths": [1, 1], "layer_type": "basic"}),
    # EfficientNet: hidden_dim must equal round_filters(1280) for the chosen width coefficient
    ("demo-efficientnet", "efficientnet", "EfficientNetConfig", "EfficientNetForImageClassification",
     "EfficientNetImageProcessorPil", {"size": _SQUARE},
     {"image_size": SIZE, "width_coefficient": 0.25, "depth_coefficient": 0.25, "hidden_dim": 320}),
    ("demo-mobilenet-v2", "mobilenet_v2", "MobileNetV2Config", "MobileNetV2ForImageClassification",
     "MobileNetV2ImageProcessorPil", {"size": {"shortest_edge": SIZE}, "crop_size": _SQUARE},
     {"image_size": SIZE, "depth_multiplier": 0.25}),
    ("demo-dinov2", "dinov2", "Dinov2Config", "Dinov2ForImageClassification", "BitImageProcessorPil",
     {"size": {"shortest_edge": SIZE}, "crop_size": _SQUARE}, {**_VIT_LIKE, "mlp_ratio": 2}),
    ("demo-beit", "beit", "BeitConfig", "BeitForImageClassification", "BeitImageProcessorPil",
     {"size": _SQUARE, "do_center_crop": False}, {**_VIT_LIKE, "intermediate_size": 64, "use_mean_pooling": True}),
)


def builder(config: str, model: str, processor: str, processor_kwargs: dict, config_kwargs: dict):
    """``build(folder)`` for one family: a seeded random model with the demo labels, saved with its processor."""

    def build(folder: Path) -> None:
        import transformers

        seed()
        id2label, label2id = label_maps(LABELS)
        cfg = getattr(transformers, config)(**config_kwargs, id2label=id2label, label2id=label2id)
        proc = getattr(transformers, processor)(**processor_kwargs)
        save_model(folder, getattr(transformers, model)(cfg), proc, SIZE)

    return build


for _key, _family, *_classes, _proc_kwargs, _cfg_kwargs in FAMILIES:
    register(DemoModel(key=_key, family=_family, task=TASK, build=builder(*_classes, _proc_kwargs, _cfg_kwargs),
                       description=f"Tiny random-weight {_family} classifier (10 made-up ImageNet classes)"))
