"""Tiny models train on one CPU thread: on a small shared machine torch's intra-op threads spin against each
other and the machine's other work (a demo ResNet step took 0.55-1.26 s on two threads, 35-44 ms on one)."""

from __future__ import annotations

import threading

import torch

from tlweb.engine.accel import SMALL_MODEL_M, cpu_threads, training_threads


def test_demo_and_small_models_train_on_one_thread_on_the_cpu(settings):
    cpu = settings.replace(device="cpu")
    assert training_threads("demo-resnet-shapes", cpu) == 1  # demo models are tiny by construction
    assert training_threads("demo-vit", cpu) == 1
    assert training_threads("vit-base", cpu) is None  # 86.6 M parameters: torch's default
    assert training_threads("not/a-model-anywhere", cpu) is None  # unknown size: leave it alone
    from tlweb.catalog import CATALOG

    small = [s.key for s in CATALOG if s.params_m is not None and s.params_m < SMALL_MODEL_M]
    assert all(training_threads(k, cpu) == 1 for k in small)


def test_cpu_threads_restores_what_was_there_and_nests():
    before = torch.get_num_threads()
    with cpu_threads(1):
        assert torch.get_num_threads() == 1
        with cpu_threads(1):  # a second job at the same time (the setting is process-wide)
            assert torch.get_num_threads() == 1
        assert torch.get_num_threads() == 1  # the outer job still runs
    assert torch.get_num_threads() == before
    with cpu_threads(None):  # nothing asked: nothing changed
        assert torch.get_num_threads() == before


def _new_thread_count() -> int:
    """What a thread started now computes with (torch reads the process-wide value at its first operation)."""
    out = {}

    def job():
        torch.ones(64, 64) @ torch.ones(64, 64)
        out["n"] = torch.get_num_threads()

    t = threading.Thread(target=job)
    t.start()
    t.join(10)
    return out["n"]


def test_threads_started_inside_the_block_compute_on_one_thread():
    """The training loop runs on a thread the stream starts inside the block: it computes on one thread."""
    before = _new_thread_count()
    with cpu_threads(1):
        assert _new_thread_count() == 1
    assert _new_thread_count() == before


def test_two_jobs_at_once_restore_once_both_are_done():
    before = _new_thread_count()
    inside, release = threading.Event(), threading.Event()

    def job():
        with cpu_threads(1):
            inside.set()
            release.wait(10)

    t = threading.Thread(target=job)
    t.start()
    inside.wait(10)
    with cpu_threads(1):
        pass
    assert _new_thread_count() == 1  # the other job is still inside: its next run's thread gets one thread too
    release.set()
    t.join(10)
    assert _new_thread_count() == before
