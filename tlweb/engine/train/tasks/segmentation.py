"""Semantic segmentation as a training task: the user's masks (:mod:`tlweb.engine.data.masks`), a new head
for their classes on SegFormer, UperNet, DPT, BEiT, MobileViT or Mask2Former / MaskFormer, mIoU as
``evaluate``'s ``mean_iou`` defines it, and the worst test images kept as prediction-vs-truth pairs.

Strategies: ``decoder`` (the pretrained encoder frozen: the segmentation analogue of the linear probe),
``full``, ``lora`` (adapters in the encoder, decoder and head trained) and ``scratch`` (the same
architecture, random weights). Pictures and masks are decoded once at the model's square input side
(:mod:`.seg_encode`); a batch is sliced from those tensors on the device and flipped / scale-cropped with
its masks (one affine map per picture, the masks resampled nearest). mIoU is measured at that side, from a
confusion matrix of pixels accumulated on the device (:func:`tlweb.engine.metrics.segmentation_metrics`).
"""

from __future__ import annotations

from pathlib import Path

from tlweb.engine.train.tasks.base import SEGMENTATION, Evaluation, TrainTask, register_train_task
from tlweb.engine.train.tasks.seg_models import IGNORE

MAX_WORST = 12  # test images kept as prediction-vs-truth pairs, lowest mIoU first
AUG_SCALE = (0.5, 1.0)  # area of the random crop (then resized back to the input side)


def _core(model):
    """The model under DDP / peft wrappers (its config tells the family)."""
    return getattr(model, "module", model)


