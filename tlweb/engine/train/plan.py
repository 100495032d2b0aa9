"""Hyper-parameters of a run from its config, its strategy's defaults, the data size and the device."""

from __future__ import annotations

import math

from tlweb.config import Settings
from tlweb.engine.train.config import MAX_EPOCHS_GPU, MIN_STEPS, TrainConfig
from tlweb.engine.train.strategies import all_strategies, get_strategy


def plan(cfg: TrainConfig, n_train: int, runtime, settings: Settings) -> dict:
    """Epochs, batch size, learning rate, warm-up and step counts, recorded in config.json."""
    strategy = get_strategy(cfg.strategy)
    if strategy.head_only:
        return head_plan(cfg, n_train, runtime)
    on_cpu = runtime.device.type == "cpu"
    world = runtime.world_size
    default_bs = 32 if on_cpu else 64
    bs = cfg.batch_size or min(default_bs, max(4, math.ceil(n_train / 4)))
    per_proc = max(1, n_train // world)
    bs = max(1, min(bs, per_proc))
    spe = max(1, per_proc // bs)
    if cfg.epochs:
        epochs = cfg.epochs
    else:
        epochs = max(strategy.epochs, math.ceil(MIN_STEPS / spe))
        epochs = min(epochs, settings.max_epochs_cpu if on_cpu else MAX_EPOCHS_GPU)
    capped_from = None
    if on_cpu and epochs > max(1, settings.max_epochs_cpu):
        capped_from = epochs
        epochs = max(1, settings.max_epochs_cpu)
    epochs = max(1, int(epochs))
    total = spe * epochs
    warmup = max(1, int(round(0.05 * total))) if total > 10 else 0
    hp = {"epochs": epochs, "batch_size": int(bs), "lr": float(cfg.lr or strategy.lr), "head_lr_mult": strategy.head_mult,
          "weight_decay": strategy.weight_decay, "steps_per_epoch": spe, "total_steps": total, "warmup_steps": warmup,
          "augment": bool(cfg.augment and strategy.augment), "device": str(runtime.device),
          "precision": runtime.precision, "world_size": world}
    for option in sorted({o for s in all_strategies() for o in s.options}):  # e.g. partial_blocks, lora_r
        hp[option] = getattr(cfg, option) if option in strategy.options else None
    hp["epochs_capped_from"] = capped_from
    return hp


def head_plan(cfg: TrainConfig, n_train: int, runtime) -> dict:
    """The linear probe's plan: no epochs, batches or learning rate — a sweep over the regularization
    strength C of an L2 logistic regression solved by full-batch L-BFGS (:mod:`tlweb.engine.head`);
    ``total_steps`` is the sweep's length (it may end earlier once the held-out loss keeps rising)."""
    from tlweb.engine import head

    return {"solver": "L-BFGS", "objective": "multinomial logistic regression, L2 on the weights (scikit-learn's)",
            "C_grid": [float(c) for c in head.CS], "max_iter": head.MAX_ITER, "patience": head.PATIENCE,
            "epochs": None, "batch_size": int(n_train), "lr": None, "steps_per_epoch": 1,
            "total_steps": len(head.CS), "warmup_steps": 0, "augment": False,
            "ignored": {k: v for k, v in (("epochs", cfg.epochs), ("batch_size", cfg.batch_size), ("lr", cfg.lr))
                        if v is not None},
            "device": str(runtime.device), "precision": runtime.precision, "world_size": runtime.world_size}


def param_groups(named_params, head_prefix: str, lr: float, head_mult: float, wd: float,
                 include_frozen: bool = False) -> list[dict]:
    """AdamW groups: head vs backbone (head × ``head_mult``), decayed matrices vs undecayed vectors.
    ``include_frozen`` also hands over weights that are frozen now and unfrozen later (AdamW skips
    a weight while it has no gradient)."""
    groups: dict[tuple, list] = {}
    for name, p in named_params:
        if not p.requires_grad and not include_frozen:
            continue
        is_head = name.startswith(head_prefix + ".") or f".{head_prefix}." in name
        decay = p.ndim > 1
        groups.setdefault((is_head, decay), []).append(p)
    out = []
    for (is_head, decay), params in groups.items():
        out.append({"params": params, "lr": lr * (head_mult if is_head else 1.0), "weight_decay": wd if decay else 0.0})
    return out

