"""A model card in every saved model: ``model/README.md`` with the Hub's front matter and a body that says
what the model is, how well it did and where that number stops meaning anything.

Written by :func:`tlweb.engine.train.card_body.write_card` from the one place a run saves its model
(:func:`tlweb.engine.train.run.finetune`, after metrics.json), read back from the run folder only (config.json, metrics.json, events.jsonl), so a card
can be written again for a run made before cards existed (:mod:`tlweb.engine.publish` does, on export and
push). Generic over the training tasks: the metrics come from the task record's ``metric`` and
``json_keys`` (a new task's ``test_*`` numbers and ``per_class_*`` tables appear without a change here).

Front matter (``huggingface_hub.ModelCard`` parses it): ``library_name: transformers``, ``pipeline_tag``
(the task), ``base_model`` (the base's Hub id; a demo, local or run base: its recorded Hub id if it has
one, else its plain name — never a path), ``datasets`` (only when the data came from the Hub), ``license``
(the base model's, when it is one the Hub knows), ``tags`` (tlweb, the task, the strategy) and a
``model-index`` whose metrics are the run's ``--json`` figures (fractions 0..1). Pictures (curves, the
confusion matrix or per-class scores) are PNGs beside the card (:mod:`.card_images`).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from tlweb import access

CARD_FILE = "README.md"
LIBRARY = "transformers"
# licences the Hub's metadata accepts that catalog models carry (a base with another licence gets none)
HUB_LICENSES = frozenset({
    "apache-2.0", "mit", "openrail", "openrail++", "bigscience-openrail-m", "creativeml-openrail-m", "bsd",
    "bsd-2-clause", "bsd-3-clause", "cc-by-4.0", "cc-by-sa-4.0", "cc-by-nc-4.0", "cc-by-nc-sa-4.0",
    "cc-by-nc-nd-4.0", "cc0-1.0", "gpl-3.0", "lgpl-3.0", "agpl-3.0", "afl-3.0", "artistic-2.0", "bsl-1.0",
    "ecl-2.0", "epl-2.0", "mpl-2.0", "unlicense", "llama2", "llama3", "gemma", "other",
})
# metrics.json key -> (the Hub's metric type, its name on the card); other test_* keys keep their stem
METRIC_TYPES = {
    "test_accuracy": ("accuracy", "Test accuracy"),
    "test_macro_f1": ("f1", "Test macro-F1"),
    "test_miou": ("mean_iou", "Test mIoU"),
    "test_pixel_accuracy": ("pixel_accuracy", "Test pixel accuracy"),
    "test_mean_accuracy": ("mean_accuracy", "Test mean class accuracy"),
    "test_map": ("map", "Test mAP@[.5:.95]"),
    "test_map50": ("map_50", "Test mAP@0.5"),
    "test_map75": ("map_75", "Test mAP@0.75"),
}
# the --json figures of classification are rounded to 6 digits (RunResult.as_dict); the card uses the same
ROUNDED = ("test_accuracy", "test_macro_f1", "test_metric")
PER_CLASS = {"per_class_iou": ("IoU", "IoU per class"), "per_class_ap": ("AP", "AP per class (IoU .50:.95)"),
             "per_class_f1": ("F1", "F1 per class")}
DEMO_NOTE = {
    True: ("The base model is a tiny random-weight demo model (tlweb's UI demo): it knows nothing, so these "
           "numbers show the pipeline working, not transfer learning."),
    False: ("The base model is a tiny tlweb demo model trained only on generated pictures: its features know "
            "nothing about photos, so expect little transfer to real pictures."),
}
_SNAPSHOT = re.compile(r"models--([^/]+?)--([^/]+)/snapshots/")


# --------------------------------------------------------------------------- what a run records at its start


def base_facts(spec) -> dict:
    """What the card says about the base model, recorded in the run's config.json when the run starts:
    ``hub_id`` (None when it has none), ``name`` (never a path), ``source``, ``license`` (a Hub licence
    id or None), ``pretrained_on``, ``demo`` (a tlweb demo model, also one copied into a folder) and ``random_weights``."""
    hub_id = recorded_hub_id(spec)
    name = spec.hub_id if spec.source in ("catalog", "hub") else spec.key
    on = spec.pretrained_on or ""
    # a demo model copied into a folder still records its demo key: the card warns about it all the same
    demo = spec.source == "demo" or str(spec.key or "").startswith("demo-")
    return {"hub_id": hub_id, "name": _plain(name), "source": spec.source, "license": _license_of(spec, hub_id),
            "pretrained_on": on, "demo": demo, "random_weights": demo and on.startswith("nothing")}


def _plain(name: str) -> str:
    """A name without any folder: a Hub id stays as it is, a path keeps only its last part."""
    name = str(name or "")
    if access.is_hub_id(name):
        return name
    return name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1] or "unknown"


def recorded_hub_id(spec) -> str | None:
    """The base's Hub id: a catalog or typed Hub model's id; for a folder (demo, run, local) the id it
    records (``tlweb.hub_id`` in its config.json), or the repository of a Hugging Face cache snapshot."""
    if spec.source in ("catalog", "hub"):
        return spec.hub_id if access.is_hub_id(spec.hub_id) else None
    folder = Path(spec.hub_id)
    try:
        meta = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("tlweb") or {}
    except (OSError, ValueError, AttributeError):
        meta = {}
    found = meta.get("hub_id") if isinstance(meta, dict) else None
    if isinstance(found, str) and "/" in found and access.is_hub_id(found):
        return found
    m = _SNAPSHOT.search(folder.as_posix() + "/")
    return f"{m.group(1)}/{m.group(2)}" if m else None


def _license_of(spec, hub_id: str | None) -> str | None:
    """The base's licence when the Hub knows it: the catalog's, else a model card's front matter (the
    folder's own README.md, or the Hub cache's copy for a Hub id)."""
    if spec.license in HUB_LICENSES:
        return spec.license
    card = None
    if spec.source in ("demo", "run", "local"):
        card = Path(spec.hub_id) / CARD_FILE
    elif hub_id:
        try:
            from huggingface_hub import try_to_load_from_cache

            found = try_to_load_from_cache(hub_id, CARD_FILE)
            card = Path(found) if isinstance(found, str) else None
        except Exception:  # noqa: BLE001 - a missing cache is no licence, not an error
            card = None
    meta = _front_matter(card) if card is not None else {}
    value = meta.get("license")
    return value if isinstance(value, str) and value in HUB_LICENSES else None


def _front_matter(path: Path) -> dict:
    try:
        from huggingface_hub.repocard import metadata_load

        return metadata_load(path) or {}
    except Exception:  # noqa: BLE001 - unreadable or no card: nothing recorded
        return {}


def hub_dataset(data) -> str | None:
    """The Hub id the run's data came from (a subsample's base included), or None for local data."""
    for d in (data, getattr(data, "base", None)):
        found = getattr(d, "hub_id", "") if d is not None else ""
        if found:
            return str(found)
    return None


# --------------------------------------------------------------------------- the card


def json_value(key: str, value):
    """A metric as the run's ``--json`` prints it (classification's figures rounded to 6 digits)."""
    if value is None:
        return None
    value = float(value)
    return round(value, 6) if key in ROUNDED else value


def task_record(name: str | None):
    """The training task's record, or None for a task this version does not know."""
    from tlweb.engine.train.tasks import train_task

    try:
        return train_task(name)
    except Exception:  # noqa: BLE001 - a task unknown to this version: the card still says what it can
        return None