@register_train_task
class SegmentationTask(TrainTask):
    name = SEGMENTATION
    label = "semantic segmentation"
    metric, metric_label = "miou", "mIoU"
    strategies = ("decoder", "full", "lora", "scratch")
    json_keys = ("test_miou", "test_pixel_accuracy", "per_class_iou")
    # a validation hold-out picks the kept epoch only from 20 training images on (3 held out): below that one
    # or two images decided it, and on 5 masks per class of the demo transfer the picked epochs tested worse
    # than the last one (benchmarks/segment_transfer.py)
    min_images_for_validation = 20
    strategy_defaults = {
        "decoder": {"epochs": 30, "lr": 1e-3, "head_mult": 3.0},
        "full": {"epochs": 30, "lr": 1e-3, "head_mult": 3.0},
        "lora": {"epochs": 30, "lr": 1e-3, "head_mult": 3.0},
        "scratch": {"epochs": 30, "lr": 1e-3},
    }

    # ---- data
    def load_data(self, source, *, seed: int = 0, settings=None, **opts):
        from tlweb.engine.data.segmentation import load_masks

        return load_masks(source, labels=opts.get("labels"), image_column=opts.get("image_column"),
                          mask_column=opts.get("mask_column"), split=opts.get("split"),
                          test_fraction=opts.get("test_fraction") or 0.2, seed=seed, settings=settings)

    def subsample(self, data, per_class: int, seed: int):
        from tlweb.engine.data.masks import subsample_masks

        return subsample_masks(data, per_class, seed)

    def encode(self, data, split: str, processor, settings, on_progress=None):
        from tlweb.engine.train.tasks.seg_encode import encode_masks

        return encode_masks(data, split, processor, settings, on_progress)

    def check(self, data, enc_train, enc_test) -> None:
        import torch

        from tlweb.errors import DataError

        super().check(data, enc_train, enc_test)
        seen = torch.unique(enc_train.targets)
        if int((seen != IGNORE).sum()) < 2:
            raise DataError("The training masks hold fewer than two classes (255 aside); segmentation needs at least "
                            "two, for example background and the object.")

    # ---- model
    def load_model(self, spec, class_names, strategy, seed, settings):
        from tlweb.engine.train.model import load_for_task
        from tlweb.engine.train.tasks.seg_models import model_parts, reset_heads

        model, processor, spec = load_for_task(spec, task=SEGMENTATION, class_names=class_names,
                                               pretrained=strategy.pretrained, seed=seed, settings=settings)
        for attr in ("semantic_loss_ignore_index", "loss_ignore_index"):
            if hasattr(model.config, attr):
                setattr(model.config, attr, IGNORE)
        model_parts(model)  # a family whose encoder is unknown is refused before anything trains
        if strategy.pretrained:
            reset_heads(model, seed)
        return model, processor, spec

    def parts(self, model):
        from tlweb.engine.train.tasks.seg_models import model_parts

        return model_parts(model)

    # ---- steps
    def batch(self, enc, idx, feed, augment: bool, generator) -> dict:
        import torch

        from tlweb.engine.accel import crop_flip_theta, warp

        x = feed.take(enc.pixels, idx).float()
        y = feed.take(enc.targets, idx)
        if augment:
            theta = crop_flip_theta(x.shape[0], feed.device, generator, scale=AUG_SCALE)
            x = warp(x, theta)
            y = warp(y[:, None].float(), theta, mode="nearest")[:, 0].round().to(torch.uint8)
        return {"pixel_values": feed.model_input(x), "labels": y}

    def loss(self, model, batch: dict):
        from tlweb.engine.train.tasks.seg_models import model_inputs

        out = model(**model_inputs(_core(model), batch["pixel_values"], batch["labels"]))
        return out.loss.float(), {}

    def evaluate(self, model, enc, feed, batch_size: int) -> Evaluation:
        import torch

        from tlweb.engine.metrics import segmentation_metrics
        from tlweb.engine.train.tasks.seg_models import model_inputs, predict

        core = _core(model)
        k = len(feed.class_names)
        side = tuple(enc.targets.shape[-2:])
        total = torch.zeros(k * k, dtype=torch.long, device=feed.device)
        losses, counts, per_image, worst = [], [], [], []
        for start in range(0, len(enc), batch_size):
            idx = torch.arange(start, min(len(enc), start + batch_size))
            x = feed.model_input(feed.take(enc.pixels, idx).float())
            y = feed.take(enc.targets, idx)
            with feed.autocast():
                out = model(**model_inputs(core, x, y))
            losses.append(float(out.loss))
            counts.append(len(idx))
            pred = predict(core, out, side)
            cm = image_confusion(pred, y, k)
            total += cm.sum(dim=0).flatten()
            stats = image_scores(cm)
            per_image.extend(stats)
            worst = _keep_worst(worst, stats, pred, start)
        m = segmentation_metrics(total.view(k, k).cpu().numpy(), list(feed.class_names))
        loss = sum(a * b for a, b in zip(losses, counts)) / max(1, sum(counts))
        extra = {key: m[key] for key in ("pixel_accuracy", "mean_accuracy", "per_class_iou", "per_class_accuracy",
                                         "per_class_pixels")}
        return Evaluation(loss=float(loss), metric=float(m["miou"]), extra=extra,
                          predictions={"worst": worst, "per_image": per_image, "side": side})

    # ---- the end of a run
    def finish(self, run_dir, data, enc_test, evaluation: Evaluation, settings) -> dict:
        extra = evaluation.extra
        side = tuple(enc_test.targets.shape[-2:])
        fields = {
            "test_miou": round(float(evaluation.metric), 6),
            "test_pixel_accuracy": round(float(extra["pixel_accuracy"]), 6),
            "test_mean_accuracy": round(float(extra["mean_accuracy"]), 6),
            "per_class_iou": _rounded(extra["per_class_iou"]),
            "per_class_accuracy": _rounded(extra["per_class_accuracy"]),
            "per_class_pixels": dict(extra["per_class_pixels"]),
            "metric_resolution": f"{side[1]}×{side[0]} pixels (the model's input side; masks resized nearest)",
            "worst": save_worst(Path(run_dir), data, enc_test, (evaluation.predictions or {}).get("worst", [])),
        }
        return fields

    def save(self, model, processor, model_dir, spec, base_name, strategy, data, settings) -> None:
        from tlweb.engine.train.tasks.seg_encode import input_side

        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        proc = getattr(processor, "image_processor", processor)
        if getattr(proc, "do_reduce_labels", False):  # our class ids start at 0: nothing to shift
            proc.do_reduce_labels = False
        family = spec.family if spec.family not in ("", "unknown") else getattr(model.config, "model_type", "unknown")
        model.config.tlweb = {
            "task": SEGMENTATION,
            "family": family,
            "input_size": input_side(processor),
            "params_m": round(sum(p.numel() for p in model.parameters()) / 1e6, 4),
            "pretrained_on": f"{base_name} fine-tuned ({strategy})",
            "license": "see the source model",
            "description": f"{strategy} fine-tune of {base_name} on {data.source} ({len(data.class_names)} classes)",
        }
        model.save_pretrained(model_dir)
        processor.save_pretrained(model_dir)


