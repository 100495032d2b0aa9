"""Image classification, the first training task: class folders / zips / Hub datasets / the built-in
sample (:mod:`tlweb.engine.data`), a new linear head, cross-entropy, accuracy, the most confident
mistakes kept as pictures. The linear probe (features cached, L-BFGS head) is a classification-only
head-only strategy (:mod:`tlweb.engine.train.linear`)."""

from __future__ import annotations

from tlweb.engine.train.tasks.base import (
    CLASSIFICATION,
    Encoded,
    Evaluation,
    Feed,
    ModelParts,
    TaskData,
    TrainTask,
    register_train_task,
)

DATA_OPTIONS = ("image_column", "label_column", "split", "test_fraction")


@register_train_task
class ClassificationTask(TrainTask):
    name = CLASSIFICATION
    label = "image classification"
    metric = "accuracy"
    metric_label = "accuracy"
    strategies = ("linear", "partial", "full", "two-step", "lora", "scratch")

    # ---- data
    def load_data(self, source, *, seed: int = 0, settings=None, **opts) -> TaskData:
        from tlweb.engine.data import load_data

        given = {k: v for k, v in opts.items() if k in DATA_OPTIONS and v is not None}
        return load_data(source, seed=seed, settings=settings, **given)

    def subsample(self, data, per_class: int, seed: int):
        from tlweb.engine.data import subsample

        return subsample(data, per_class, seed)

    def encode(self, data, split: str, processor, settings, on_progress=None) -> Encoded:
        from tlweb.engine.data import encode_split

        return encode_split(data, split, processor, settings, on_progress=on_progress)

    def check(self, data, enc_train: Encoded, enc_test: Encoded) -> None:
        from tlweb.errors import DataError

        super().check(data, enc_train, enc_test)
        if len(set(enc_train.targets.tolist())) < 2:
            raise DataError("The training images cover only one class; a classifier needs at least two.")

    def holdout(self, enc_train: Encoded, class_names: list[str], seed: int):
        from tlweb.engine.train.holdout import validation_holdout

        return validation_holdout(enc_train, class_names, seed)

    # ---- model
    def load_model(self, spec, class_names, strategy, seed, settings):
        from tlweb.engine.train.model import load_for_training

        return load_for_training(spec, class_names, strategy, seed, settings)

    def parts(self, model) -> ModelParts:
        from tlweb.engine.features import find_head

        head = find_head(model)[0]
        return ModelParts(encoder=tuple(n for n, _ in model.named_children() if n != head), head=(head,))

    # ---- steps
    def batch(self, enc: Encoded, idx, feed: Feed, augment: bool, generator) -> dict:
        from tlweb.engine.accel import augment as crop_flip

        x = feed.take(enc.pixels, idx).float()
        if augment:
            x = crop_flip(x, generator=generator)
        return {"pixel_values": feed.model_input(x), "labels": feed.take(enc.targets, idx)}

    def loss(self, model, batch: dict):
        import torch.nn.functional as F

        logits = model(pixel_values=batch["pixel_values"]).logits
        return F.cross_entropy(logits.float(), batch["labels"]), {}

    def evaluate(self, model, enc: Encoded, feed: Feed, batch_size: int) -> Evaluation:
        import torch

        outs = []
        for i in range(0, len(enc), batch_size):
            x = feed.model_input(enc.pixels[i:i + batch_size].to(feed.device, non_blocking=True).float())
            with feed.autocast():
                outs.append(model(pixel_values=x).logits.float().cpu())
        logits = torch.cat(outs) if outs else torch.zeros(0, len(feed.class_names))
        return self.from_logits(logits, enc.targets)

    @staticmethod
    def from_logits(logits, labels) -> Evaluation:
        """Loss and accuracy of float logits [N, K] against class ids (the linear probe's head too)."""
        import torch.nn.functional as F

        labels = labels.cpu()
        logits = logits.float().cpu()
        loss = float(F.cross_entropy(logits, labels)) if len(labels) else 0.0
        acc = float((logits.argmax(-1) == labels).float().mean()) if len(labels) else 0.0
        return Evaluation(loss=loss, metric=acc, predictions=logits)

    # ---- the end of a run
    def finish(self, run_dir, data, enc_test: Encoded, evaluation: Evaluation, settings) -> dict:
        import torch

        from tlweb.engine.metrics import classification_metrics
        from tlweb.engine.train.model import save_mistakes

        probs = torch.softmax(evaluation.predictions.float(), dim=-1)
        conf, pred = probs.max(dim=-1)
        metrics = classification_metrics(pred.tolist(), enc_test.targets.tolist(), data.class_names)
        mistakes = save_mistakes(run_dir, data, enc_test, pred, conf, settings)
        metrics.update({"test_accuracy": metrics["accuracy"], "test_macro_f1": metrics["macro_f1"],
                        "mistakes": mistakes})
        return metrics

    def save(self, model, processor, model_dir, spec, base_name, strategy, data, settings) -> None:
        from tlweb.engine.train.model import save_model

        save_model(model, processor, model_dir, spec, base_name, strategy, data, settings)
