"""The strategy registry: one :class:`Strategy` record per way of fine-tuning.

Everything that differs between strategies lives in its record: the names and the one-line
explanation people see, the tasks it applies to, what it freezes, its default epochs / learning
rate / head multiplier / weight decay, its colour in every chart, how it sets the model up (freeze,
wrap, and what to do before saving) and any callbacks it adds to the training loop (two-step
unfreezes the backbone after its first epoch). The CLI's ``--strategy`` choices, the UI's radio and
checkboxes and the charts' colours are read from here, so adding a strategy is one :func:`register`
call.

A setup is ``setup(model, cfg, parts) -> Setup``: ``parts`` is the task's
:class:`~tlweb.engine.train.tasks.base.ModelParts` (which parameters are encoder / decoder / head),
so one record (full, scratch, LoRA) serves every task it names, and segmentation's ``decoder`` and
detection's ``head`` freeze the encoder / backbone whatever the architecture.

Importing this module loads no torch: ``setup`` functions import it when they run.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from tlweb.engine.train.callbacks import Callback
from tlweb.errors import ModelError

CLASSIFICATION, SEGMENTATION, DETECTION = "image-classification", "image-segmentation", "object-detection"
ALL_TASKS = (CLASSIFICATION, SEGMENTATION, DETECTION)


@dataclass(frozen=True)
class ModelParts:
    """Which parameters of a loaded model are what, by name prefix (a task's ``parts(model)``; re-exported by :mod:`tlweb.engine.train.tasks.base`) (``name == p`` or starts with ``p + "."``).

    ``encoder``: the pretrained encoder / backbone (what "decoder" and "head" strategies freeze);
    ``head``: the new layers sized to the classes (fresh weights; they train at ``head_mult`` × the
    learning rate); ``decoder``: everything pretrained between them that trains with the head (a
    segmentation decoder minus its classifier, DETR's transformer and box head …). A parameter in
    none of them counts as decoder. ``lora_targets``: module names for LoRA adapters (None: the
    attention / projection layers found inside ``encoder``)."""

    encoder: tuple[str, ...]
    head: tuple[str, ...]
    decoder: tuple[str, ...] = ()
    lora_targets: tuple[str, ...] | None = None

    @staticmethod
    def _under(name: str, prefixes: Iterable[str]) -> bool:
        return any(name == p or name.startswith(p + ".") for p in prefixes)

    def part_of(self, name: str) -> str:
        """"head" | "encoder" | "decoder" for a parameter (or module) name."""
        if self._under(name, self.head):
            return "head"
        if self._under(name, self.encoder):
            return "encoder"
        return "decoder"

    def is_head(self, name: str) -> bool:
        return self._under(name, self.head)

    def is_encoder(self, name: str) -> bool:
        return self.part_of(name) == "encoder"


@dataclass
class Setup:
    """What a strategy's ``setup`` returns: the model to train (maybe wrapped), the head's name
    prefix(es) (its parameters get ``head_mult`` × the learning rate), a description of what trains,
    and ``finish(model) -> model`` run before the model is saved (LoRA merges its adapters)."""

    model: object
    head_prefix: str | tuple[str, ...]
    trains: str
    finish: Callable | None = None
    optimize_frozen: bool = False  # give the optimizer the frozen weights too (they are unfrozen later)


@dataclass(frozen=True)
class Strategy:
    name: str  # the value the CLI, the API and run folders use
    label: str  # the UI's radio / checkbox label
    short: str  # chart ticks and legends
    legend: str  # a longer chart label (facts, hover)
    explanation: str  # one line for the UI
    freezes: str  # what stays frozen, in words ("freezes …")
    color: str  # the same colour in every chart
    epochs: int
    lr: float
    head_mult: float = 1.0
    weight_decay: float = 0.01
    setup: Callable | None = None  # (model, cfg, parts) -> Setup; None for a head-only strategy
    callbacks: Callable[..., list[Callback]] | None = None  # (cfg, hp) -> extra loop callbacks
    head_only: bool = False  # backbone frozen; features computed once and cached, only a linear head trained
    pretrained: bool = True  # False: the same architecture from its config, random weights
    options: tuple[str, ...] = ()  # TrainConfig fields this strategy reads (recorded in the hyper-parameters)
    curve_label: str = ""  # legend in the data-efficiency chart ("" → legend)
    tasks: tuple[str, ...] = (CLASSIFICATION,)  # the training tasks it applies to (TrainTask.name)

    @property
    def defaults(self) -> dict:
        return {"epochs": self.epochs, "lr": self.lr, "head_mult": self.head_mult, "wd": self.weight_decay}

    @property
    def augment(self) -> bool:
        return not self.head_only  # cached features are fixed: nothing to augment

    def applies_to(self, task: str) -> bool:
        return task in self.tasks

    def __reduce__(self):  # a record pickles by name (it crosses into the ZeroGPU worker in a run's plan)
        return (get_strategy, (self.name,))


_REGISTRY: dict[str, Strategy] = {}


def register(strategy: Strategy) -> Strategy:
    """Add a strategy (or replace one of the same name); it appears in the CLI, the UI and the charts."""
    _REGISTRY[strategy.name] = strategy
    return strategy


def strategy(name: str, label: str, **fields) -> Callable:
    """Decorator: register the decorated ``setup(model, cfg, parts) -> Setup`` as strategy ``name``
    (``fields``: the other :class:`Strategy` fields)."""

    def deco(setup: Callable) -> Callable:
        register(Strategy(name, label, setup=setup, **fields))
        return setup

    return deco


def all_strategies(task: str | None = None) -> list[Strategy]:
    """Every registered strategy (of ``task`` when given), in registration order (the ladder's order)."""
    return [s for s in _REGISTRY.values() if task is None or task in s.tasks]


def strategy_names(task: str | None = None) -> tuple[str, ...]:
    return tuple(s.name for s in all_strategies(task))


def get_strategy(name: str) -> Strategy:
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ModelError(f"Unknown strategy '{name}'; pick one of {', '.join(_REGISTRY)}.") from None


# ------------------------------------- the strategies: classification's six, then segmentation's and detection's
# Ladder order = registration order. Colours are the viz palette's (tlweb.viz.common.PALETTE).


def _set_trainable(model, trainable: bool) -> None:
    for p in model.parameters():
        p.requires_grad_(trainable)


def _head_attr(model) -> str:
    from tlweb.engine.features import find_head

    return find_head(model)[0]


def _parts(model, parts):
    """The task's parts, or classification's (the head ``find_head`` finds, the rest is the encoder)."""
    if parts is not None:
        return parts
    head = _head_attr(model)
    return ModelParts(encoder=tuple(n for n, _ in model.named_children() if n != head), head=(head,))


def _head_prefix(parts) -> str | tuple[str, ...]:
    return parts.head[0] if len(parts.head) == 1 else tuple(parts.head)


register(Strategy(
    "linear", "Linear probe", short="linear probe", legend="linear probe (frozen pretrained backbone)",
    explanation="Linear probe: the pretrained backbone stays frozen, its features are computed once and cached, "
                "and a new linear head is fitted: L2 logistic regression, its strength chosen on held-out images "
                "(seconds).",
    # epochs / lr / weight decay: unused, the head is solved by L-BFGS over a sweep of C (tlweb.engine.head)
    freezes="the whole backbone", color="#4F46E5", epochs=100, lr=3e-3, weight_decay=1e-4, head_only=True,
    curve_label="pretrained · linear probe"))


@strategy("partial", "Partial (last blocks)", short="partial", legend="partial (last blocks + head)",
          explanation="Partial fine-tune: the last few blocks of the pretrained backbone and the new head are "
                      "trained; the earlier blocks stay frozen.", freezes="all but the last blocks",
          color="#0EA5E9", epochs=10, lr=3e-4, head_mult=10.0, options=("partial_blocks",))
def _partial(model, cfg, parts=None) -> Setup:
    from tlweb.engine.features import find_blocks

    head_attr = _parts(model, parts).head[0]
    blocks_name, blocks = find_blocks(model)
    _set_trainable(model, False)
    names = [n for n, _ in model.named_parameters()]
    n_blocks = len(blocks) if blocks is not None else 0
    k = max(1, min(int(cfg.partial_blocks), n_blocks)) if n_blocks else 0
    keep_prefixes = [f"{blocks_name}.{i}." for i in range(n_blocks - k, n_blocks)] if n_blocks else []
    last_block = max((i for i, n in enumerate(names) if blocks_name and n.startswith(blocks_name + ".")), default=-1)
    for i, (n, p) in enumerate(model.named_parameters()):
        if any(n.startswith(pf) for pf in keep_prefixes) or (last_block >= 0 and i > last_block) or \
                n.startswith(head_attr + "."):
            p.requires_grad_(True)
    return Setup(model, head_attr, f"last {k} of {n_blocks} blocks + head")


@strategy("full", "Full fine-tune", short="full fine-tune", legend="full fine-tune",
          explanation="Full fine-tune: every weight of the pretrained model is trained, starting from the "
                      "pretrained values, with a new head sized to your classes.",
          freezes="nothing", color="#10B981", epochs=10, lr=1e-4, head_mult=10.0, tasks=ALL_TASKS)
def _all_layers(model, cfg, parts=None) -> Setup:
    _set_trainable(model, True)
    return Setup(model, _head_prefix(_parts(model, parts)), "all layers")


class UnfreezeAfter(Callback):
    """Two-step (fastai's ``fine_tune``): the backbone stays frozen for the first ``epochs`` epochs
    (only the head learns), then every weight trains. The optimizer already holds the frozen
    weights (``Setup.optimize_frozen``), so unfreezing is one ``requires_grad`` flip."""

    def __init__(self, epochs: int = 1):
        self.epochs = epochs
        self.unfrozen_at: int | None = None

    def on_epoch_start(self, loop) -> None:
        if loop.epoch_index == self.epochs and self.unfrozen_at is None:
            _set_trainable(loop.task.model, True)
            self.unfrozen_at = loop.epoch_index
            loop.note = "backbone unfrozen: all layers train from here"


@strategy("two-step", "Two-step (head, then all)", short="two-step", legend="two-step (head first, then all layers)",
          explanation="Two-step: the first epoch trains only the new head on the frozen backbone, then every "
                      "weight is unfrozen and trained (fastai's fine_tune).",
          freezes="the backbone for the first epoch", color="#14B8A6", epochs=10, lr=1e-4, head_mult=10.0,
          callbacks=lambda cfg, hp: [UnfreezeAfter(1)])
def _head_then_all(model, cfg, parts=None) -> Setup:
    head_attr = _parts(model, parts).head[0]
    _set_trainable(model, False)
    for n, p in model.named_parameters():
        if n.startswith(head_attr + "."):
            p.requires_grad_(True)
    return Setup(model, head_attr, "the head alone for epoch 1, then all layers", optimize_frozen=True)


@strategy("lora", "LoRA", short="LoRA", legend="LoRA adapters",
          explanation="LoRA: small low-rank adapters inside the attention (or projection) layers and the new "
                      "head are trained; the adapters are merged into the weights when the model is saved.",
          freezes="the backbone weights (adapters and head train)", color="#A855F7", epochs=10, lr=1e-3,
          head_mult=3.0, weight_decay=0.0, options=("lora_r",), tasks=(CLASSIFICATION, SEGMENTATION))
def _lora(model, cfg, parts=None) -> Setup:
    from peft import LoraConfig, get_peft_model

    parts = _parts(model, parts)
    targets = list(parts.lora_targets) if parts.lora_targets else lora_targets(model, parts)
    r = max(1, int(cfg.lora_r))
    trained = [p for p in (*parts.decoder, *parts.head)
               if not any(p != q and p.startswith(q + ".") for q in (*parts.decoder, *parts.head))]
    lcfg = LoraConfig(r=r, lora_alpha=2 * r, lora_dropout=0.0, target_modules=targets, bias="none",
                      modules_to_save=list(dict.fromkeys(trained)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        peft_model = get_peft_model(model, lcfg)
    _expose_conv_attrs(peft_model)
    kinds = sorted({t.split(".")[-1] for t in targets})
    rest = " + decoder and head" if parts.decoder else " + head"
    return Setup(peft_model, _head_prefix(parts), f"LoRA r={r} on {len(targets)} layers ({', '.join(kinds[:4])})"
                 + rest, finish=lambda m: m.merge_and_unload())


register(Strategy(
    "scratch", "From scratch", short="from scratch", legend="scratch (random init)",
    explanation="From scratch: the same architecture with random weights, trained only on your images — the "
                "baseline that shows what pretraining buys.",
    freezes="nothing (starts from random weights)", color="#F97316", epochs=10, lr=1e-3, weight_decay=0.05,
    setup=_all_layers, pretrained=False, curve_label="from scratch (random init)", tasks=ALL_TASKS))


def _freeze_encoder(model, cfg, parts=None) -> Setup:
    """Segmentation's ``decoder`` and detection's ``head``: the encoder / backbone frozen, the rest trains."""
    parts = _parts(model, parts)
    for n, p in model.named_parameters():
        p.requires_grad_(not parts.is_encoder(n))
    frozen = sum(p.numel() for p in model.parameters() if not p.requires_grad)
    if frozen == 0:
        raise ModelError("No encoder weights were found to freeze in this model; pick 'full' instead.")
    return Setup(model, _head_prefix(parts), "all but the encoder / backbone")


register(Strategy(
    "decoder", "Decoder (frozen encoder)", short="decoder", legend="decoder + head (frozen pretrained encoder)",
    explanation="Decoder: the pretrained encoder stays frozen; the segmentation decoder and a new head sized to "
                "your classes are trained.",
    freezes="the encoder", color="#EAB308", epochs=20, lr=3e-4, head_mult=10.0, setup=_freeze_encoder,
    tasks=(SEGMENTATION,), curve_label="pretrained · decoder only"))

register(Strategy(
    "head", "Head (frozen backbone)", short="head", legend="detection head (frozen pretrained backbone)",
    explanation="Head: the pretrained backbone stays frozen; the detector's neck and transformer, its box head "
                "and a new class head sized to your classes are trained.",
    freezes="the backbone", color="#EF4444", epochs=20, lr=1e-4, head_mult=10.0, setup=_freeze_encoder,
    tasks=(DETECTION,), curve_label="pretrained · head only"))


def _expose_conv_attrs(model) -> None:
    """peft's LoRA conv wrappers hide ``stride``/``padding``…; some models read them (MobileNet's
    TF-style padding), so copy them from the wrapped convolution."""
    import torch.nn as nn

    for m in model.modules():
        base = getattr(m, "base_layer", None)
        if isinstance(base, nn.Conv2d) and not isinstance(m, nn.Conv2d):
            for attr in ("stride", "padding", "dilation", "kernel_size", "groups", "in_channels", "out_channels",
                         "padding_mode"):
                if attr not in m.__dict__:
                    object.__setattr__(m, attr, getattr(base, attr))


def lora_targets(model, parts=None) -> list[str]:
    """Module names for LoRA inside the encoder (``parts``; classification: all but the head):
    attention q/v projections, else ConvNeXt's pointwise layers, else the non-depthwise convolutions
    and linear layers inside the blocks."""
    import torch.nn as nn

    from tlweb.engine.features import find_blocks

    parts = _parts(model, parts)
    mods = [(n, m) for n, m in model.named_modules() if n and parts.is_encoder(n)]
    for names in (("q_proj", "v_proj"), ("query", "value"), ("qkv",), ("pwconv1", "pwconv2")):
        hits = [n for n, m in mods if n.split(".")[-1] in names and isinstance(m, (nn.Linear, nn.Conv2d))]
        if hits:
            return hits
    try:
        blocks_name, _ = find_blocks(model)
    except ModelError:  # no classification head (a segmenter): the encoder's layers themselves
        blocks_name = None
    inside = [(n, m) for n, m in mods if not blocks_name or n.startswith(blocks_name + ".")]
    hits = [n for n, m in inside if type(m) is nn.Linear
            or (type(m) is nn.Conv2d and m.groups == 1 and tuple(m.kernel_size) == (1, 1))]
    if len(hits) < 2:  # e.g. ResNet basic blocks: 1x1 convolutions only on the shortcuts
        hits = [n for n, m in inside if type(m) is nn.Linear or (type(m) is nn.Conv2d and m.groups == 1)]
    if not hits:
        raise ModelError("No layers suitable for LoRA adapters were found in this model; try 'partial' instead.")
    return hits
