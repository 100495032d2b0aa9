"""Demo models that learned something: their first pick (a copy of the weights that ship with tlweb) ÷
training them there by their recipe, and the shapes recipes ÷ their earlier versions, same run.

    python benchmarks/demo_build.py [--runs 1] [--only resnet|vit] [--smoke]

1. **first pick**: ``tlweb.engine.demo.ensure_built`` of ``demo-resnet-shapes`` / ``demo-vit-shapes`` into an
   empty home (copies the shipped folder, :mod:`tlweb.engine.demo.ship`), wall time, against the current
   recipe's build in section 2 (what the first pick cost before the weights shipped).
2. **recipes**: each side builds the model as ``python -m tlweb.engine.demo.ship KEY`` does: generate
   the source pictures, train from scratch with the engine's own fine-tune (one torch thread), save.
   "current" is :data:`tlweb.engine.demo_recipes.pretrained.RESNET_RECIPE` / ``VIT_RECIPE`` with the ViT's
   ``VIT_INIT_RANGE``; "earlier" is the recipe of demo build version 1 (learning rate 3e-3 for both, the
   ViT initialised with transformers' default std 0.02). Sides alternate (A B A B …); medians of
   process CPU seconds (what the build costs, steady under load from other processes) and wall
   seconds. Target: CPU ratio ≤ 1.05. The source-task test accuracy of every build is printed too.

``--smoke``: the ResNet only, with a one-epoch recipe of a few pictures on both sides — checks that the
script runs, in seconds; its numbers mean nothing.

Measured (2-core CPU shared with other jobs, load average ≈ 2): ``--runs 1``: ResNet 2.5 s vs 2.7 s
CPU, ratio 0.94; ViT 17.8 s vs 16.7 s, ratio 1.06. ``--runs 3 --only vit``: 17.3 s vs 17.1 s, ratio
1.01 (the 1.06 is run-to-run spread). Source-task accuracy 1.0 (current) vs 0.98 (earlier) for both.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def sides(which: str, smoke: bool = False) -> dict:
    from tlweb.engine.demo_recipes import pretrained as P

    if smoke:
        tiny = P.Recipe(per_class=P.TEST_PER_CLASS + 4, epochs=1, lr=P.RESNET_RECIPE.lr, batch=16)
        return {"current": (P._init, tiny), "earlier": (P._init, P.Recipe(tiny.per_class, 1, 3e-3, 16))}
    if which == "resnet":
        return {"current": (P._init, P.RESNET_RECIPE),
                "earlier": (P._init, P.Recipe(per_class=160, epochs=10, lr=3e-3))}
    return {"current": (P._init_vit, P.VIT_RECIPE),
            "earlier": (functools.partial(P._init_vit, init_range=0.02), P.Recipe(per_class=400, epochs=15, lr=3e-3))}


def build_once(which: str, side: str, smoke: bool = False) -> tuple[float, float, float]:
    """(CPU s, wall s, source test accuracy) of one build into a fresh folder."""
    from tlweb.engine.demo_recipes import pretrained as P

    init, recipe = sides(which, smoke)[side]
    with tempfile.TemporaryDirectory(prefix="tlweb-bench-build-") as tmp:
        cpu, wall = time.process_time(), time.perf_counter()
        P._pretrain(Path(tmp), init, recipe, f"benchmark {which} {side}")
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        acc = json.loads((Path(tmp) / "config.json").read_text())["tlweb"]["source_test_accuracy"]
    return cpu, wall, acc


def first_pick(which: str, settings) -> float:
    """Wall seconds of a demo model's first pick in an empty home (the shipped weights copied)."""
    import shutil

    from tlweb.engine.demo import ensure_built
    from tlweb.engine.demo_recipes import pretrained as P

    key = P.KEY if which == "resnet" else P.VIT_KEY
    fresh = settings.replace(home=Path(tempfile.mkdtemp(prefix="tlweb-bench-pick-")))
    try:
        t0 = time.perf_counter()
        ensure_built(key, fresh)
        return time.perf_counter() - t0
    finally:
        shutil.rmtree(fresh.home, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--runs", type=int, default=1, help="builds per side and model")
    ap.add_argument("--only", choices=("resnet", "vit"), default=None)
    ap.add_argument("--smoke", action="store_true",
                    help="smallest setting: runs in seconds to check the script works (a smoke, not a timing)")
    args = ap.parse_args()
    if args.smoke:
        args.only, args.runs = "resnet", 1
    os.environ["TLWEB_HOME"] = tempfile.mkdtemp(prefix="tlweb-bench-home-")
    from tlweb.config import Settings, set_settings

    settings = set_settings(Settings.from_env())
    build_once("resnet", "earlier", args.smoke)  # warm-up: imports and first-call costs hit neither side
    for which in ([args.only] if args.only else ["resnet", "vit"]):
        picks = [first_pick(which, settings) for _ in range(max(1, args.runs))]
        got: dict[str, list] = {"current": [], "earlier": []}
        for _ in range(max(1, args.runs)):
            for side in ("current", "earlier"):
                got[side].append(build_once(which, side, args.smoke))
        med = {s: (statistics.median(r[0] for r in rows), statistics.median(r[1] for r in rows), [r[2] for r in rows])
               for s, rows in got.items()}
        for side, (cpu, wall, accs) in med.items():
            print(f"{which:6s} {side:8s} cpu {cpu:6.1f} s  wall {wall:6.1f} s  source accuracy {accs}")
        print(f"{which:6s} ratio current/earlier: cpu {med['current'][0] / med['earlier'][0]:.2f}  "
              f"wall {med['current'][1] / med['earlier'][1]:.2f}")
        pick = statistics.median(picks)
        print(f"{which:6s} first pick (copy of the shipped weights) {pick * 1000:.0f} ms wall ÷ training by the "
              f"recipe {med['current'][1]:.1f} s = {pick / med['current'][1]:.4f}")


if __name__ == "__main__":
    main()