def _rounded(values: dict) -> dict:
    return {k: (None if v is None else round(float(v), 6)) for k, v in values.items()}


def image_confusion(pred, truth, k: int):
    """Per-image confusion matrices [B, K, K] (rows = truth) of pixels whose truth is a class (not 255)."""
    import torch

    b = pred.shape[0]
    valid = truth != IGNORE
    t = truth.long().clamp(max=k - 1)
    code = (torch.arange(b, device=pred.device)[:, None, None] * k + t) * k + pred.long().clamp(0, k - 1)
    return torch.bincount(code[valid], minlength=b * k * k).view(b, k, k)


def image_scores(cm) -> list[tuple[float, float]]:
    """(mIoU over the classes in the image's truth or prediction, pixel accuracy) of each image."""
    import torch

    cm = cm.double()
    inter = torch.diagonal(cm, dim1=1, dim2=2)
    union = cm.sum(dim=1) + cm.sum(dim=2) - inter
    present = union > 0
    iou = torch.where(present, inter / union.clamp(min=1), torch.zeros_like(inter))
    miou = iou.sum(dim=1) / present.sum(dim=1).clamp(min=1)
    acc = inter.sum(dim=1) / cm.sum(dim=(1, 2)).clamp(min=1)
    return list(zip(miou.cpu().tolist(), acc.cpu().tolist()))


def _keep_worst(worst: list, stats, pred, start: int) -> list:
    """The MAX_WORST lowest-mIoU images so far, each (position, mIoU, pixel accuracy, uint8 map on the CPU)."""
    import torch

    order = sorted(range(len(stats)), key=lambda i: stats[i][0])[:MAX_WORST]
    fresh = [(start + i, stats[i][0], stats[i][1], pred[i].to(torch.uint8).cpu()) for i in order]
    return sorted(worst + fresh, key=lambda w: (w[1], w[0]))[:MAX_WORST]


def save_worst(run_dir: Path, data, enc_test, worst: list) -> list[dict]:
    """The worst test images as PNGs: the picture at the model's input side, the prediction and the truth
    (class ids as pixel values; 255 = ignored), in ``run_dir/worst/``."""
    from PIL import Image

    if not worst:
        return []
    out_dir = run_dir / "worst"
    out_dir.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, (pos, miou, acc, pred) in enumerate(worst):
        stem = out_dir / f"{n:02d}"
        paths = {"image": f"{stem}-image.png", "prediction": f"{stem}-pred.png", "truth": f"{stem}-truth.png"}
        Image.fromarray(enc_test.pixels[pos].permute(1, 2, 0).numpy()).save(paths["image"])
        Image.fromarray(pred.numpy()).save(paths["prediction"])
        Image.fromarray(enc_test.targets[pos].numpy()).save(paths["truth"])
        row = enc_test.rows[pos]
        rows.append({**paths, "name": data.test.names[row], "miou": round(float(miou), 6),
                     "pixel_accuracy": round(float(acc), 6)})
    return rows
