"""``efficiency``: the data-efficiency curve from the command line — test accuracy at 1, 2, 5 …
training images per class for each strategy, optionally against a zero-shot CLIP/SigLIP baseline."""

from __future__ import annotations

import sys

from tlweb.cli.common import _common_flags, _data_command, _load, _settings_from, _template_flag, print_json


def _ints(text: str) -> list[int]:
    from tlweb.errors import DataError

    try:
        return [int(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise DataError(f"--shots takes whole numbers separated by commas (got '{text}').") from None


def add_efficiency(sub) -> None:
    from tlweb.engine.train import DEFAULT_SEEDS, train_tasks

    tasks = train_tasks()

    p = _data_command(sub, "efficiency", cmd_efficiency,
                      help="data-efficiency curve: accuracy vs training images per class "
                           "(optionally against a zero-shot CLIP/SigLIP baseline)",
                      description="Each strategy at each number of training images per class, on the same test "
                                  "split, as one experiment folder (`runs ls` lists it; `runs stop ID` stops it).",
                      model_help="backbone: catalog key, Hub id or local folder")
    p.add_argument("--shots", default="1,2,5,10,25", help="training images per class, comma-separated "
                                                         "(default 1,2,5,10,25; sizes above the smallest class are skipped)")
    p.add_argument("--task", choices=[t.name for t in tasks], default=tasks[0].name,
                   help=f"what to train for (default {tasks[0].name}); the data is read the task's way and the "
                        "curve shows the task's metric (accuracy, mIoU, mAP)")
    p.add_argument("--strategies", help="comma-separated (default: linear,scratch for classification, the task's "
                                        "first strategy and scratch for the others)")
    p.add_argument("--mask-column", help="segmentation, Hub datasets: the mask column (auto-detected)")
    p.add_argument("--labels", help="segmentation: the class names when the data has no labels.txt (a file or "
                                    "names separated by commas)")
    p.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                   help=f"runs per point, each with another draw of the images (default {DEFAULT_SEEDS})")
    p.add_argument("--epochs", type=int, help="epochs of the network strategies (default: per strategy)")
    p.add_argument("--zero-shot", metavar="MODEL",
                   help="a CLIP or SigLIP model classifying the same test split from the class names alone: "
                        "the dashed '0 images per class' line")
    _template_flag(p)
    p.add_argument("--report", metavar="HTML", help="also write the self-contained HTML report here")
    _common_flags(p)


def cmd_efficiency(args) -> int:
    import signal
    import threading

    settings = _settings_from(args)
    from tlweb.engine.train import data_efficiency, train_task
    from tlweb.engine.train.baseline import check_zero_shot
    from tlweb.engine.train.tasks import CLASSIFICATION

    task = train_task(args.task)
    default = "linear,scratch" if task.name == CLASSIFICATION else f"{task.strategies[0]},scratch"
    strategies = [s.strip() for s in (args.strategies or default).split(",") if s.strip()]
    for s in strategies:
        task.strategy(s)  # an unknown strategy, or another task's, is a sentence before the data is loaded
    shots = _ints(args.shots)
    check_zero_shot(args.zero_shot, args.templates, settings)  # so is a model that is not CLIP/SigLIP
    stop = threading.Event()

    def on_signal(signum, frame):  # first Ctrl+C: stop after this step; second: abort
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()
        print("stopping after this step (Ctrl+C again to abort)…", file=sys.stderr, flush=True)

    old = signal.signal(signal.SIGINT, on_signal) if threading.current_thread() is threading.main_thread() else None
    try:
        data = _load_for(task, args, settings)
        kw = {"epochs": args.epochs} if args.epochs else {}
        if task.name != CLASSIFICATION:
            kw["task"] = task.name
        rows = data_efficiency(args.model, data, shots=shots, strategies=strategies, seed=args.seed, seeds=args.seeds,
                               zero_shot=args.zero_shot, templates=args.templates, should_stop=stop.is_set,
                               on_event=_progress, settings=settings, **kw)
    finally:
        if old is not None:
            signal.signal(signal.SIGINT, old)
    return _print(args, rows, data, settings)


def _load_for(task, args, settings):
    """The dataset read the task's way (classification: :func:`tlweb.cli.common._load`)."""
    from tlweb.engine.train.tasks import CLASSIFICATION

    if task.name == CLASSIFICATION:
        return _load(args, settings)
    data = task.load_data(args.data, image_column=args.image_column, label_column=args.label_column, split=args.split,
                          test_fraction=args.test_fraction, seed=args.seed, settings=settings,
                          mask_column=args.mask_column, labels=args.labels)
    print(f"data: {data.summary()}", file=sys.stderr, flush=True)
    return data


def _progress(e) -> None:
    if e.kind in ("done", "stopped", "error"):
        print(f"{e.run_id}: {e.kind}: {e.message}", file=sys.stderr, flush=True)


def _print(args, rows: list[dict], data, settings) -> int:
    from pathlib import Path

    from tlweb.engine.runs import find_run
    from tlweb.engine.train.baseline import baseline_of
    from tlweb.viz.training import zero_shot_sentence

    zs = baseline_of(rows)
    runs = [r for r in rows if r is not zs]
    run_dir = find_run(runs[0]["run_id"], settings) if runs else None
    experiment = run_dir.parent.name if run_dir is not None else None
    report = None
    if args.report and experiment:
        from tlweb.viz.report import write_report
        from tlweb.viz.report_training import experiment_report_html

        report = str(write_report(experiment_report_html(experiment, settings), Path(args.report)).resolve())
    sentence = zero_shot_sentence(runs, zs) if zs else ""
    if args.json:
        print_json({"experiment": experiment, "rows": runs, "zero_shot": zs, "sentence": sentence, "report": report,
                    "classes": len(data.class_names)})
        return 0
    for r in runs:
        metric = r.get("metric") or "accuracy"
        value = r.get("test_metric", r.get("test_accuracy"))
        shown = "—" if value is None else f"{value * 100:5.1f}%"
        print(f"{r['strategy']:10s} {r['per_class']:>4} per class  seed {r['seed']}  "
              f"{metric} {shown} on {r['test_images']} test images  {r['run_id']}")
    if sentence:
        print(sentence)
    if experiment:
        print(f"experiment: {experiment}" + (f" · report: {report}" if report else ""))
    return 0


COMMANDS = [add_efficiency]
