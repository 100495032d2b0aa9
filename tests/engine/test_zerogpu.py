"""ZeroGPU: the decorated inference paths run under a stand-in that forks and pickles as ZeroGPU does.

The stand-in (:func:`tlweb.engine.zerogpu.emulated_gpu`) forks a worker per call, sends the
arguments pickled through a pipe, sends results (and each item a generator yields) back pickled
and stops a generator through an event when the caller closes it. Each registered GPU function
runs here on tiny demo models; its answer must equal the answer of a direct call.
"""

from __future__ import annotations

import json
import os
import pickle
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import tlweb.engine.classify
import tlweb.engine.compare
import tlweb.engine.detect
import tlweb.engine.embeddings
import tlweb.engine.explain
import tlweb.engine.leaderboard
import tlweb.engine.segment
import tlweb.engine.zeroshot  # noqa: F401 - each import registers its GPU functions
from tlweb.engine import zerogpu as zg
from tlweb.engine.stop import Stop
from tlweb.errors import ModelError

INFERENCE = {
    "classify": "tlweb.engine.classify.classify",
    "compare": "tlweb.engine.compare.iter_compare",
    "segment": "tlweb.engine.segment.segment",
    "detect": "tlweb.engine.detect.detect",
}


def _emulated(name: str):
    return zg.wrap(zg.GPU_TASKS[name], zg.emulated_gpu)


def _last_request(name: str) -> int:
    short = name.rsplit(".", 1)[-1]
    hits = [s for n, s in zg.EMULATOR_LOG if n.endswith(short)]
    assert hits, zg.EMULATOR_LOG
    return hits[-1]


def test_every_inference_path_is_registered_and_unchanged_off_zerogpu():
    for name in INFERENCE.values():
        task = zg.GPU_TASKS[name]
        module, attr = name.rsplit(".", 1)
        fn = getattr(sys.modules[module], attr)
        assert fn is task.fn and fn.gpu_task is task  # off ZeroGPU: the function itself
        assert task.mode == "off"
        assert "P = millions of parameters" in task.rule and "clamped to [20, 120] s" in task.rule


def test_durations_grow_with_the_job_and_stay_within_the_limits(settings, demo_models):
    classify = zg.GPU_TASKS[INFERENCE["classify"]]
    compare = zg.GPU_TASKS[INFERENCE["compare"]]
    small = classify.duration("cat.jpg", "demo-vit", 5, settings)
    big = classify.duration("cat.jpg", "vit-base", 5, settings)  # catalog: 86.6 M parameters
    huge = classify.duration("cat.jpg", "someone/unknown-model", 5, settings)
    assert zg.MIN_S <= small <= big <= huge <= zg.INFERENCE_CAP_S
    one = zg.Job(images="images", models="models").seconds({"images": ["a"], "models": ["vit-base"]})
    many = zg.Job(images="images", models="models").seconds({"images": ["a"] * 40, "models": ["vit-base"]})
    assert many > one > zg.WORKER_START_S
    # Compare: images × models, plus the timing budget per model; six big models hit the cap.
    two = compare.duration(["a.jpg"] * 4, ["vit-base", "deit-small"], settings=settings, time_budget_s=1.0)
    six = compare.duration(["a.jpg"] * 64, ["vit-base", "beit-base", "owlv2-base"] * 2, settings=settings,
                           time_budget_s=1.0)
    assert two < six == zg.INFERENCE_CAP_S
    assert compare.duration(["a.jpg"] * 4, ["vit-base", "deit-small"], settings=settings, time_budget_s=5.0) > two
    assert zg.clamp_duration(float("nan")) == zg.DEFAULT_S
    assert zg.clamp_duration(10_000, cap=zg.TRAIN_CAP_S) == zg.ZEROGPU_MAX_S
    assert zg.clamp_duration(0.3) == zg.MIN_S


