"""What segmentation's ``decoder`` and detection's ``head`` strategies (and full, scratch, LoRA) train on
real transformers architectures, tiny and random: the task-side description of which parameters are
encoder / decoder / head (:mod:`tlweb.engine.train.parts`) read from SegFormer, UperNet, DPT,
Mask2Former, DETR, RT-DETR and YOLOS module names; and a strategy of another task is one sentence."""

from __future__ import annotations

import pytest
import torch

from tlweb.engine.train import TrainConfig, get_strategy
from tlweb.engine.train.parts import detection_parts, segmentation_parts
from tlweb.engine.train.plan import param_groups
from tlweb.engine.train.tasks import TrainTask, base
from tlweb.errors import ModelError

K = 3  # labels


def _segformer():
    from transformers import SegformerConfig, SegformerForSemanticSegmentation

    return SegformerForSemanticSegmentation(SegformerConfig(
        num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1], hidden_sizes=[8, 16], num_attention_heads=[1, 2],
        decoder_hidden_size=16, num_labels=K, patch_sizes=[7, 3], strides=[4, 2], mlp_ratios=[2, 2]))


def _upernet():
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation

    backbone = ConvNextConfig(depths=[1, 1, 1, 1], hidden_sizes=[8, 16, 32, 64],
                              out_features=["stage1", "stage2", "stage3", "stage4"])
    return UperNetForSemanticSegmentation(UperNetConfig(backbone_config=backbone, hidden_size=16,
                                                        auxiliary_in_channels=32, num_labels=K))


def _dpt():
    from transformers import DPTConfig, DPTForSemanticSegmentation

    return DPTForSemanticSegmentation(DPTConfig(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=64,
        patch_size=16, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 16, 32, 32], fusion_hidden_size=16,
        head_hidden_size=16, num_labels=K))


def _mask2former():
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    swin = SwinConfig(embed_dim=32, depths=[1, 1, 1, 1], num_heads=[1, 1, 2, 2],
                      out_features=["stage1", "stage2", "stage3", "stage4"])
    return Mask2FormerForUniversalSegmentation(Mask2FormerConfig(
        backbone_config=swin, feature_size=32, mask_feature_size=32, hidden_dim=32, encoder_feedforward_dim=32,
        dim_feedforward=32, decoder_layers=2, encoder_layers=1, num_queries=5, num_labels=K, num_attention_heads=2))


def _detr():
    from transformers import DetrConfig, DetrForObjectDetection, ResNetConfig

    backbone = ResNetConfig(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], out_features=["stage2"])
    return DetrForObjectDetection(DetrConfig(
        use_timm_backbone=False, backbone_config=backbone, d_model=16, encoder_layers=1, decoder_layers=1,
        encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=5,
        num_labels=K))


def _rt_detr():
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig

    backbone = RTDetrResNetConfig(embedding_size=8, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
                                  out_features=["stage2", "stage3", "stage4"])
    return RTDetrForObjectDetection(RTDetrConfig(
        backbone_config=backbone, encoder_hidden_dim=16, encoder_in_channels=[32, 64, 128], d_model=16,
        encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2, encoder_ffn_dim=32,
        decoder_ffn_dim=32, num_queries=5, num_labels=K, decoder_in_channels=[16, 16, 16]))


def _yolos():
    from transformers import YolosConfig, YolosForObjectDetection

    return YolosForObjectDetection(YolosConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                               intermediate_size=64, image_size=[64, 64], patch_size=16,
                                               num_detection_tokens=5, num_labels=K))


SEGMENTERS = {"segformer": (_segformer, ("segformer",), ("decode_head.classifier",)),
              "upernet": (_upernet, ("backbone",), ("decode_head.classifier", "auxiliary_head.classifier")),
              "dpt": (_dpt, ("dpt",), ("head.head.4", "auxiliary_head.head.4")),
              "mask2former": (_mask2former, ("model.pixel_level_module.encoder",), ("class_predictor",))}
DETECTORS = {"detr": (_detr, ("model.backbone",), ("class_labels_classifier",)),
             "rt_detr": (_rt_detr, ("model.backbone",), ("model.enc_score_head", "model.decoder.class_embed",
                                                         "model.denoising_class_embed")),
             "yolos": (_yolos, ("vit",), ("class_labels_classifier",))}


