"""Which training images train and which pick the epoch: the validation hold-out rule.

No model selection on the test split. When every class has at least
:data:`MIN_TRAIN_PER_CLASS_FOR_VALIDATION` training images, a stratified validation subset
(:data:`VALIDATION_FRACTION` of each class, at least one, chosen by the seed with
:func:`tlweb.engine.data.stratified_split`) is carved out of the training images: the model trains
on the rest, the per-epoch evaluations (the live curves) run on it, and the epoch with the best
validation accuracy (then loss) is kept. With fewer images nothing is selected: the last epoch is
kept, and the per-epoch evaluations run on the test split for monitoring only.

Tasks whose images hold several classes (segmentation, detection) cannot stratify: their rule is
:func:`random_holdout` (a seeded fraction of the images when there are enough of them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tlweb.engine.data import Encoded, EncodedSplit, stratified_split
from tlweb.engine.train.config import (
    MIN_TRAIN_PER_CLASS_FOR_VALIDATION,
    VALIDATION_FRACTION,
    TrainConfig,
)


@dataclass
class Holdout:
    """The training images split into what the model trains on and the validation subset that
    picks the kept epoch (``val`` is None when the data is too small: no selection)."""

    fit: Encoded
    val: Encoded | None
    fit_idx: object  # torch.long positions in the full encoded training split
    val_idx: object | None
    # the linear probe's rule (head_holdout): C chosen on ``val`` and the head refitted on fit + val,
    # or, without ``val``, C by cross-validation on the training images
    refit: bool = False
    # the rule, for config.json and the start message: the fraction held out, and the minimum that
    # allows a hold-out ({"min_train_per_class_for_validation": 4} or {"min_train_images_for_validation": 8})
    fraction: float | None = None
    minimum: dict = field(default_factory=dict)

    @property
    def selects(self) -> bool:
        return self.val is not None

    @property
    def n_val(self) -> int:
        return len(self.val) if self.val is not None else 0

    @property
    def n_train(self) -> int:
        """Images the kept model was trained on (the validation images too when it is refitted)."""
        return len(self.fit) + (self.n_val if self.refit else 0)

    @property
    def selection(self) -> str:
        if self.refit:
            return "C chosen on held-out images, refitted on all" if self.selects else "C by cross-validation"
        return "best validation epoch" if self.selects else "last epoch"


def validation_holdout(enc_train: EncodedSplit, class_names: list[str], seed: int = 0) -> Holdout:
    """Carve a stratified validation subset out of the decoded training images when every class
    has at least :data:`MIN_TRAIN_PER_CLASS_FOR_VALIDATION` of them (else no validation subset).

    Uses :func:`tlweb.engine.data.stratified_split` (``VALIDATION_FRACTION`` of each class, at
    least one, at least one left to train on), deterministic for a seed."""
    from collections import Counter

    labels = [int(x) for x in enc_train.targets.tolist()]
    seen = Counter(labels)
    counts = [seen.get(c, 0) for c in range(len(class_names))]
    rule = {"fraction": VALIDATION_FRACTION,
            "minimum": {"min_train_per_class_for_validation": MIN_TRAIN_PER_CLASS_FOR_VALIDATION}}
    if not counts or min(counts) < MIN_TRAIN_PER_CLASS_FOR_VALIDATION:
        return _split(enc_train, None, **rule)
    return _split(enc_train, stratified_split(labels, len(class_names), VALIDATION_FRACTION, seed, list(class_names)),
                  **rule)


def head_holdout(enc_train: EncodedSplit, class_names: list[str], seed: int = 0) -> Holdout:
    """The linear probe's rule, :func:`tlweb.engine.head.holdout_split` (the leaderboard's too): with
    at least ``head.MIN_PER_CLASS_FOR_HOLDOUT`` images in every class, ``head.HOLDOUT_FRACTION`` of
    each class is held out to choose the regularization C and the head is then refitted on all of
    them; below that nothing is held out (C by cross-validation on the training images)."""
    from tlweb.engine import head

    labels = [int(x) for x in enc_train.targets.tolist()]
    return _split(enc_train, head.holdout_split(labels, len(class_names), seed, list(class_names)), refit=True,
                  fraction=head.HOLDOUT_FRACTION,
                  minimum={"min_train_per_class_for_validation": head.MIN_PER_CLASS_FOR_HOLDOUT})


def random_holdout(enc_train: Encoded, fraction: float, min_images: int, seed: int = 0) -> Holdout:
    """Any task's rule (segmentation, detection: an image holds several classes, so no stratifying):
    a seeded random ``fraction`` of the training images (at least one, at least one left) picks the
    kept epoch when there are at least ``min_images``; below that nothing is selected."""
    import numpy as np

    n = len(enc_train)
    rule = {"fraction": float(fraction), "minimum": {"min_train_images_for_validation": int(min_images)}}
    if n < max(2, int(min_images)):
        return _split(enc_train, None, **rule)
    order = np.random.default_rng(seed).permutation(n)
    n_val = min(n - 1, max(1, int(round(n * fraction))))
    return _split(enc_train, (sorted(int(i) for i in order[n_val:]), sorted(int(i) for i in order[:n_val])), **rule)


def _split(enc_train: Encoded, positions, refit: bool = False, fraction: float | None = None,
           minimum: dict | None = None) -> Holdout:
    import torch

    rule = {"refit": refit, "fraction": fraction, "minimum": dict(minimum or {})}
    if positions is None:
        return Holdout(enc_train, None, torch.arange(len(enc_train), dtype=torch.long), None, **rule)
    fit_pos, val_pos = positions
    fit_idx = torch.tensor(fit_pos, dtype=torch.long)
    val_idx = torch.tensor(val_pos, dtype=torch.long)
    return Holdout(enc_train.subset(fit_pos), enc_train.subset(val_pos), fit_idx, val_idx, **rule)


def start_message(cfg: TrainConfig, hp: dict, holdout: Holdout, enc_test, extra: str = "") -> str:
    epochs = f"{hp['epochs']} epochs"
    if hp.get("epochs_capped_from"):
        epochs += f" (capped from {hp['epochs_capped_from']} on CPU; TLWEB_MAX_EPOCHS_CPU)"
    if holdout.selects:
        sizes = f"{len(holdout.fit)} train / {holdout.n_val} validation / {len(enc_test)} test images"
        rule = "best epoch picked on the validation images"
    else:
        sizes = f"{len(holdout.fit)} train / {len(enc_test)} test images, no validation split"
        few = (f"fewer than {holdout.minimum['min_train_images_for_validation']} training images"
               if "min_train_images_for_validation" in holdout.minimum
               else f"fewer than {MIN_TRAIN_PER_CLASS_FOR_VALIDATION} training images in a class")
        rule = f"{few}: last epoch kept, per-epoch eval on the test split is monitoring only"
    parts = [f"{cfg.strategy}", sizes, rule,
             f"{epochs} × {hp['steps_per_epoch']} steps", f"batch {hp['batch_size']}",
             f"lr {hp['lr']:g}", f"{hp['device']} {hp['precision']}"]
    if extra:
        parts.append(extra)
    return " · ".join(parts)