def test_classify_under_the_stand_in_equals_a_direct_call(settings, demo_models, example_image):
    direct = tlweb.engine.classify.classify(example_image, "demo-resnet-shapes", 3, settings)
    run = _emulated(INFERENCE["classify"])
    forked = run(example_image, "demo-resnet-shapes", 3, settings)
    assert [p.as_dict() for p in forked.predictions] == [p.as_dict() for p in direct.predictions]
    assert forked.spec == direct.spec and forked.params == direct.params
    assert _last_request(INFERENCE["classify"]) == zg.GPU_TASKS[INFERENCE["classify"]].duration(
        example_image, "demo-resnet-shapes", 3, settings)


def test_compare_streams_every_step_through_the_fork(settings, demo_models, example_image):
    run = _emulated(INFERENCE["compare"])
    steps = list(run([example_image, example_image], ["demo-vit", "demo-resnet"], 2, settings, runs=1,
                     time_budget_s=0.05))
    direct = list(tlweb.engine.compare.iter_compare([example_image, example_image], ["demo-vit", "demo-resnet"], 2,
                                                    settings, runs=1, time_budget_s=0.05))
    assert [(s.done, s.total, s.finished) for s in steps] == [(s.done, s.total, s.finished) for s in direct]
    last, ref = steps[-1].result, direct[-1].result
    assert [r.name for r in last.rows] == ["demo-vit", "demo-resnet"] and all(r.ok for r in last.rows)
    assert [[p.as_dict() for p in ps] for r in last.rows for ps in r.predictions] == \
        [[p.as_dict() for p in ps] for r in ref.rows for ps in r.predictions]


def test_segment_and_detect_under_the_stand_in_equal_direct_calls(settings, demo_models, example_image):
    seg = _emulated(INFERENCE["segment"])(example_image, "demo-segformer", settings)
    ref = tlweb.engine.segment.segment(example_image, "demo-segformer", settings)
    assert np.array_equal(seg.label_map, ref.label_map)
    assert [c.as_dict() for c in seg.classes] == [c.as_dict() for c in ref.classes]

    det = _emulated(INFERENCE["detect"])(example_image, "demo-owlv2", queries="cat, sofa", threshold=0.0,
                                         settings=settings)
    ref = tlweb.engine.detect.detect(example_image, "demo-owlv2", queries="cat, sofa", threshold=0.0, settings=settings)
    assert det.as_dict()["boxes"] == ref.as_dict()["boxes"] and det.queries == ["cat", "sofa"]


def test_explain_under_the_stand_in_equals_a_direct_call(settings, demo_models, example_image):
    import tlweb.engine.explain as ex

    task = zg.GPU_TASKS["tlweb.engine.explain.run.explain"]
    assert zg.GPU_TASKS["tlweb.engine.explain.compare.before_after"].cap == zg.INFERENCE_CAP_S
    forked = zg.wrap(task, zg.emulated_gpu)(example_image, "demo-vit", "gradcam", strip=True, settings=settings)
    direct = ex.explain(example_image, "demo-vit", "gradcam", strip=True, settings=settings)
    assert np.array_equal(forked.map.grid, direct.map.grid) and forked.map.peak == direct.map.peak
    assert [m.label for m in forked.strip] == [m.label for m in direct.strip] and forked.target == direct.target
    assert _last_request("tlweb.engine.explain.run.explain") == task.duration(example_image, "demo-vit", "gradcam",
                                                                              settings=settings)