def _under(name: str, prefixes) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _check_frozen_encoder(model, parts, strategy: str):
    cfg = TrainConfig("m", "d", strategy)
    setup = get_strategy(strategy).setup(model, cfg, parts)
    trainable = {n for n, p in setup.model.named_parameters() if p.requires_grad}
    frozen = {n for n, p in setup.model.named_parameters() if not p.requires_grad}
    assert frozen and trainable
    assert all(_under(n, parts.encoder) for n in frozen)  # what is frozen is the encoder …
    assert all(not _under(n, parts.encoder) for n in trainable)  # … and all of it
    heads = [n for n in trainable if _under(n, parts.head)]
    assert heads and len(heads) < len(trainable)  # the new head trains, and more than the head (decoder / neck)
    groups = param_groups(setup.model.named_parameters(), setup.head_prefix, 1e-3, 10.0, 0.01)
    head_ids = {id(p) for n, p in setup.model.named_parameters() if n in heads}
    for g in groups:  # the head (and only the head) at head_mult × the learning rate
        assert all((id(p) in head_ids) == (g["lr"] == pytest.approx(1e-2)) for p in g["params"])
    return setup


@pytest.mark.parametrize("family", list(SEGMENTERS))
def test_decoder_freezes_exactly_the_segmentation_encoder(family):
    build, encoder, head = SEGMENTERS[family]
    model = build()
    parts = segmentation_parts(model)
    assert parts.encoder == encoder and parts.head == head
    setup = _check_frozen_encoder(model, parts, "decoder")
    assert setup.trains == "all but the encoder / backbone"
    full = get_strategy("full").setup(model, TrainConfig("m", "d", "full"), parts)
    assert all(p.requires_grad for p in full.model.parameters())


@pytest.mark.parametrize("family", list(DETECTORS))
def test_head_freezes_exactly_the_detection_backbone(family):
    build, encoder, head = DETECTORS[family]
    model = build()
    parts = detection_parts(model)
    assert parts.encoder == encoder and parts.head == head
    _check_frozen_encoder(model, parts, "head")


def test_lora_on_a_segmenter_adapts_the_encoder_and_trains_decoder_and_head():
    model = _segformer()
    parts = segmentation_parts(model)
    setup = get_strategy("lora").setup(model, TrainConfig("m", "d", "lora", lora_r=2), parts)
    trainable = [n for n, p in setup.model.named_parameters() if p.requires_grad]
    adapters = [n for n in trainable if "lora_" in n]
    assert adapters and all(".segformer." in n and ("q_proj" in n or "v_proj" in n) for n in adapters)
    assert any("decode_head" in n and "classifier" in n for n in trainable)  # the new head
    assert any("decode_head" in n and "linear_fuse" in n for n in trainable)  # the decoder
    assert not any("segformer" in n and "lora_" not in n for n in trainable)  # encoder weights stay frozen
    merged = setup.finish(setup.model)  # adapters merged before saving: a plain SegFormer again
    assert type(merged).__name__ == "SegformerForSemanticSegmentation"
    x = torch.rand(1, 3, 32, 32)
    assert merged(pixel_values=x).logits.shape[1] == K


def test_parts_of_an_unknown_architecture_fall_back_or_say_so():
    from types import SimpleNamespace

    class Odd(torch.nn.Module):
        base_model_prefix = "body"

        def __init__(self):
            super().__init__()
            self.config = SimpleNamespace(model_type="odd", num_labels=K)
            self.body = torch.nn.Conv2d(3, 8, 3)
            self.neck = torch.nn.Conv2d(8, 8, 1)
            self.out = torch.nn.Conv2d(8, K, 1)

    parts = segmentation_parts(Odd())
    assert parts.encoder == ("body",) and parts.head == ("out",) and parts.part_of("neck.weight") == "decoder"
    odd = Odd()
    odd.base_model_prefix = "nothing"
    with pytest.raises(ModelError, match="cannot tell the encoder from the detection head of 'odd' models"):
        detection_parts(odd)


class _Task(TrainTask):
    def __init__(self, name, label, strategies):
        self.name, self.label, self.strategies = name, label, strategies


def test_a_strategy_of_another_task_is_one_sentence(monkeypatch):
    monkeypatch.setattr(base, "_TASKS", dict(base._TASKS))
    for t in (_Task("image-segmentation", "semantic segmentation", ("decoder", "full", "lora", "scratch")),
              _Task("object-detection", "object detection", ("head", "full", "scratch"))):
        base.register_train_task(t)
    det, seg, cls = (base.train_task(n) for n in ("object-detection", "image-segmentation", "image-classification"))
    with pytest.raises(ModelError) as e:
        det.strategy("decoder")
    assert str(e.value) == ("'decoder' is a strategy for semantic segmentation; for object detection pick head, full "
                            "or scratch.")
    with pytest.raises(ModelError, match="'linear' is a strategy for image classification; for semantic segmentation"):
        seg.strategy("linear")
    with pytest.raises(ModelError, match="'lora' is a strategy for image classification and semantic segmentation"):
        det.strategy("lora")
    assert det.strategy("full") is get_strategy("full") and cls.strategy("lora") is get_strategy("lora")
    with pytest.raises(ModelError, match="Unknown strategy 'magic'"):
        seg.strategy("magic")
    with pytest.raises(ModelError, match="Fine-tuning is not available for 'depth-estimation'; pick one of"):
        base.train_task("depth-estimation")
