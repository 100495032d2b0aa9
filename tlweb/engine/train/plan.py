"""A run planned once: :func:`resolve_run` turns a :class:`TrainConfig` into a :class:`RunPlan` (the
task record, the strategy record checked against the task, the resolved model), and the plan gives
the hyper-parameters from the strategy's defaults (the task's overrides over them), the data size
and the device. Also where a run's folder goes (:func:`run_name`, :func:`experiment_dir`) and the
AdamW parameter groups."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tlweb.config import Settings
from tlweb.engine.train.config import MAX_EPOCHS_GPU, MIN_STEPS, TrainConfig
from tlweb.engine.train.strategies import Strategy, all_strategies
from tlweb.engine.train.tasks import TrainTask, train_task

if TYPE_CHECKING:
    from tlweb.catalog import ModelSpec


@dataclass
class RunPlan:
    """One run, resolved once: what the caller's side, the GPU function and the run itself all read
    instead of resolving the model or looking the strategy up again. Pickles (records by name)."""

    cfg: TrainConfig
    task: TrainTask
    strategy: Strategy
    spec: ModelSpec

    @property
    def base_name(self) -> str:
        """The base model as people see it: its key (catalog, demo, run, local folder) or its Hub id."""
        spec = self.spec
        return spec.key if spec.source in ("catalog", "demo", "run", "local") else spec.hub_id

    def hyperparameters(self, n_train: int, runtime, settings: Settings) -> dict:
        return plan(self.cfg, n_train, runtime, settings, strategy=self.strategy, task=self.task)


def resolve_run(cfg: TrainConfig, settings: Settings) -> RunPlan:
    """The task, the strategy (another task's is one sentence) and the model, once; errors people can
    act on (an unknown task, strategy or model) raise before anything is created."""
    from tlweb.engine.listing import resolve

    task = train_task(cfg.task)
    strategy = task.strategy(cfg.strategy)
    return RunPlan(cfg, task, strategy, resolve(cfg.model, settings=settings))


def plan(cfg: TrainConfig, n_train: int, runtime, settings: Settings, strategy: Strategy | None = None,
         task: TrainTask | None = None) -> dict:
    """Epochs, batch size, learning rate, warm-up and step counts, recorded in config.json."""
    task = task or train_task(cfg.task)
    strategy = strategy or task.strategy(cfg.strategy)
    if strategy.head_only:
        return head_plan(cfg, n_train, runtime)
    defaults = task.defaults(strategy)
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
        epochs = max(defaults["epochs"], math.ceil(MIN_STEPS / spe))
        epochs = min(epochs, settings.max_epochs_cpu if on_cpu else MAX_EPOCHS_GPU)
    capped_from = None
    if on_cpu and epochs > max(1, settings.max_epochs_cpu):
        capped_from = epochs
        epochs = max(1, settings.max_epochs_cpu)
    epochs = max(1, int(epochs))
    total = spe * epochs
    warmup = max(1, int(round(0.05 * total))) if total > 10 else 0
    hp = {"epochs": epochs, "batch_size": int(bs), "lr": float(cfg.lr or defaults["lr"]),
          "head_lr_mult": defaults["head_mult"], "weight_decay": defaults["wd"], "steps_per_epoch": spe,
          "total_steps": total, "warmup_steps": warmup, "augment": bool(cfg.augment and strategy.augment),
          "device": str(runtime.device), "precision": runtime.precision, "world_size": world}
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


def param_groups(named_params, head_prefix, lr: float, head_mult: float, wd: float,
                 include_frozen: bool = False) -> list[dict]:
    """AdamW groups: head vs the rest (head × ``head_mult``; ``head_prefix``: one name prefix or a
    tuple of them), decayed matrices vs undecayed vectors. ``include_frozen`` also hands over weights
    that are frozen now and unfrozen later (AdamW skips a weight while it has no gradient)."""
    prefixes = (head_prefix,) if isinstance(head_prefix, str) else tuple(head_prefix)
    groups: dict[tuple, list] = {}
    for name, p in named_params:
        if not p.requires_grad and not include_frozen:
            continue
        is_head = any(name.startswith(h + ".") or f".{h}." in name for h in prefixes)
        decay = p.ndim > 1
        groups.setdefault((is_head, decay), []).append(p)
    out = []
    for (is_head, decay), params in groups.items():
        out.append({"params": params, "lr": lr * (head_mult if is_head else 1.0), "weight_decay": wd if decay else 0.0})
    return out


# --------------------------------------------------------------------------- where the run goes


def run_name(cfg: TrainConfig, spec) -> str:
    """The label in a new run folder's id: the strategy (and size) in an experiment, else with the model."""
    if cfg.name:
        return cfg.name
    if cfg.experiment is not None:
        return cfg.strategy + (f" {cfg.per_class} per class" if cfg.per_class else "")
    return f"{cfg.strategy} {spec.key}"


def experiment_dir(experiment, settings: Settings) -> Path | None:
    """The experiment folder named by ``experiment`` (its folder or its id), or None."""
    from tlweb.engine.runs.store import experiment_path

    if experiment is None:
        return None
    path = Path(experiment)
    return path if path.is_dir() and (path / "experiment.json").is_file() else experiment_path(str(experiment), settings)
