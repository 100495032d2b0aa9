"""The body of a model card (:mod:`.card`): what the model is, its test figures with their limits, the
data, the strategy and hyper-parameters, the pictures and a ``pipeline`` snippet. Plain Markdown built
from the run folder's numbers; pictures are drawn by :mod:`.card_images`. :func:`write_card` writes the
whole card (the front matter from :mod:`.card`, then this body)."""

from __future__ import annotations

import logging
from pathlib import Path

from tlweb.engine.metrics import percent
from tlweb.engine.runs.files import read_events, read_json
from tlweb.engine.train import card, card_images

log = logging.getLogger(__name__)

MAX_ROWS = 60  # classes listed in the data table
HIDDEN_HP = {"ignored", "C_grid", "objective", "world_size", "device", "precision"}
PIPELINE_ARGS = {"image-segmentation": ', subtask="semantic"'}
CALL_ARGS = {"object-detection": ", threshold=0.5"}


def draw(config: dict, metrics: dict, events: list[dict], out: Path, tables: dict) -> dict[str, str]:
    """The card's pictures in ``out``: {what: file name} (curves, confusion matrix, per-class scores)."""
    out.mkdir(parents=True, exist_ok=True)
    images: dict[str, str] = {}
    metric = metrics.get("metric") or config.get("metric") or "accuracy"
    label = _task_label(config, metrics, "metric_label") or metric
    sweep = (config.get("hyperparameters") or {}).get("solver") == "L-BFGS"
    if card_images.curves(events, out / "curves.png", label, sweep=sweep):
        images["curves"] = "curves.png"
    names = metrics.get("class_names") or config.get("class_names") or []
    if metrics.get("confusion_matrix") and card_images.confusion(metrics["confusion_matrix"], names,
                                                                 out / "confusion_matrix.png"):
        images["confusion"] = "confusion_matrix.png"

    for key, table in tables.items():
        short, title = card.PER_CLASS.get(key, (key[len("per_class_"):].upper(), key.replace("_", " ")))
        if card_images.per_class(table, out / f"{key}.png", short, title):
            images[key] = f"{key}.png"
    return images


def _task_label(config: dict, metrics: dict, attr: str = "label") -> str:

    task = card.task_record(config.get("task") or metrics.get("task"))
    return str(getattr(task, attr, "") or "") if task else ""


def _strategy(name: str):
    """The record of a strategy name read back from a run's files (None for one this version does not know:
    it is named as it was recorded). A listing, not the run's own look-up: the run resolved it already."""
    from tlweb.engine.train.strategies import all_strategies

    return next((s for s in all_strategies() if s.name == name), None)


def _hub_link(name: str, hub_id: str | None) -> str:
    return f"[{hub_id}](https://huggingface.co/{hub_id})" if hub_id else f"`{name}`"


def _intro(config: dict, metrics: dict, model_name: str, repo_id: str | None) -> list[str]:

    base = config.get("base") or {}
    strategy = _strategy(str(config.get("strategy") or ""))
    how = strategy.label if strategy else str(config.get("strategy") or "a fine-tune")
    ds_name, _, ds_hub = card.dataset_facts(config)
    data = f"[{ds_hub}](https://huggingface.co/datasets/{ds_hub})" if ds_hub else f"`{ds_name}` (local data)"
    names = config.get("class_names") or []
    title = model_name if repo_id else str(config.get("name") or model_name)
    return [f"# {title}", "",
            f"{how} of {_hub_link(base.get('name') or config.get('base_model') or '?', base.get('hub_id'))} for "
            f"{_task_label(config, metrics) or config.get('task') or 'image classification'} on {data}: "
            f"{len(names)} classes, {metrics.get('train_images', '?')} training and {metrics.get('test_images', '?')} "
            "test images. Trained with tlweb, a transfer-learning workbench for computer vision "
            f"(run `{config.get('run_id') or model_name}`).", ""]


def _results(metrics: dict, tests: list) -> list[str]:
    lines = ["## Results", "", "| metric | value |", "|---|---|"]
    lines += [f"| {name} | {percent(value)} (`{value}`) |" for _, _, name, value in tests]
    n = int(metrics.get("test_images") or 0)
    lines += ["", f"Measured once, on {n} test images that took no part in training or in picking the kept model.",
              ""]
    return lines


def _limits(config: dict, metrics: dict, tests: list) -> list[str]:
    from tlweb.engine.metrics import wilson_interval

    n = int(metrics.get("test_images") or 0)
    out = []
    acc = next((v for key, _, _, v in tests if key == "test_accuracy"), None)
    if acc is not None and n:
        k = round(acc * n)
        lo, hi = wilson_interval(k, n)
        out.append(f"**Test set size.** {k} of {n} test images right: the accuracy's 95 % interval (Wilson) is "
                   f"{lo * 100:.0f}–{hi * 100:.0f} %. On another sample of the same kind of pictures expect a figure "
                   "anywhere in it.")
    elif tests:
        out.append(f"**Test set size.** {tests[0][2]} comes from {n} test images, one split: no interval is "
                   f"computed for it, and on {'so few' if n < 50 else 'these'} images another split can move it by "
                   "several points.")
    base = config.get("base") or {}
    if base.get("demo") or base.get("source") == "demo":
        out.append("**Demo base.** " + card.DEMO_NOTE[bool(base.get("random_weights"))])
    if metrics.get("stopped"):
        out.append("**Stopped early.** The run was stopped before its last epoch; this is the best model it had.")
    data = config.get("data") or {}
    out += [f"**Data.** {w}" for w in (data.get("warnings") or [])[:5]]
    if data.get("skipped_total"):
        out.append(f"**Data.** {data['skipped_total']} files could not be read and were left out.")
    if (config.get("task") or "image-classification") == "image-classification":
        out.append("**Closed set.** The model always answers one of its classes, also for a picture of "
                   "something else.")
    return ["## Limits", ""] + [f"- {line}" for line in out] + [""]


