"""The visible queue: two visitors start fine-tunes; the second waits in line with its position (gradio's
queue, one training job per GPU across fine-tunes, ladders and curves) and both finish."""

from __future__ import annotations

import time

from gradio_client import Client
from gradio_client.utils import Status

from tests.conftest import wait_until
from tlweb.ui.queue import QUEUE_SIZE, queue_kwargs
from tlweb.ui.tabs.finetune import train_slots

RUNNING = (Status.PROCESSING, Status.ITERATING, Status.PROGRESS)


def _start(client: Client, strategy: str, epochs: str):
    client.predict(source="sample", api_name="/load_data")
    return client.submit(model="demo-vit", custom_model="", strategy=strategy, epochs=epochs, batch_size="8",
                         lr="auto", per_class=0, api_name="/finetune")


def test_the_queue_is_explicit_and_training_gets_one_slot_per_gpu(monkeypatch):
    # never gradio's ZeroGPU default of 1, and above tlweb's own bound (whose refusal is a sentence)
    assert queue_kwargs()["max_size"] > QUEUE_SIZE > 1
    monkeypatch.setenv("TLWEB_QUEUE_SIZE", "7")
    assert queue_kwargs()["max_size"] > 7
    monkeypatch.setenv("SPACES_ZERO_GPU", "true")
    assert train_slots() == 1
    monkeypatch.setenv("TLWEB_TRAIN_SLOTS", "2")
    assert train_slots() == 2


def test_a_second_fine_tune_waits_with_its_position_and_both_finish(app_url, slow_steps):
    first, second = Client(app_url, verbose=False), Client(app_url, verbose=False)
    job_a = _start(first, "full", "20")
    assert wait_until(lambda: job_a.status().code in RUNNING, every=0.05), job_a.status()  # the first is training
    job_b = _start(second, "linear", "auto")
    seen = []
    while not job_a.done():
        st = job_b.status()
        if st.code == Status.IN_QUEUE:
            seen.append((st.rank, st.queue_size))
        time.sleep(0.05)
    assert seen, "the second fine-tune never waited in the queue"
    assert seen[0][0] == 0 and seen[0][1] >= 1  # first in line (rank 0 = next), behind the running job
    status_a, status_b = job_a.result(timeout=300)[0], job_b.result(timeout=300)[0]
    assert "Done" in status_a and "Done" in status_b  # both finish, one after the other
