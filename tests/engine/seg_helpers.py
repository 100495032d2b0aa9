"""Tiny random-weight segmenters of every family the segmentation task trains, saved with save_pretrained
(plain transformers folders, no tlweb metadata), and a small folder of generated scenes."""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.data.scenes import write_scenes

KINDS = ("circle", "square", "triangle")
ADE = {0: "wall", 1: "sky", 2: "floor", 3: "tree", 4: "road"}  # a "pretraining" label set unlike the data's
FAMILIES = ("segformer", "upernet-convnext", "upernet-swin", "dpt", "mask2former", "maskformer")


def scenes(root: Path, n_train: int = 12, n_test: int = 4, size: int = 40, seed: int = 0) -> Path:
    return write_scenes(root, list(KINDS), n_train, n_test, size=size, seed=seed)


def _swin(size: int):
    from transformers import SwinConfig

    return SwinConfig(image_size=size, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                      window_size=2, out_features=["stage1", "stage2", "stage3", "stage4"])


def tiny_segmenter(family: str, folder: Path, size: int = 32, seed: int = 0) -> Path:
    """A ``family`` segmenter with the 5 ADE-like classes above, input ``size`` px, in ``folder``."""
    import torch
    import transformers as t

    torch.manual_seed(seed)
    labels = {"id2label": dict(ADE), "label2id": {v: k for k, v in ADE.items()}}
    proc = t.SegformerImageProcessorPil(size={"height": size, "width": size})
    if family == "segformer":
        model = t.SegformerForSemanticSegmentation(t.SegformerConfig(
            num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], num_attention_heads=[1, 2],
            patch_sizes=[3, 3], strides=[2, 2], mlp_ratios=[2, 2], decoder_hidden_size=16, **labels))
    elif family == "upernet-convnext":
        backbone = t.ConvNextConfig(num_stages=4, hidden_sizes=[8, 8, 16, 16], depths=[1, 1, 1, 1],
                                    out_features=["stage1", "stage2", "stage3", "stage4"])
        model = t.UperNetForSemanticSegmentation(t.UperNetConfig(backbone_config=backbone, hidden_size=16,
                                                                 use_auxiliary_head=False, **labels))
    elif family == "upernet-swin":
        model = t.UperNetForSemanticSegmentation(t.UperNetConfig(
            backbone_config=_swin(size), hidden_size=16, use_auxiliary_head=True, auxiliary_in_channels=64,
            auxiliary_channels=8, **labels))
    elif family == "dpt":
        model = t.DPTForSemanticSegmentation(t.DPTConfig(
            hidden_size=16, num_hidden_layers=4, num_attention_heads=2, intermediate_size=32, image_size=size,
            patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16], fusion_hidden_size=8,
            head_hidden_size=8, use_auxiliary_head=True, **labels))
        proc = t.DPTImageProcessorPil(size={"height": size, "width": size}, keep_aspect_ratio=False)
    elif family == "mask2former":
        model = t.Mask2FormerForUniversalSegmentation(t.Mask2FormerConfig(
            backbone_config=_swin(size), feature_size=32, mask_feature_size=32, hidden_dim=32,
            encoder_feedforward_dim=32, dim_feedforward=32, num_attention_heads=2, encoder_layers=1, decoder_layers=2,
            num_queries=6, common_stride=4, **labels))
        proc = t.Mask2FormerImageProcessorPil(size={"shortest_edge": size, "longest_edge": 4 * size}, size_divisor=32)
    elif family == "maskformer":
        model = t.MaskFormerForInstanceSegmentation(t.MaskFormerConfig(
            backbone_config=_swin(size), fpn_feature_size=32, mask_feature_size=32, num_queries=6,
            decoder_config={"model_type": "detr", "d_model": 32, "encoder_layers": 1, "decoder_layers": 1,
                            "decoder_attention_heads": 2, "encoder_attention_heads": 2, "decoder_ffn_dim": 32,
                            "encoder_ffn_dim": 32, "num_queries": 6},
            **labels))
        proc = t.MaskFormerImageProcessorPil(size={"shortest_edge": size, "longest_edge": 4 * size}, size_divisor=32)
    else:
        raise ValueError(family)
    model.save_pretrained(folder)
    proc.save_pretrained(folder)
    return Path(folder)