def _data(config: dict) -> list[str]:
    counts = (config.get("data") or {}).get("counts") or {}
    train, test = counts.get("train") or {}, counts.get("test") or {}
    names = config.get("class_names") or list(train)
    lines = ["## Training data", ""]
    if (config.get("task") or "image-classification") != "image-classification":
        lines += ["Counts are images holding the class (a picture may hold several).", ""]
    lines += ["| class | training images | test images |", "|---|---:|---:|"]
    for name in names[:MAX_ROWS]:
        lines.append(f"| {str(name).replace('|', '/')} | {train.get(name, 0)} | {test.get(name, 0)} |")
    if len(names) > MAX_ROWS:
        lines.append(f"| … {len(names) - MAX_ROWS} more classes | | |")
    data = config.get("data") or {}
    lines += ["", f"Test images: {data.get('test_from') or 'a held-out split'}; "
              f"{data.get('val_images') or 0} of the training images were held out to pick the kept model.", ""]
    return lines


def _training(config: dict, metrics: dict) -> list[str]:
    strategy = _strategy(str(config.get("strategy") or ""))
    lines = ["## Training", ""]
    if strategy:
        lines.append(f"- **Strategy:** {strategy.label} (`{strategy.name}`). {strategy.explanation} "
                     f"Frozen: {strategy.freezes}.")
    else:
        lines.append(f"- **Strategy:** `{config.get('strategy')}`")
    lines += [f"- **Kept model:** {metrics.get('selection') or 'the last epoch'}",
              f"- **Wall time:** {metrics.get('wall_s', '?')} s on {config.get('device', '?')} "
              f"({config.get('precision', '?')}), seed {(config.get('train_config') or {}).get('seed', 0)}", "",
              "| hyper-parameter | value |", "|---|---|"]
    hp = config.get("hyperparameters") or {}
    for key, value in hp.items():
        if key in HIDDEN_HP or value is None or isinstance(value, (dict, list)):
            continue
        lines.append(f"| {key} | {value:g} |" if isinstance(value, float) else f"| {key} | {value} |")
    if hp.get("C_grid"):
        grid = hp["C_grid"]
        lines.append(f"| C searched | {len(grid)} values, {grid[0]:g} … {grid[-1]:g} |")
        chosen = (metrics.get("head") or {}).get("C")
        if chosen is not None:
            lines.append(f"| C chosen | {chosen:g} |")
    return lines + [""]


def _pictures(images: dict[str, str], config: dict, metrics: dict) -> list[str]:
    if not images:
        return []

    lines = ["## Curves and per-class results", ""]
    if "curves" in images:
        lines += ["![Training curves: loss and the validation metric](curves.png)", ""]
    if "confusion" in images:
        lines += ["![Confusion matrix on the test images](confusion_matrix.png)", ""]
    for key, file in images.items():
        if key.startswith("per_class_"):
            lines += [f"![{card.PER_CLASS.get(key, (key, key))[1]}]({file})", ""]
    return lines


def _usage(config: dict, repo_id: str | None) -> list[str]:
    task = config.get("task") or "image-classification"
    ref = repo_id or "path/to/this/folder"
    return ["## How to use", "", "```python", "from transformers import pipeline", "",
            f'pipe = pipeline("{task}", model="{ref}"{PIPELINE_ARGS.get(task, "")})',
            f'print(pipe("photo.jpg"{CALL_ARGS.get(task, "")}))', "```", "",
            "No custom code: the folder holds a plain transformers model (safetensors weights, its config with "
            "the class names, and its image processor).", ""]


def body(config: dict, metrics: dict, events: list[dict], images: dict[str, str], *, repo_id: str | None,
         model_name: str, tests: list) -> str:
    """The card's Markdown below the front matter."""
    parts = (_intro(config, metrics, model_name, repo_id) + _results(metrics, tests) + _limits(config, metrics, tests)
             + _data(config) + _training(config, metrics) + _pictures(images, config, metrics)
             + _usage(config, repo_id))
    return "\n".join(parts).rstrip() + "\n"


def write_card(run_dir, out_dir=None, repo_id: str | None = None) -> Path:
    """Write ``README.md`` and its pictures into ``out_dir`` (default: the run's ``model/`` folder); the
    usage snippet names ``repo_id`` when given (a push), else the folder. Returns the card's path."""
    run_dir = Path(run_dir)
    out = Path(out_dir) if out_dir is not None else run_dir / "model"
    config = read_json(run_dir / "config.json") or {}
    metrics = read_json(run_dir / "metrics.json") or {}
    events = read_events(run_dir)
    images = draw(config, metrics, events, out, card.per_class_tables(config, metrics))
    model_name = (repo_id.split("/")[-1] if repo_id else None) or str(config.get("run_id") or run_dir.name)
    data = card.card_data(config, metrics, model_name)
    text = body(config, metrics, events, images, repo_id=repo_id, model_name=model_name,
                tests=card.test_metrics(config, metrics))
    path = out / card.CARD_FILE
    path.write_text(f"---\n{data.to_yaml()}\n---\n\n{text}", encoding="utf-8")
    return path


def write_card_quietly(run_dir) -> Path | None:
    """:func:`write_card` for the end of a run: a card that cannot be written is logged, never the run's failure."""
    try:
        return write_card(run_dir)
    except Exception as exc:  # noqa: BLE001 - the model is saved; its card is a convenience
        log.warning("could not write the model card of %s: %s", Path(run_dir).name, exc)
        return None
