"""Object detection as a training task: the plug-in of the one training run.

Data: COCO / YOLO folders and zips, Hugging Face datasets with an ``objects`` column, the built-in
sample (:mod:`tlweb.engine.data.detection`). Pictures are decoded once at the model's training size,
targets as DETR's processor gives them (normalised cx, cy, w, h); a batch is flipped, zoomed and
cropped with its boxes on the device (:mod:`tlweb.engine.train.detection_io`). The loss is the
model's own (Hungarian matching; classification + L1 + GIoU, plus the family's auxiliary and
denoising terms), its final-layer parts reported for the live curves. The metric is COCO's
mAP@[.5:.95] through pycocotools (:mod:`tlweb.engine.detect_metrics`), with mAP50, mAP75 and AP / AR
per class. The new class head and the strategies' parts are in :mod:`tlweb.engine.train.detection_model`.

A given validation split (``valid/`` beside ``test/``) picks the kept epoch; otherwise the run holds
out a random 15 % of the training pictures as for any task.
"""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.train.tasks.base import (
    DETECTION,
    Evaluation,
    ModelParts,
    TrainTask,
    register_train_task,
)
from tlweb.errors import DataError, ModelError

MAX_WORST = 12  # worst test pictures kept as prediction-vs-truth PNGs
SHOW_THRESHOLD = 0.5  # score a box needs to count in the worst pictures (the Detect tab's default)


