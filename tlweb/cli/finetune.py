"""``finetune``: one fine-tune run from the command line (also under ``accelerate launch``)."""

from __future__ import annotations

import os
import sys

from tlweb.cli.common import _settings_from, print_json


def add_finetune(sub) -> None:
    from tlweb.engine.train import all_strategies, train_tasks  # light: torch is imported when training starts

    names = [s.name for s in all_strategies()]
    tasks = train_tasks()
    p = sub.add_parser("finetune", help=f"fine-tune a pretrained model on a dataset ({', '.join(names)})",
                       description="Fine-tune a model; works under `accelerate launch -m tlweb finetune …` too.")
    p.add_argument("--model", required=True, help="catalog key, Hub id or local folder (save_pretrained output)")
    p.add_argument("--data", required=True,
                   help="Hub dataset id, folder of class folders (train/ and test/ used when present), .zip of them, "
                        "or 'sample' for the built-in generated dataset")
    p.add_argument("--task", choices=[t.name for t in tasks], default=tasks[0].name,
                   help=f"what to train the model for (default {tasks[0].name}); the data is read the task's way")
    p.add_argument("--strategy", choices=names, default=None,
                   help="what to train (default: the task's first, linear for classification): "
                        + "; ".join(f"{s.name} freezes {s.freezes}" for s in all_strategies())
                        + " · per task: " + "; ".join(f"{t.name}: {', '.join(t.strategies)}" for t in tasks))
    p.add_argument("--epochs", type=int, help="epochs (default: per strategy; two-step counts both phases; "
                                              "capped on CPU by TLWEB_MAX_EPOCHS_CPU)")
    p.add_argument("--batch-size", type=int, help="images per step (default: per strategy and data size)")
    p.add_argument("--lr", type=float, help="peak learning rate (default: per strategy)")
    p.add_argument("--out", help="run folder to create (default: a new folder under the runs directory); "
                                 "`python -m tlweb runs stop FOLDER` stops it from another terminal")
    p.add_argument("--per-class", type=int, help="use at most N training images per class")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", help="a label for the run")
    p.add_argument("--partial-blocks", type=int, default=2, help="blocks trained by the partial strategy (default 2)")
    p.add_argument("--lora-r", type=int, default=8, help="LoRA rank (default 8)")
    p.add_argument("--no-augment", action="store_true", help="no random flips / crops")
    p.add_argument("--image-column", help="Hub datasets: the image column (auto-detected)")
    p.add_argument("--label-column", help="Hub datasets: the label column (auto-detected)")
    p.add_argument("--split", help="Hub datasets: training split, optionally ',test split' (e.g. 'train[:2000],test')")
    p.add_argument("--test-fraction", type=float, default=0.2, help="held out when the data has no test split")
    p.add_argument("--mask-column", help="segmentation, Hub datasets: the mask column (auto-detected: annotation, "
                                         "label, semantic_map …)")
    p.add_argument("--labels", help="segmentation: the class names when the data has no labels.txt — a labels.txt "
                                    "file (one name a line, line 1 = class 0) or names separated by commas")
    p.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    p.add_argument("--demo", action="store_true", help="also resolve demo model keys (demo-vit …)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N, mps")
    p.set_defaults(func=cmd_finetune)


def _progress_line(e) -> str | None:
    if e.kind == "start":
        return f"start: {e.message}"
    if e.kind == "eval" and e.C is not None:  # the linear probe: one point of its regularization sweep
        return f"C sweep {e.step}/{e.total_steps}: {e.message}"
    if e.kind == "eval":
        parts = [f"epoch {e.epoch:g}", f"step {e.step}/{e.total_steps}"]
        if e.val_loss is not None:
            parts.append(f"val loss {e.val_loss:.4f}")
        if e.val_accuracy is not None:
            parts.append(f"val acc {e.val_accuracy * 100:.1f}%")
        elif getattr(e, "val_metric", None) is not None:  # another task's metric (mIoU, mAP …)
            parts.append(f"val {e.metric} {e.val_metric * 100:.1f}%")
        if e.images_per_s:
            parts.append(f"{e.images_per_s:,.0f} img/s")
        if e.eta_s is not None:
            parts.append(f"ETA {e.eta_s:.0f} s")
        return " · ".join(parts)
    if e.kind in ("done", "stopped", "error"):  # "done in 7.7 s; …" says what it is already
        return e.message if e.message.startswith(e.kind) else f"{e.kind}: {e.message}"
    return None


def cmd_finetune(args) -> int:
    import signal
    import threading

    settings = _settings_from(args)
    from tlweb.engine.train import TrainConfig, finetune, train_task

    task = train_task(args.task)
    strategy = args.strategy or task.strategies[0]
    task.strategy(strategy)  # another task's strategy is a sentence before the data is read

    main_process = os.environ.get("RANK", "0") in ("", "0")
    stop = threading.Event()

    def on_signal(signum, frame):  # first Ctrl+C: stop cleanly and keep the best model; second: abort
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("stopping after this step (Ctrl+C again to abort)…", file=sys.stderr, flush=True)

    old = signal.signal(signal.SIGINT, on_signal) if threading.current_thread() is threading.main_thread() else None

    def on_event(e) -> None:
        line = _progress_line(e)
        if line and main_process:
            print(line, file=sys.stderr, flush=True)

    try:
        data = task.load_data(args.data, image_column=args.image_column, label_column=args.label_column,
                              split=args.split, test_fraction=args.test_fraction, seed=args.seed, settings=settings,
                              mask_column=args.mask_column, labels=args.labels)
        if main_process:
            print(f"data: {data.summary()}", file=sys.stderr, flush=True)
            for warning in getattr(data, "warnings", [])[:5]:
                print(f"data: {warning}", file=sys.stderr, flush=True)
        cfg = TrainConfig(model=args.model, data=data, strategy=strategy, epochs=args.epochs,
                          batch_size=args.batch_size, lr=args.lr, partial_blocks=args.partial_blocks,
                          lora_r=args.lora_r, per_class=args.per_class, seed=args.seed, out_dir=args.out,
                          name=args.name, augment=not args.no_augment, task=task.name)
        result = finetune(cfg, on_event=on_event, should_stop=stop.is_set, settings=settings)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    if not main_process:
        return 0
    if args.json:
        print_json(_json(result, task, args))
    else:
        print(f"{result.strategy} · {result.base_model} · {result.train_images} train / {result.test_images} test images")
        if result.test_accuracy is not None:
            line = f"test accuracy {result.test_accuracy * 100:.1f}% · macro-F1 {result.test_macro_f1 * 100:.1f}%"
        else:
            line = f"test {task.metric_label} {result.test_metric * 100:.1f}%"
        print(line + (" (stopped early)" if result.stopped else ""))
        print(f"model: {result.model_dir}")
    return 0


def _json(result, task, args) -> dict:
    """Classification: the RunResult as it always was (+ model, data). Another task: its own keys
    (``task.json_keys``, from metrics.json) between the run's facts and its folders."""
    if not task.json_keys:
        out = result.as_dict()
        out["model"] = args.model
        out["data"] = args.data
        return out
    out = {"task": task.name, "strategy": result.strategy, "base_model": result.base_model,
           "train_images": result.train_images, "val_images": result.val_images, "test_images": result.test_images}
    out.update({k: result.metrics.get(k) for k in task.json_keys})
    out.update({"stopped": result.stopped, "run_dir": str(result.run_dir), "model_dir": str(result.model_dir)})
    return out


COMMANDS = [add_finetune]