def test_embeddings_paths_under_the_stand_in(settings, demo_models, example_image):
    """The leaderboard and the projector stream progress through the fork; zero-shot labels come back."""
    from tlweb.engine.data import sample_data
    from tlweb.engine.embeddings import iter_projections
    from tlweb.engine.zeroshot import classify_labels

    data = sample_data(settings)
    board = _emulated("tlweb.engine.leaderboard.iter_leaderboard")
    steps = list(board(data, ["demo-resnet-shapes", "demo-resnet"], settings=settings))
    assert steps[-1].finished and [r.name for r in steps[-1].result.rows] == ["demo-resnet-shapes", "demo-resnet"]
    assert len(steps) >= 4 and all(r.ok for r in steps[-1].result.rows)
    task = zg.GPU_TASKS["tlweb.engine.leaderboard.iter_leaderboard"]
    assert _last_request(task.name) == task.duration(data, ["demo-resnet-shapes", "demo-resnet"], settings=settings)
    n = sum(sum(c.values()) for c in data.counts().values())  # every image of every split counts
    assert task.estimate({"data": data, "models": "vit-base"}) > task.estimate({"data": None, "models": "vit-base"}) \
        + n * zg.IMAGE_S * 0.2 * 0.99
    items = list(_emulated("tlweb.engine.embeddings.iter_projections")(data, "demo-resnet-shapes", "random",
                                                                       max_points=60, settings=settings))
    assert all(isinstance(m, str) for m in items[:-1]) and len(items) >= 2
    direct = list(iter_projections(data, "demo-resnet-shapes", "random", max_points=60, settings=settings))[-1]
    assert [p.weights for p in items[-1]] == ["pretrained", "random init"]
    assert np.allclose(items[-1][0].xy, direct[0].xy, atol=1e-4) and items[-1][0].labels == direct[0].labels
    zs = _emulated("tlweb.engine.zeroshot.classify_labels")(example_image, "demo-clip", "cat, dog", settings=settings)
    ref = classify_labels(example_image, "demo-clip", "cat, dog", settings=settings)
    assert [p.as_dict() for p in zs.predictions] == [p.as_dict() for p in ref.predictions]


def test_errors_come_back_as_themselves(settings, demo_models, example_image):
    run = _emulated(INFERENCE["classify"])
    with pytest.raises(ModelError) as forked:
        run(example_image, "nobody/../nothing", 3, settings)
    with pytest.raises(ModelError) as direct:
        tlweb.engine.classify.classify(example_image, "nobody/../nothing", 3, settings)
    assert str(forked.value) == str(direct.value)
    # A zero-shot detector without queries: the engine's sentence, not "ZeroGPU worker error".
    with pytest.raises(tlweb.engine.detect.QueryError, match="type what to look for"):
        _emulated(INFERENCE["detect"])(example_image, "demo-owlv2", queries="", settings=settings)


def test_an_argument_that_does_not_pickle_fails_in_the_caller(settings):
    run = _emulated(INFERENCE["classify"])
    with pytest.raises((pickle.PicklingError, AttributeError, TypeError)):
        run(lambda: None, "demo-vit", 3, settings)


# --------------------------------------------------------------------------- generators and Stop


def _count_until_stopped(n: int, stop: Stop, pause: float = 0.05):
    """A stand-in for a fine-tune loop: yields progress, checks the stop file between steps."""
    for i in range(n):
        if stop():
            yield {"kind": "stopped", "step": i, "pid": os.getpid()}
            return
        yield {"kind": "step", "step": i, "pid": os.getpid()}
        time.sleep(pause)
    yield {"kind": "done", "step": n, "pid": os.getpid()}


def test_a_generator_streams_live_and_stops_through_a_file(tmp_path):
    fn = zg.gpu_task(lambda bound: bound["n"] * bound["pause"], cap=zg.TRAIN_CAP_S)(_count_until_stopped)
    assert fn is _count_until_stopped  # off ZeroGPU the decorator changes nothing
    assert fn.gpu_task.duration(400, None, 0.05) == 20  # the duration callable gets the same arguments
    run = zg.wrap(fn.gpu_task, zg.emulated_gpu)
    stop = Stop(tmp_path / "run")
    events, t0 = [], time.monotonic()
    for ev in run(400, stop, 0.05):
        events.append((ev, time.monotonic() - t0))
        if ev["step"] == 3:
            stop.request(create=True)  # the UI's Stop button: a file, which the forked worker sees
    kinds = [e["kind"] for e, _ in events]
    assert kinds[-1] == "stopped" and kinds.count("step") == 4, kinds
    assert events[0][0]["pid"] != os.getpid()  # it really ran in another process
    assert events[0][1] < events[-1][1] - 0.1  # live: the first item arrived before the last was made
    assert time.monotonic() - t0 < 10  # stopped long before the 20 s the full loop would take


