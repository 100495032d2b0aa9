"""Real results to report on: two tiny fine-tune runs, and Compare / Segment / Detect / Explain on demo models."""

from __future__ import annotations

import pytest

from tests.conftest import EXAMPLES
from tests.engine.ft_helpers import shapes_folder, tiny_resnet


@pytest.fixture(scope="session")
def two_runs(tmp_path_factory, settings):
    """A full fine-tune and a linear probe of a tiny ResNet on generated shapes (a 2-rung ladder)."""
    import torch

    from tlweb.engine.train import TrainConfig, finetune

    root = tmp_path_factory.mktemp("report-runs")
    data = shapes_folder(root / "data", per_class=10, test_per_class=4)
    model = tiny_resnet(root / "model")
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        return [finetune(TrainConfig(model=str(model), data=str(data), strategy=s, epochs=3, name=f"report {s}",
                                     out_dir=str(root / f"run-{s}")), settings=settings) for s in ("full", "linear")]
    finally:
        torch.set_num_threads(old)


@pytest.fixture(scope="session")
def inference_results(settings, demo_models):
    from tlweb.engine.compare import compare
    from tlweb.engine.detect import detect
    from tlweb.engine.explain import explain
    from tlweb.engine.segment import segment

    images = [EXAMPLES / "cat.jpg", EXAMPLES / "coffee.jpg"]
    return {
        "images": images,
        "compare": compare(images, ["demo-resnet-shapes", "demo-vit", "demo-convnext"], 3, settings, runs=2,
                           time_budget_s=0.1),
        "segment": [segment(images[0], "demo-segformer", settings), segment(images[0], "demo-upernet", settings)],
        "detect": detect(images[0], "demo-owlv2", queries="cat, remote control", threshold=0.05, settings=settings),
        "explain": explain(images[0], "demo-vit-shapes", "gradcam", strip=True, settings=settings),
        "features": explain(images[0], "demo-resnet-shapes", "features", strip=True, settings=settings),
        **_embeddings(settings),
    }


def _embeddings(settings) -> dict:
    from tlweb.engine.data import sample_data
    from tlweb.engine.embeddings import pretrained_vs_random
    from tlweb.engine.leaderboard import leaderboard

    data = sample_data(settings)
    return {"leaderboard": leaderboard(data, ["demo-resnet-shapes", "demo-resnet"], zero_shot="demo-clip",
                                       settings=settings),
            "projections": pretrained_vs_random(data, "demo-resnet-shapes", max_points=80, settings=settings)}