def test_metrics(config: dict, metrics: dict) -> list[tuple[str, str, str, float]]:
    """(metrics.json key, Hub metric type, name, value) of every scalar test figure the task reports:
    its headline ``test_<metric>`` first, then its ``json_keys`` (classification: accuracy and macro-F1)."""
    task = task_record(config.get("task") or metrics.get("task"))
    stem = (task.metric if task else None) or metrics.get("metric") or "accuracy"
    keys = [f"test_{stem}"] + list((task.json_keys if task else ()) or ("test_accuracy", "test_macro_f1"))
    out, seen = [], set()
    for key in keys:
        value = metrics.get(key)
        if key in seen or not key.startswith("test_") or isinstance(value, bool) \
                or not isinstance(value, (int, float)) or not math.isfinite(value):
            continue
        seen.add(key)
        kind, name = METRIC_TYPES.get(key, (key[5:], "Test " + key[5:].replace("_", " ")))
        out.append((key, kind, name, json_value(key, value)))
    return out


def per_class_tables(config: dict, metrics: dict) -> dict[str, dict]:
    """``per_class_*`` tables of scores 0..1 the task reports (IoU, AP), plus classification's F1."""
    task = task_record(config.get("task") or metrics.get("task"))
    out = {}
    for key in (task.json_keys if task else ()) or ():
        table = metrics.get(key)
        if key.startswith("per_class_") and isinstance(table, dict) and table and all(
                v is None or isinstance(v, (int, float)) for v in table.values()):
            out[key] = table
    per = metrics.get("per_class")
    if not out and isinstance(per, dict) and per:
        out["per_class_f1"] = {n: (v or {}).get("f1") for n, v in per.items()}
    return out


def dataset_facts(config: dict) -> tuple[str, str, str | None]:
    """(name, type, Hub id or None) of the run's data for the model-index: a Hub dataset by its id; local
    data by its folder or zip name (or ``sample``), type ``imagefolder``."""
    data = config.get("data") or {}
    hub = data.get("hub_id")
    if hub and access.is_hub_id(str(hub)):
        return str(hub), str(hub), str(hub)
    source = str(data.get("source") or "local data")
    name = source.split(" ")[0] if source.startswith("sample") else _plain(source)
    return name or "local data", "imagefolder", None


def card_data(config: dict, metrics: dict, model_name: str):
    """The front matter as a ``huggingface_hub.ModelCardData``."""
    from huggingface_hub import EvalResult, ModelCardData

    task_name = config.get("task") or metrics.get("task") or "image-classification"
    task = task_record(task_name)
    base = config.get("base") or {}
    base_model = base.get("hub_id") or base.get("name") or _plain(config.get("base_model") or "") or None
    ds_name, ds_type, ds_hub = dataset_facts(config)
    results = [EvalResult(task_type=task_name, task_name=(task.label if task else task_name).capitalize(),
                          dataset_type=ds_type, dataset_name=ds_name, dataset_split="test",
                          metric_type=kind, metric_value=value, metric_name=name)
               for _, kind, name, value in test_metrics(config, metrics)]
    strategy = str(config.get("strategy") or "")
    tags = ["tlweb", "transfer-learning", task_name] + ([strategy] if strategy else [])
    if base.get("demo") or base.get("source") == "demo":
        tags.append("tlweb-demo")
    return ModelCardData(library_name=LIBRARY, pipeline_tag=task_name, base_model=base_model,
                         datasets=[ds_hub] if ds_hub else None, license=base.get("license") or None,
                         tags=tags, model_name=model_name, eval_results=results or None)
