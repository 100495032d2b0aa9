"""Tiny random-weight semantic segmenters: SegFormer, Mask2Former and UperNet.

They carry a small ADE20k-like label set so the Segment tab shows plausible class names; the
masks themselves are noise. Heads are re-initialised with a wider spread than the library
default so a random model paints several classes instead of one (still random weights).
"""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.demo import DemoModel, fan_in, label_maps, register, save_model, seed, spread

TASK = "image-segmentation"
SIZE = 128  # input side in pixels: small so CPU inference takes milliseconds
LABELS = [
    "wall", "building", "sky", "floor", "tree", "road", "grass", "person",
    "car", "water", "plant", "chair",
]












def build_segformer(folder: Path) -> None:
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessorPil

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = SegformerConfig(num_encoder_blocks=2, depths=[1, 1], sr_ratios=[4, 2], hidden_sizes=[16, 32],
                          num_attention_heads=[1, 2], patch_sizes=[7, 3], strides=[4, 2], mlp_ratios=[2, 2],
                          decoder_hidden_size=32, id2label=id2label, label2id=label2id)
    model = SegformerForSemanticSegmentation(cfg)
    fan_in(model.decode_head, 1.0)
    proc = SegformerImageProcessorPil(size={"height": SIZE, "width": SIZE})
    save_model(folder, model, proc, SIZE)


def build_upernet(folder: Path) -> None:
    from transformers import ConvNextConfig, SegformerImageProcessorPil, UperNetConfig, UperNetForSemanticSegmentation

    seed()
    id2label, label2id = label_maps(LABELS)
    backbone = ConvNextConfig(num_stages=4, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1],
                              out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = UperNetConfig(backbone_config=backbone, hidden_size=32, use_auxiliary_head=False,
                        auxiliary_in_channels=24, auxiliary_channels=16, id2label=id2label, label2id=label2id)
    model = UperNetForSemanticSegmentation(cfg)
    fan_in(model.decode_head, 1.0)
    # The Hub's UperNet checkpoints ship a SegFormer image processor too.
    proc = SegformerImageProcessorPil(size={"height": SIZE, "width": SIZE})
    save_model(folder, model, proc, SIZE)


def build_mask2former(folder: Path) -> None:
    from transformers import (
        Mask2FormerConfig,
        Mask2FormerForUniversalSegmentation,
        Mask2FormerImageProcessorPil,
        SwinConfig,
    )

    seed()
    id2label, label2id = label_maps(LABELS)
    backbone = SwinConfig(image_size=SIZE, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                          window_size=4, out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = Mask2FormerConfig(backbone_config=backbone, feature_size=32, mask_feature_size=32, hidden_dim=32,
                            encoder_feedforward_dim=64, dim_feedforward=64, num_attention_heads=2, encoder_layers=1,
                            decoder_layers=2, num_queries=12, common_stride=4, id2label=id2label, label2id=label2id)
    model = Mask2FormerForUniversalSegmentation(cfg)
    spread(model.model.transformer_module.decoder.mask_predictor.mask_embedder, 0.5)
    spread(model.class_predictor, 0.8)
    proc = Mask2FormerImageProcessorPil(size={"shortest_edge": SIZE, "longest_edge": 4 * SIZE}, size_divisor=32)
    save_model(folder, model, proc, SIZE)


for _key, _family, _fn, _what in (
    ("demo-segformer", "segformer", build_segformer, "SegFormer"),
    ("demo-mask2former", "mask2former", build_mask2former, "Mask2Former (Swin backbone)"),
    ("demo-upernet", "upernet", build_upernet, "UperNet (ConvNeXt backbone)"),
):
    register(DemoModel(key=_key, family=_family, task=TASK, build=_fn,
                       description=f"Tiny random-weight {_what} segmenter ({len(LABELS)} ADE20k-like classes)"))