@register_train_task
class DetectionTask(TrainTask):
    name = DETECTION
    label = "object detection"
    metric = "map"
    metric_label = "mAP@[.5:.95]"
    strategies = ("head", "full", "scratch")
    json_keys = ("test_map", "test_map50", "test_map75", "per_class_ap")
    # DETR-family detectors learn slowly: more epochs than a classifier, a gentler rate for pretrained weights
    strategy_defaults = {"head": {"epochs": 30, "lr": 2e-4, "head_mult": 5.0, "weight_decay": 1e-4},
                         "full": {"epochs": 30, "lr": 2e-4, "head_mult": 5.0, "weight_decay": 1e-4},
                         "scratch": {"epochs": 30, "lr": 1e-3, "head_mult": 1.0, "weight_decay": 1e-4}}
    # below this many training pictures no validation subset is held out (the last epoch is kept): the
    # mAP of a handful of pictures picked poor epochs (demo detector, 10 pictures per class: a 4-picture
    # validation set kept epoch 8 of 30 and test mAP 0.03 where the last epoch gave 0.11)
    min_images_for_validation = 50
    max_grad_norm = 1.0  # DETR-family losses spike; the tiny demo RT-DETR reached half the mAP without it

    # ---- data
    def load_data(self, source, *, seed: int = 0, settings=None, **opts):
        from tlweb.engine.data.detection import load_detection_data

        return load_detection_data(source, split=opts.get("split"), image_column=opts.get("image_column"),
                                   test_fraction=opts.get("test_fraction") or 0.2, seed=seed, settings=settings)

    def subsample(self, data, per_class: int, seed: int):
        from tlweb.engine.data.detection import subsample

        return subsample(data, per_class, seed)

    def encode(self, data, split: str, processor, settings, on_progress=None):
        """``split`` decoded once at the training size; "train" also carries a given validation split
        after the training pictures (``val_positions``), which :meth:`holdout` uses."""
        from tlweb.engine.train.detection_io import concat, encode_detection, train_size

        hw = train_size(processor)
        enc = encode_detection(data, split, hw, settings, on_progress)
        if split == "train" and data.validation:
            val = encode_detection(data, "validation", hw, settings, on_progress)
            enc = concat(enc, val, offset=len(data.train))
        return enc

    def check(self, data, enc_train, enc_test) -> None:
        super().check(data, enc_train, enc_test)
        if not any(len(t["class_labels"]) for t in enc_test.targets):
            raise DataError("None of the test pictures holds a box, so mAP cannot be measured: add boxes to the "
                            "test split (or let the run hold some training pictures out).")
        if not any(len(t["class_labels"]) for t in enc_train.targets):
            raise DataError("None of the training pictures that could be decoded holds a box.")

    def holdout(self, enc_train, class_names, seed):
        from tlweb.engine.train.holdout import _split

        given = getattr(enc_train, "val_positions", None)
        if given:
            val = set(given)
            fit = [i for i in range(len(enc_train)) if i not in val]
            return _split(enc_train, (fit, list(given)))
        return super().holdout(enc_train, class_names, seed)

    # ---- model
    def load_model(self, spec, class_names, strategy, seed, settings):
        """Pretrained: the checkpoint as it is (its own classes), then a new class head for ``class_names``
        started from its class rows' mean (:func:`~tlweb.engine.train.detection_model.new_class_head`);
        scratch: the architecture with random weights."""
        from tlweb.engine.train.detection_model import (
            FAMILIES,
            checkpoint_config,
            checkpoint_labels,
            new_class_head,
        )
        from tlweb.engine.train.model import load_for_task

        config = checkpoint_config(spec, settings)
        if config.model_type not in FAMILIES:
            raise ModelError(f"'{spec.key}' is a {config.model_type} model; detection fine-tuning takes DETR, "
                             "Conditional DETR, Deformable DETR, RT-DETR, YOLOS or D-FINE detectors.")
        names = checkpoint_labels(config) if strategy.pretrained else list(class_names)
        model, processor, spec = load_for_task(spec, task=DETECTION, class_names=names,
                                               pretrained=strategy.pretrained, seed=seed, settings=settings)
        if strategy.pretrained:
            model = new_class_head(model, list(class_names), seed)
        return model, processor, spec

    def parts(self, model) -> ModelParts:
        """The run's table of detection parts (:func:`tlweb.engine.train.parts.detection_parts`), the head
        widened to every class-sized layer (D-FINE and other families the table lacks)."""
        from tlweb.engine.train.detection_model import backbone_prefixes, class_head_modules
        from tlweb.engine.train.parts import DETECTION_PARTS, detection_parts

        heads = tuple(n for n, _ in class_head_modules(model))
        if model.config.model_type not in DETECTION_PARTS:
            return ModelParts(encoder=backbone_prefixes(model), head=heads)
        parts = detection_parts(model)
        extra = tuple(h for h in heads if not parts.is_head(h))
        return ModelParts(encoder=parts.encoder, head=parts.head + extra, decoder=parts.decoder)

    # ---- steps
    def batch(self, enc, idx, feed, augment: bool, generator) -> dict:
        from tlweb.engine.train.detection_io import detection_batch

        return detection_batch(enc, idx.tolist() if hasattr(idx, "tolist") else idx, feed.device, feed.model_input,
                               augment, generator)

    def loss(self, model, batch: dict):
        from tlweb.engine.train.detection_io import LOSS_PARTS

        out = model(**batch)
        parts = {k: v.detach() for k, v in (getattr(out, "loss_dict", None) or {}).items() if k in LOSS_PARTS}
        return out.loss.float(), parts

    def evaluate(self, model, enc, feed, batch_size: int) -> Evaluation:
        from tlweb.engine.train.detection_io import predict, score

        preds, loss, parts = predict(model, enc, feed.processor, feed.device, feed.model_input, batch_size,
                                     feed.autocast, with_loss=True)
        m = score(enc, preds, feed.class_names, SHOW_THRESHOLD)
        extra = {k: m[k] for k in ("map50", "map75", "map_small", "map_medium", "map_large", "mar_100",
                                   "per_class_ap", "per_class_ar", "boxes")}
        return Evaluation(loss=float(loss or 0.0), metric=float(m["map"] or 0.0), extra=extra,
                          predictions={"boxes": preds, "per_image": m["per_image"]}, loss_parts=parts)

    def selection_key(self, evaluation: Evaluation) -> tuple:
        return (evaluation.metric, evaluation.extra.get("map50") or 0.0, -evaluation.loss)

    # ---- the end of a run
    def finish(self, run_dir: Path, data, enc_test, evaluation: Evaluation, settings) -> dict:
        from tlweb.engine.train.detection_io import save_worst

        worst = save_worst(Path(run_dir), data, enc_test, evaluation.predictions, settings, MAX_WORST,
                           SHOW_THRESHOLD)
        x = evaluation.extra
        return {"test_map": evaluation.metric, "test_map50": x.get("map50"), "test_map75": x.get("map75"),
                "test_map_small": x.get("map_small"), "test_map_medium": x.get("map_medium"),
                "test_map_large": x.get("map_large"), "test_mar_100": x.get("mar_100"),
                "per_class_ap": x.get("per_class_ap", {}), "per_class_ar": x.get("per_class_ar", {}),
                "test_boxes": x.get("boxes"), "show_threshold": SHOW_THRESHOLD, "worst_images": worst,
                "mistakes": worst, "warnings": list(getattr(data, "warnings", []))}

    def save(self, model, processor, model_dir: Path, spec, base_name: str, strategy: str, data, settings) -> None:
        from tlweb.engine.train.detection_io import train_size
        from tlweb.engine.train.detection_model import save_detector

        save_detector(model, processor, model_dir, train_size(processor), spec, base_name, strategy, data)
