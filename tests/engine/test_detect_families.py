"""Every DETR-family detector transformers builds without custom kernels fine-tunes through the detection
plug-in: Conditional DETR, Deformable DETR (PyTorch attention), RT-DETR v2 and D-FINE as tiny configs
saved with plain save_pretrained (DETR, RT-DETR and YOLOS are the demo detectors, tested beside the task)."""

from __future__ import annotations

import pytest
import torch
import transformers as tf

from tests.engine.ft_helpers import one_thread  # noqa: F401
from tlweb.engine.train.tasks import Feed, train_task

pytestmark = pytest.mark.usefixtures("one_thread")

LABELS = {i: f"old{i}" for i in range(4)}
MAPS = {"id2label": LABELS, "label2id": {v: k for k, v in LABELS.items()}}


def _resnet(outs):
    return tf.ResNetConfig(embedding_size=8, hidden_sizes=[8, 16, 24, 32], depths=[1, 1, 1, 1], layer_type="basic",
                           out_features=outs)


def _rt_backbone():
    return tf.RTDetrResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 48, 64], depths=[1, 1, 1, 1],
                                 layer_type="bottleneck", out_features=["stage2", "stage3", "stage4"])


RT = dict(encoder_hidden_dim=32, encoder_in_channels=[32, 48, 64], feat_strides=[8, 16, 32], encoder_ffn_dim=64,
          encoder_attention_heads=2, d_model=32, decoder_in_channels=[32, 32, 32], decoder_ffn_dim=64,
          decoder_attention_heads=2, decoder_layers=2, num_queries=10, num_denoising=10)
SMALL = dict(use_timm_backbone=False, use_pretrained_backbone=False, encoder_layers=1, encoder_attention_heads=2,
             decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, num_queries=10)


def _build(family: str):
    size = {"height": 64, "width": 64}
    if family == "conditional_detr":
        cfg = tf.ConditionalDetrConfig(backbone_config=_resnet(["stage4"]), d_model=16, decoder_layers=1, **SMALL, **MAPS)
        return tf.ConditionalDetrForObjectDetection(cfg), tf.ConditionalDetrImageProcessorPil(size=size)
    if family == "deformable_detr":  # d_model a multiple of 32 (GroupNorm); 2 decoder layers (tied box heads)
        cfg = tf.DeformableDetrConfig(backbone_config=_resnet(["stage2", "stage3", "stage4"]), d_model=32,
                                      decoder_layers=2, num_feature_levels=3, encoder_n_points=2, decoder_n_points=2,
                                      **SMALL, **MAPS)
        return tf.DeformableDetrForObjectDetection(cfg), tf.DeformableDetrImageProcessorPil(size=size)
    if family == "rt_detr_v2":
        cfg = tf.RTDetrV2Config(backbone_config=_rt_backbone(), decoder_n_points=2, **RT, **MAPS)
        return tf.RTDetrV2ForObjectDetection(cfg), tf.RTDetrImageProcessorPil(size=size)
    backbone = tf.HGNetV2Config(stem_channels=[3, 8, 8], stage_in_channels=[8, 16, 32, 48],
                                stage_mid_channels=[8, 8, 16, 16], stage_out_channels=[16, 32, 48, 64],
                                stage_num_blocks=[1, 1, 1, 1], stage_downsample=[False, True, True, True],
                                stage_light_block=[False, False, True, True], stage_kernel_size=[3, 3, 5, 5],
                                stage_numb_of_layers=[2, 2, 2, 2], out_features=["stage2", "stage3", "stage4"],
                                hidden_sizes=[16, 32, 48, 64])
    cfg = tf.DFineConfig(backbone_config=backbone, decoder_n_points=[2, 2, 2], hidden_expansion=0.5, **RT, **MAPS)
    return tf.DFineForObjectDetection(cfg), tf.RTDetrImageProcessorPil(size=size)


@pytest.mark.parametrize("family", ["conditional_detr", "deformable_detr", "rt_detr_v2", "d_fine"])
def test_family_fine_tunes(family, settings, tmp_path):
    from tlweb.engine.accel import Normalizer, Runtime
    from tlweb.engine.listing import resolve

    torch.manual_seed(0)
    model, processor = _build(family)
    model.save_pretrained(tmp_path / family)
    processor.save_pretrained(tmp_path / family)
    local = settings.replace(mode="local")
    task = train_task("object-detection")
    data = task.load_data("sample", settings=local)
    model, processor, _ = task.load_model(resolve(str(tmp_path / family), settings=local), data.class_names,
                                          task.strategy("head"), 0, local)
    assert model.config.model_type == family and model.config.id2label == {0: "circle", 1: "square", 2: "triangle"}
    parts = task.parts(model)
    task.strategy("head").setup(model, None, parts)
    assert all(not p.requires_grad for n, p in model.named_parameters() if parts.is_encoder(n))
    enc, test = task.encode(data, "train", processor, local), task.encode(data, "test", processor, local)
    rt = Runtime(local.replace(device="cpu"))
    feed = Feed(rt, processor, Normalizer(processor, rt.device), False, data.class_names)
    loss, loss_parts = task.loss(model, task.batch(enc, torch.arange(4), feed, True, torch.Generator().manual_seed(0)))
    loss.backward()
    assert torch.isfinite(loss) and "loss_giou" in loss_parts
    model.eval()
    with torch.inference_mode():
        ev = task.evaluate(model, test, feed, 8)
    assert 0.0 <= ev.metric <= 1.0 and set(ev.extra["per_class_ap"]) == set(data.class_names)
