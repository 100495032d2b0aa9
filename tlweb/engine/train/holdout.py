"""Which training images train and which pick the epoch: the validation hold-out rule.

No model selection on the test split. When every class has at least
:data:`MIN_TRAIN_PER_CLASS_FOR_VALIDATION` training images, a stratified validation subset
(:data:`VALIDATION_FRACTION` of each class, at least one, chosen by the seed with
:func:`tlweb.engine.data.stratified_split`) is carved out of the training images: the model trains
on the rest, the per-epoch evaluations (the live curves) run on it, and the epoch with the best
validation accuracy (then loss) is kept. With fewer images nothing is selected: the last epoch is
kept, and the per-epoch evaluations run on the test split for monitoring only.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlweb.engine.data import EncodedSplit, stratified_split
from tlweb.engine.train.config import (
    MIN_TRAIN_PER_CLASS_FOR_VALIDATION,
    VALIDATION_FRACTION,
    TrainConfig,
)


@dataclass
class Holdout:
    """The training images split into what the model trains on and the validation subset that
    picks the kept epoch (``val`` is None when the data is too small: no selection)."""

    fit: EncodedSplit
    val: EncodedSplit | None
    fit_idx: object  # torch.long positions in the full encoded training split
    val_idx: object | None

    @property
    def selects(self) -> bool:
        return self.val is not None

    @property
    def n_val(self) -> int:
        return len(self.val) if self.val is not None else 0

    @property
    def selection(self) -> str:
        return "best validation epoch" if self.selects else "last epoch"


def validation_holdout(enc_train: EncodedSplit, class_names: list[str], seed: int = 0) -> Holdout:
    """Carve a stratified validation subset out of the decoded training images when every class
    has at least :data:`MIN_TRAIN_PER_CLASS_FOR_VALIDATION` of them (else no validation subset).

    Uses :func:`tlweb.engine.data.stratified_split` (``VALIDATION_FRACTION`` of each class, at
    least one, at least one left to train on), deterministic for a seed."""
    from collections import Counter

    import torch

    labels = [int(x) for x in enc_train.labels.tolist()]
    seen = Counter(labels)
    counts = [seen.get(c, 0) for c in range(len(class_names))]
    if not counts or min(counts) < MIN_TRAIN_PER_CLASS_FOR_VALIDATION:
        idx = torch.arange(len(enc_train), dtype=torch.long)
        return Holdout(enc_train, None, idx, None)
    fit_pos, val_pos = stratified_split(labels, len(class_names), VALIDATION_FRACTION, seed, list(class_names))
    fit_idx = torch.tensor(fit_pos, dtype=torch.long)
    val_idx = torch.tensor(val_pos, dtype=torch.long)

    def part(idx, pos):
        return EncodedSplit(enc_train.pixels[idx], enc_train.labels[idx], [enc_train.rows[i] for i in pos],
                            enc_train.skipped, 0.0)

    return Holdout(part(fit_idx, fit_pos), part(val_idx, val_pos), fit_idx, val_idx)


def start_message(cfg: TrainConfig, hp: dict, holdout: Holdout, enc_test, extra: str = "") -> str:
    epochs = f"{hp['epochs']} epochs"
    if hp.get("epochs_capped_from"):
        epochs += f" (capped from {hp['epochs_capped_from']} on CPU; TLWEB_MAX_EPOCHS_CPU)"
    if holdout.selects:
        sizes = f"{len(holdout.fit)} train / {holdout.n_val} validation / {len(enc_test)} test images"
        rule = "best epoch picked on the validation images"
    else:
        sizes = f"{len(holdout.fit)} train / {len(enc_test)} test images, no validation split"
        rule = (f"fewer than {MIN_TRAIN_PER_CLASS_FOR_VALIDATION} training images in a class: last epoch kept, "
                "per-epoch eval on the test split is monitoring only")
    parts = [f"{cfg.strategy}", sizes, rule,
             f"{epochs} × {hp['steps_per_epoch']} steps", f"batch {hp['batch_size']}",
             f"lr {hp['lr']:g}", f"{hp['device']} {hp['precision']}"]
    if extra:
        parts.append(extra)
    return " · ".join(parts)
