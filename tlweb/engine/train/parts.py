"""Which parameters of a segmentation or detection model are its encoder / backbone, its decoder and
its new head (:class:`~tlweb.engine.train.strategies.ModelParts`), by transformers' module names —
what segmentation's ``decoder`` and detection's ``head`` strategies freeze by, and where LoRA goes.

Worked out on transformers 5 models (tiny configs in the tests): SegFormer (``segformer`` /
``decode_head``), UperNet (``backbone`` / ``decode_head`` + ``auxiliary_head``), DPT (``dpt`` /
``neck`` + ``head`` + ``auxiliary_head``), BEiT, MobileViT, Mask2Former and MaskFormer
(``model.pixel_level_module.encoder`` / the pixel decoder and the transformer module /
``class_predictor``); DETR and its kin (``model.backbone`` / the transformer, ``bbox_predictor`` /
``class_labels_classifier``), RT-DETR (``model.backbone`` / … / ``model.enc_score_head``,
``model.decoder.class_embed``, ``model.denoising_class_embed``), YOLOS (``vit`` / ``bbox_predictor`` /
``class_labels_classifier``). Another architecture falls back to its ``base_model_prefix`` (or its
``backbone``) as the encoder and the layers sized by the number of labels as the head.
"""

from __future__ import annotations

from tlweb.engine.train.strategies import ModelParts
from tlweb.errors import ModelError

# model_type -> (encoder prefixes, decoder prefixes, head prefixes or None: the label-sized layers found)
SEGMENTATION_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...] | None]] = {
    "segformer": (("segformer",), ("decode_head",), ("decode_head.classifier",)),
    "upernet": (("backbone",), ("decode_head", "auxiliary_head"), ("decode_head.classifier", "auxiliary_head.classifier")),
    "dpt": (("dpt",), ("neck", "head", "auxiliary_head"), None),  # the last convolution of each head
    "beit": (("beit",), ("fpn1", "fpn2", "fpn3", "fpn4", "decode_head", "auxiliary_head"),
             ("decode_head.classifier", "auxiliary_head.classifier")),
    "data2vec-vision": (("data2vec_vision",), ("fpn1", "fpn2", "fpn3", "fpn4", "decode_head", "auxiliary_head"),
                        ("decode_head.classifier", "auxiliary_head.classifier")),
    "mobilevit": (("mobilevit",), ("segmentation_head",), ("segmentation_head.classifier",)),
    "mobilevitv2": (("mobilevitv2",), ("segmentation_head",), ("segmentation_head.classifier",)),
    "mobilenet_v2": (("mobilenet_v2",), ("segmentation_head",), ("segmentation_head.classifier",)),
    "mask2former": (("model.pixel_level_module.encoder",),
                    ("model.pixel_level_module.decoder", "model.transformer_module"), ("class_predictor",)),
    "maskformer": (("model.pixel_level_module.encoder",),
                   ("model.pixel_level_module.decoder", "model.transformer_module"), ("class_predictor",)),
}

DETECTION_PARTS: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...] | None]] = {
    "detr": (("model.backbone",), ("model.input_projection", "model.query_position_embeddings", "model.encoder",
                                   "model.decoder", "bbox_predictor"), ("class_labels_classifier",)),
    "conditional_detr": (("model.backbone",), ("model.input_projection", "model.query_position_embeddings",
                                               "model.encoder", "model.decoder", "bbox_predictor"),
                         ("class_labels_classifier",)),
    "table-transformer": (("model.backbone",), ("model.input_projection", "model.query_position_embeddings",
                                                "model.encoder", "model.decoder", "bbox_predictor"),
                          ("class_labels_classifier",)),
    "deformable_detr": (("model.backbone",), (), ("class_embed",)),
    "rt_detr": (("model.backbone",), (), ("model.enc_score_head", "model.decoder.class_embed",
                                         "model.denoising_class_embed")),
    "rt_detr_v2": (("model.backbone",), (), ("model.enc_score_head", "model.decoder.class_embed",
                                            "model.denoising_class_embed")),
    "yolos": (("vit",), ("bbox_predictor",), ("class_labels_classifier",)),
}


def segmentation_parts(model) -> ModelParts:
    """Encoder / decoder / head of a semantic (or universal) segmentation model."""
    return _parts(model, SEGMENTATION_PARTS, "segmentation")


def detection_parts(model) -> ModelParts:
    """Backbone (as the encoder) / the rest / the class head of an object detection model."""
    return _parts(model, DETECTION_PARTS, "detection")


def _parts(model, table: dict, what: str) -> ModelParts:
    model_type = getattr(model.config, "model_type", "")
    names = {n for n, _ in model.named_modules()}
    if model_type in table:
        encoder, decoder, head = table[model_type]
    else:
        encoder, decoder, head = _fallback_encoder(model), (), None
    encoder = tuple(p for p in encoder if p in names)
    decoder = tuple(p for p in decoder if p in names)
    if head is None:
        head = _label_layers(model, encoder, decoder)
    head = tuple(p for p in head if p in names)
    if not encoder or not head:
        raise ModelError(f"tlweb cannot tell the encoder from the {what} head of '{model_type or 'this'}' models, "
                         "so it cannot fine-tune them.")
    return ModelParts(encoder=encoder, head=head, decoder=decoder)


def _fallback_encoder(model) -> tuple[str, ...]:
    for name in (getattr(model, "base_model_prefix", ""), "backbone", "model.backbone"):
        if name and name in {n for n, _ in model.named_modules()} and name != "model":
            return (name,)
    return ()


def _label_layers(model, encoder: tuple[str, ...], decoder: tuple[str, ...]) -> tuple[str, ...]:
    """The last label-sized layer (out size = the number of labels, or one more) of each decoder
    prefix — or of the whole model outside the encoder."""
    import torch.nn as nn

    n = int(getattr(model.config, "num_labels", 0) or 0)
    sized = []
    for name, m in model.named_modules():
        out = getattr(m, "out_features", None) if isinstance(m, nn.Linear) else \
            getattr(m, "out_channels", None) if isinstance(m, nn.Conv2d) else None
        if out in (n, n + 1) and not any(name == e or name.startswith(e + ".") for e in encoder):
            sized.append(name)
    if not decoder:
        return tuple(sized[-1:])
    last = {}
    for name in sized:
        for d in decoder:
            if name.startswith(d + "."):
                last[d] = name
    return tuple(last[d] for d in decoder if d in last)
