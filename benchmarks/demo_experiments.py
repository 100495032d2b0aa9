"""The Fine-tune tab's strategy ladder and data-efficiency curve with the tab's defaults on demo data, timed
through the tab's own handlers (as a page drains them), with and without the one-CPU-thread rule for tiny models.

    python benchmarks/demo_experiments.py [--only ladder|efficiency] [--baseline] [--json out.json] [--smoke]

Defaults of the tab in demo mode: the backbone ``demo-resnet-shapes``, the built-in sample (4 classes × 32 training
/ 8 test pictures), every strategy in the ladder and linear + scratch at 1, 2, 5, 10 and 25 pictures per class in
the curve, 3 seeds each, "auto" epochs, batch size and learning rate (18 and 30 runs).

``--baseline`` lets tiny models train on torch's default threads (the rule off: what the tab did before); without
it the tab's rule applies (:func:`tlweb.engine.accel.training_threads`). Wall and CPU seconds are printed, with
the machine's load average: on a shared machine the wall time says more about the neighbours than about tlweb,
and the CPU time is what the job itself cost. Numbers go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", choices=["ladder", "efficiency"])
    ap.add_argument("--baseline", action="store_true", help="tiny models on torch's default threads (the rule off)")
    ap.add_argument("--json", help="also write the numbers here")
    ap.add_argument("--smoke", action="store_true",
                    help="smallest setting (a smoke, not a timing): linear and scratch once, 1 and 2 per class, 1 epoch")
    args = ap.parse_args()
    home = tempfile.mkdtemp(prefix="tlweb-bench-")
    os.environ.update(TLWEB_HOME=f"{home}/home", HF_HOME=f"{home}/hf", HF_HUB_OFFLINE="1", TLWEB_DEMO="1",
                      GRADIO_ANALYTICS_ENABLED="False")
    from tlweb.config import Settings, set_settings
    from tlweb.engine.demo import ensure_built
    from tlweb.engine.train import DEFAULT_SEEDS
    from tlweb.ui.tabs.finetune import handlers as ft
    from tlweb.ui.tabs.finetune.helpers import N_SLOTS, SHOTS, FtSession, strategy_choices

    settings = set_settings(Settings.from_env())
    ensure_built("demo-resnet-shapes", settings)  # its first build is not what is timed here
    if args.baseline:
        ft.training_threads = lambda *a, **k: None
    import gradio as gr

    from tlweb.ui.tabs.finetune import build

    with gr.Blocks():  # the handlers answer with the tab's components (dicts keyed by component)
        tab = build(settings).parts
    h, sess = ft.Handlers(settings, tab), FtSession()
    h.load("sample", None, "", "", "", *([""] * N_SLOTS), *([None] * N_SLOTS), sess)
    strategies = ["linear", "scratch"] if args.smoke else [v for _, v in strategy_choices()]
    shots, seeds, epochs = ([1, 2], 1, 1) if args.smoke else (SHOTS, DEFAULT_SEEDS, "auto")
    jobs = {"ladder": lambda: h.ladder("demo-resnet-shapes", "", strategies, epochs, "auto", "auto", 0, seeds, sess),
            "efficiency": lambda: h.efficiency("demo-resnet-shapes", "", ["linear", "scratch"], [str(s) for s in shots],
                                               epochs, "auto", "auto", seeds, "", None, sess)}
    out = {"threads": "torch default" if args.baseline else "tlweb rule (1 for tiny models)"}
    try:
        for name, job in jobs.items():
            if args.only and name != args.only:
                continue
            load, t, c = os.getloadavg()[0], time.perf_counter(), time.process_time()
            for _ in job():
                pass
            out[name] = {"wall_s": round(time.perf_counter() - t, 1), "cpu_s": round(time.process_time() - c, 1),
                         "load_before": round(load, 1), "load_after": round(os.getloadavg()[0], 1)}
            print(f"{name}: {out[name]['wall_s']} s wall, {out[name]['cpu_s']} s CPU "
                  f"(load average {out[name]['load_before']} → {out[name]['load_after']}) · {out['threads']}")
    finally:
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(out, f, indent=2)


if __name__ == "__main__":
    main()
