"""Tiny random-weight detectors: DETR, YOLOS, RT-DETR, and zero-shot OWLv2 / OWL-ViT.

Closed-set detectors carry a small COCO-like label set; OWL models read free-text queries
through a tiny character-level CLIP tokenizer built offline. Box and class heads are
re-initialised with a wider spread than the library default so a random model draws boxes
of different sizes and classes instead of one box repeated (still random weights).
"""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.demo import DemoModel, fan_in, label_maps, register, save_model, seed, spread

DETECTION = "object-detection"
ZERO_SHOT = "zero-shot-object-detection"
SIZE = 128  # input side in pixels for the closed-set detectors
OWL_SIZE = 64  # OWL models: 4×4 patches of 16 px → 16 candidate boxes
LABELS = [
    "person", "bicycle", "car", "bus", "bird", "cat", "dog", "horse",
    "bottle", "cup", "chair", "laptop",
]
TEXT_LEN = 16  # OWL text encoders see 16 tokens (as the real checkpoints do)


# --------------------------------------------------------------------------- closed-set


def build_detr(folder: Path) -> None:
    from transformers import DetrConfig, DetrForObjectDetection, DetrImageProcessorPil, ResNetConfig

    seed()
    id2label, label2id = label_maps(LABELS)
    # No timm here: a transformers ResNet backbone that returns its last stage.
    backbone = ResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 32, 64], depths=[1, 1, 1, 1], layer_type="basic",
                            out_features=["stage4"])
    cfg = DetrConfig(backbone_config=backbone, use_timm_backbone=False, use_pretrained_backbone=False, d_model=32,
                     encoder_layers=1, decoder_layers=1, encoder_attention_heads=2, decoder_attention_heads=2,
                     encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=20, id2label=id2label, label2id=label2id)
    model = DetrForObjectDetection(cfg)
    spread(model.model.query_position_embeddings, 1.0)  # distinct queries → distinct boxes
    for part in (model.model.decoder, model.class_labels_classifier, model.bbox_predictor):
        fan_in(part, 2.0)
    proc = DetrImageProcessorPil(size={"shortest_edge": SIZE, "longest_edge": 2 * SIZE})
    save_model(folder, model, proc, SIZE)


def build_yolos(folder: Path) -> None:
    import torch
    from transformers import YolosConfig, YolosForObjectDetection, YolosImageProcessorPil

    seed()
    id2label, label2id = label_maps(LABELS)
    cfg = YolosConfig(image_size=[SIZE, SIZE], patch_size=16, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                      intermediate_size=64, num_detection_tokens=20, id2label=id2label, label2id=label2id)
    model = YolosForObjectDetection(cfg)
    with torch.no_grad():  # the library starts these at zero: every detection token would agree
        model.vit.embeddings.detection_tokens.normal_(0.0, 1.0)
        model.vit.embeddings.position_embeddings.normal_(0.0, 0.1)
    fan_in(model.class_labels_classifier, 1.5)
    fan_in(model.bbox_predictor, 1.5)
    proc = YolosImageProcessorPil(size={"shortest_edge": SIZE, "longest_edge": 2 * SIZE})
    save_model(folder, model, proc, SIZE)


def build_rtdetr(folder: Path) -> None:
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrImageProcessorPil, RTDetrResNetConfig

    seed()
    id2label, label2id = label_maps(LABELS)
    # Keep the bottleneck ResNet: layer_type="basic" breaks RT-DETR's shapes.
    backbone = RTDetrResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 48, 64], depths=[1, 1, 1, 1],
                                  layer_type="bottleneck", out_features=["stage2", "stage3", "stage4"])
    cfg = RTDetrConfig(backbone_config=backbone, encoder_hidden_dim=32, encoder_in_channels=[32, 48, 64],
                       feat_strides=[8, 16, 32], encoder_ffn_dim=64, encoder_attention_heads=2, d_model=32,
                       decoder_in_channels=[32, 32, 32], decoder_ffn_dim=64, decoder_attention_heads=2,
                       decoder_layers=1, num_queries=20, decoder_n_points=2, id2label=id2label, label2id=label2id)
    model = RTDetrForObjectDetection(cfg)
    fan_in(model.model.enc_score_head, 2.0)  # queries picked from every anchor scale, not just the finest
    for head in model.model.decoder.class_embed:
        fan_in(head, 1.5)
    proc = RTDetrImageProcessorPil(size={"height": SIZE, "width": SIZE})
    save_model(folder, model, proc, SIZE)


