"""The backbone leaderboard: rows, the zero-shot row, the Pareto front, the best trade-off, failures."""

from __future__ import annotations

import pytest

from tlweb.engine import leaderboard as LB
from tlweb.errors import ModelError


def _row(name, acc, lat, n=100, kind="backbone"):
    r = LB.LeaderboardRow(model=name, name=name, kind=kind, latency_ms=lat, test_images=n)
    if kind == "zero-shot":
        r.zero_shot_accuracy = acc
    else:
        r.linear_accuracy = acc
    return r


def test_pareto_front():
    pts = [("a", 1.0, 0.5), ("b", 2.0, 0.7), ("c", 3.0, 0.6), ("d", 4.0, 0.9), ("e", 4.0, 0.8)]
    assert LB.pareto_front(pts) == ["a", "b", "d"]


def test_best_tradeoff_takes_the_fastest_within_a_standard_error():
    rows = [_row("big", 0.90, 20.0), _row("mid", 0.895, 5.0), _row("small", 0.70, 1.0)]
    best, sentence, front = LB.best_tradeoff(rows)
    assert front == ["small", "mid", "big"] and best.name == "mid"
    assert "mid" in sentence and "4.0× faster" in sentence and "big (90.0%)" in sentence


def test_best_tradeoff_when_the_most_accurate_is_also_fastest():
    best, sentence, front = LB.best_tradeoff([_row("a", 0.9, 1.0), _row("b", 0.5, 2.0, kind="zero-shot")])
    assert best.name == "a" and front == ["a"] and "the fastest too" in sentence


def test_failed_rows_are_ignored():
    bad = _row("x", None, None)
    bad.error = "could not load"
    assert LB.best_tradeoff([bad]) == (None, "", [])


def test_model_count_is_checked():
    with pytest.raises(ModelError, match="at least 2"):
        LB.check_models("demo-vit")
    with pytest.raises(ModelError, match="at most 8"):
        LB.check_models(",".join(f"m{i}" for i in range(9)))


def test_leaderboard_on_the_sample(settings, demo_models):
    from tlweb.engine.data import sample_data
    from tlweb.engine.features import forward_passes, timing_passes

    data = sample_data(settings)
    steps = list(LB.iter_leaderboard(data, "demo-resnet-shapes, demo-resnet, nobody/not-a-model",
                                     zero_shot="demo-clip", settings=settings))
    assert steps[-1].finished and [s.done for s in steps][0] == 0
    result = steps[-1].result
    rows = {r.model: r for r in result.rows}
    assert list(rows) == ["demo-resnet-shapes", "demo-resnet", "nobody/not-a-model", "demo-clip"]
    assert rows["nobody/not-a-model"].error and "Traceback" not in rows["nobody/not-a-model"].error
    for name in ("demo-resnet-shapes", "demo-resnet"):
        r = rows[name]
        assert r.ok and 0 <= r.linear_accuracy <= 1 and 0 <= r.knn_accuracy <= 1 and r.knn_k >= 1
        assert r.latency_ms > 0 and r.params > 0 and r.gflops > 0 and r.test_images == len(data.test)
        assert r.train_images == len(data.train) and "held out" in r.linear_how
    zs = rows["demo-clip"]
    assert zs.kind == "zero-shot" and zs.linear_accuracy is None and zs.knn_accuracy is None
    assert 0 <= zs.zero_shot_accuracy <= 1
    d = result.as_dict()
    assert d["best"] in rows and d["best_sentence"].startswith("Best trade-off")
    assert "zero_shot_accuracy" in d["rows"][3] and "zero_shot_accuracy" not in d["rows"][0]
    # pretrained on other shapes beats random weights on the sample
    assert rows["demo-resnet-shapes"].linear_accuracy > rows["demo-resnet"].linear_accuracy
    before, timed = forward_passes(), timing_passes()
    again = LB.leaderboard(data, "demo-resnet-shapes, demo-resnet", zero_shot="demo-clip", settings=settings)
    assert forward_passes() == before and all(r.cached for r in again.rows)  # features: no pass over the data
    assert timing_passes() - timed >= 3 * 5 and all(r.latency_ms > 0 for r in again.rows)  # latency: timed again
    assert [r.linear_accuracy for r in again.rows[:2]] == [rows["demo-resnet-shapes"].linear_accuracy,
                                                           rows["demo-resnet"].linear_accuracy]


def test_stop_keeps_what_finished(settings, demo_models):
    from tlweb.engine.data import sample_data

    calls = []

    def stop():
        calls.append(1)
        return len(calls) > 1

    result = LB.leaderboard(sample_data(settings), "demo-resnet-shapes, demo-vit", settings=settings, should_stop=stop)
    assert len(result.rows) <= 1