def test_closing_the_stream_stops_the_worker(tmp_path):
    run = zg.emulated_gpu(duration=30)(_count_until_stopped)
    gen = run(1000, Stop(tmp_path / "never"), 0.01)
    first = next(gen)
    gen.close()  # the browser went away: ZeroGPU sets the worker's stop event
    assert first["kind"] == "step"
    deadline = time.monotonic() + 10
    while _is_running(first["pid"]) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _is_running(first["pid"])


def _is_running(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] not in ("Z", "X")
    except OSError:
        return False


def _sleep(seconds: float) -> str:
    time.sleep(seconds)
    return "late"


def test_a_task_past_its_duration_is_aborted(monkeypatch):
    monkeypatch.setattr(zg, "EMULATOR_GRACE_S", 0.5)
    run = zg.emulated_gpu(duration=1)(_sleep)
    t0 = time.monotonic()
    with pytest.raises(zg.GpuAborted):
        run(30)
    assert time.monotonic() - t0 < 10


def test_the_real_spaces_decorator_off_zerogpu_keeps_errors_and_results(settings, demo_models, example_image):
    gpu = zg.spaces_gpu()
    assert gpu is not None  # the package is installed here (requirements.txt)
    run = zg.wrap(zg.GPU_TASKS[INFERENCE["classify"]], gpu)
    assert run(example_image, "demo-vit", 2, settings).predictions
    with pytest.raises(ModelError):
        run(example_image, "nobody/../nothing", 2, settings)


def test_spaces_gpu_only_when_the_package_is_there(monkeypatch):
    import types

    fake = types.ModuleType("spaces")
    fake.GPU = lambda task=None, duration=None: task
    monkeypatch.setitem(sys.modules, "spaces", fake)
    assert zg.spaces_gpu() is fake.GPU
    folder_only = types.ModuleType("spaces")  # what the repository's spaces/ folder looks like without the package
    monkeypatch.setitem(sys.modules, "spaces", folder_only)
    assert zg.spaces_gpu() is None


@pytest.mark.slow
def test_module_level_decoration_in_emulate_mode(tmp_path, settings, demo_models, example_image):
    """TLWEB_ZEROGPU=emulate at import: the engine's own functions fork (a fresh interpreter)."""
    code = (
        "import json, os, tlweb.engine.classify as c, tlweb.engine.zerogpu as zg\n"
        "from tlweb.config import Settings\n"
        f"r = c.classify({str(example_image)!r}, 'demo-vit', 2, Settings.from_env())\n"
        "print(json.dumps([c.classify.gpu_task.mode, c.classify is not c.classify.gpu_task.fn,"
        " [n for n, _ in zg.EMULATOR_LOG], len(r.predictions)]))\n"
    )
    env = {**os.environ, "TLWEB_ZEROGPU": "emulate"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    mode, wrapped, calls, n = json.loads(out.stdout.strip().splitlines()[-1])
    assert mode == "emulate" and wrapped and calls == ["classify"] and n == 2


@pytest.mark.slow
def test_the_whole_app_under_the_stand_in_passes_the_selfcheck():
    """Every tab through the fork-and-pickle stand-in: what a ZeroGPU Space would do to the app."""
    env = {**os.environ, "TLWEB_ZEROGPU": "emulate"}
    out = subprocess.run([sys.executable, "-m", "tlweb", "-v", "selfcheck", "--json"], env=env, capture_output=True,
                         text=True, timeout=400)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["ok"] and {c["status"] for c in report["checks"] if c["status"] != "SKIP"} == {"PASS"}
    assert {c["check"] for c in report["checks"] if c["status"] == "PASS"} >= {*INFERENCE, "explain", "finetune",
                                                                             "leaderboard", "run-report"}
    forked = set(re.findall(r"ZeroGPU stand-in: (\w+) runs in forked worker", out.stderr))
    assert forked == {"classify", "iter_compare", "segment", "detect", "estimate_depth", "explain", "finetune_stream",
                      "iter_leaderboard", "iter_projections"}, forked