# --------------------------------------------------------------------------- zero-shot (OWL)


def tiny_clip_tokenizer():
    """A character-level CLIP BPE tokenizer built offline (no files, no Hub).

    Token 0 is a plain character (OWL masks queries with ``input_ids[..., 0] > 0``) and EOS
    is id 1, not 2 (CLIP's pooling needs ``eos_token_id != 2``).
    """
    from transformers import CLIPTokenizer

    vocab = {"!": 0, "<|endoftext|>": 1, "<|startoftext|>": 2, "<|unk|>": 3}
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789-'.,&/")
    for c in chars:
        vocab.setdefault(c, len(vocab))
    for c in chars:
        vocab.setdefault(c + "</w>", len(vocab))
    merges = [("c", "a"), ("ca", "t</w>"), ("d", "o"), ("do", "g</w>"), ("c", "a"), ("ca", "r</w>"),
              ("p", "e"), ("pe", "r"), ("per", "s"), ("pers", "o"), ("perso", "n</w>")]
    seen = []
    for a, b in merges:
        if (a, b) in seen:
            continue
        seen.append((a, b))
        vocab.setdefault(a + b, len(vocab))
    tok = CLIPTokenizer(vocab=vocab, merges=seen, bos_token="<|startoftext|>", eos_token="<|endoftext|>",
                        pad_token="<|endoftext|>", unk_token="<|unk|>")
    tok.model_max_length = TEXT_LEN
    return tok


def _owl(folder: Path, v2: bool) -> None:
    if v2:
        from transformers import Owlv2Config as Config
        from transformers import Owlv2ForObjectDetection as Model
        from transformers import Owlv2ImageProcessorPil as ImageProcessor
        from transformers import Owlv2Processor as Processor
    else:
        from transformers import OwlViTConfig as Config
        from transformers import OwlViTForObjectDetection as Model
        from transformers import OwlViTImageProcessorPil as ImageProcessor
        from transformers import OwlViTProcessor as Processor

    seed()
    tok = tiny_clip_tokenizer()
    text = dict(vocab_size=len(tok.get_vocab()), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, max_position_embeddings=TEXT_LEN, bos_token_id=2, eos_token_id=1,
                pad_token_id=1)
    vision = dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                  image_size=OWL_SIZE, patch_size=16)
    # projection_dim must equal the text hidden size for OWL's query embeddings.
    model = Model(Config(text_config=text, vision_config=vision, projection_dim=32))
    # Small box offsets keep each random box near its patch (OWL's box bias), as trained models do.
    spread(model.box_head.dense0, 0.18, bias_std=0.0)
    spread(model.box_head.dense1, 0.18, bias_std=0.0)
    spread(model.box_head.dense2, 0.3, bias_std=0.05)
    size = {"height": OWL_SIZE, "width": OWL_SIZE}
    if v2:
        image_processor = ImageProcessor(size=size)
    else:
        image_processor = ImageProcessor(size=size, crop_size=size, do_center_crop=False)
    save_model(folder, model, Processor(image_processor=image_processor, tokenizer=tok), OWL_SIZE)


def build_owlv2(folder: Path) -> None:
    _owl(folder, v2=True)


def build_owlvit(folder: Path) -> None:
    _owl(folder, v2=False)


for _key, _family, _task, _fn, _desc in (
    ("demo-detr", "detr", DETECTION, build_detr, "DETR (ResNet backbone) detector"),
    ("demo-yolos", "yolos", DETECTION, build_yolos, "YOLOS (plain ViT) detector"),
    ("demo-rtdetr", "rt_detr", DETECTION, build_rtdetr, "RT-DETR (ResNet backbone) detector"),
    ("demo-owlv2", "owlv2", ZERO_SHOT, build_owlv2, "OWLv2 open-vocabulary detector"),
    ("demo-owlvit", "owlvit", ZERO_SHOT, build_owlvit, "OWL-ViT open-vocabulary detector"),
):
    what = f"{len(LABELS)} COCO-like classes" if _task == DETECTION else "detects whatever you type"
    register(DemoModel(key=_key, family=_family, task=_task, build=_fn,
                       description=f"Tiny random-weight {_desc} ({what})"))
