"""k-NN and silhouette against scikit-learn on fixed vectors; projections; the pretrained vs
random-init gap on the offline sample with the genuinely pretrained demo backbone."""

from __future__ import annotations

import numpy as np
import pytest

from tlweb.engine import embeddings as E


@pytest.fixture(scope="module")
def vectors():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 4, 240)
    x = rng.normal(size=(240, 16)).astype(np.float32)
    x[:, 0] += y * 1.5  # some structure, no exact distance ties
    q = rng.normal(size=(60, 16)).astype(np.float32)
    q[:, 0] += rng.integers(0, 4, 60) * 1.5
    return x, y, q


@pytest.mark.parametrize("k", [1, 3, 4, 8])
def test_knn_matches_scikit_learn(vectors, k):
    from sklearn.neighbors import KNeighborsClassifier

    x, y, q = vectors
    ref = KNeighborsClassifier(k, metric="cosine", algorithm="brute").fit(x, y).predict(q)
    assert (E.knn_predict(x, y, q, k).numpy() == ref).all()


def test_leave_one_out_matches_scikit_learn(vectors):
    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    x, y, _ = vectors
    k, scores = E.choose_k(x[:120], y[:120], 4, ks=(1, 5, 9))
    for kk in (1, 5, 9):
        ref = cross_val_score(KNeighborsClassifier(kk, metric="cosine", algorithm="brute"), x[:120], y[:120],
                              cv=LeaveOneOut()).mean()
        assert scores[kk] == pytest.approx(ref, abs=1e-6)
    assert scores[k] == max(scores.values())


def test_silhouette_matches_scikit_learn(vectors):
    from sklearn.metrics import silhouette_score

    x, y, _ = vectors
    assert E.silhouette(x, y) == pytest.approx(silhouette_score(x, y, metric="cosine"), abs=1e-5)
    y2 = y.copy()
    y2[0] = 9  # a class with a single point scores 0, as in scikit-learn
    assert E.silhouette(x, y2) == pytest.approx(silhouette_score(x, y2, metric="cosine"), abs=1e-5)
    assert np.isnan(E.silhouette(x, np.zeros(len(y), dtype=int)))


def test_pca_matches_scikit_learn_up_to_sign(vectors):
    from sklearn.decomposition import PCA

    x, _, _ = vectors
    coords, ratio = E.pca(x)
    ref = PCA(2).fit(x)
    assert np.allclose(np.abs(coords), np.abs(ref.transform(x)), atol=1e-3)
    assert np.allclose(ratio, ref.explained_variance_ratio_, atol=1e-6)
    assert np.array_equal(E.pca(x)[0], coords)  # same picture every time


def test_tsne_is_cached(vectors, settings):
    x, _, _ = vectors
    key = {"features": ["test-tsne"], "points": "all"}
    a, _ = E.project(x[:60], "tsne", seed=0, settings=settings, cache_key=key)
    b, _ = E.project(x[:60] * 0, "tsne", seed=0, settings=settings, cache_key=key)  # read back, not recomputed
    assert a.shape == (60, 2) and np.array_equal(a, b)


@pytest.fixture(scope="module")
def sample(settings, demo_models):
    from tlweb.engine.data import sample_data

    return sample_data(settings)


def test_pretrained_beats_random_init(sample, settings):
    """Measured with seed 0 (demo build 2): pretrained k-NN 30/32 = 93.8%, random init 16/32 = 50.0%;
    silhouette 0.58 vs -0.05."""
    pre, rnd = E.pretrained_vs_random(sample, "demo-resnet-shapes", seed=0, settings=settings)
    assert pre.weights == "pretrained" and rnd.weights == "random init"
    assert pre.knn["test_images"] == rnd.knn["test_images"] == len(sample.test)
    assert pre.knn_accuracy - rnd.knn_accuracy >= 0.30, (pre.knn_accuracy, rnd.knn_accuracy)
    assert pre.silhouette - rnd.silhouette >= 0.2
    assert pre.points == rnd.points == len(sample.train) + len(sample.test)
    assert pre.labels == rnd.labels and pre.splits == rnd.splits  # same points side by side
    assert pre.xy.shape == (pre.points, 2) and pre.neighbours.shape == (pre.points, E.NEIGHBOURS)
    assert pre.sprite[:2] == b"\xff\xd8" and pre.sprite_cols ** 2 >= pre.points


def test_sample_of_points_and_neighbour_images(sample, settings):
    E.embed(sample, "demo-resnet-shapes", max_points=50, settings=settings)
    proj = E.embed(sample, "demo-resnet-shapes", max_points=50, settings=settings)
    assert proj.points == 50 and proj.total_images == 160 and proj.cached
    items = E.neighbour_images(sample, proj, 3, settings)
    assert len(items) == 1 + E.NEIGHBOURS
    assert items[0][1] == f"★ {proj.class_names[proj.labels[3]]}" and items[1][1].startswith("#1: ")
    assert E.point_name(sample, proj, 3).endswith(f"({proj.splits[3]} split)")
    from tlweb.errors import DataError

    with pytest.raises(DataError, match="no point 50"):
        E.neighbour_images(sample, proj, 50, settings)


def test_before_and_after_fine_tuning(sample, settings):
    from tlweb.engine.train import TrainConfig, finetune

    run = finetune(TrainConfig("demo-resnet", sample, "linear", epochs=2, name="projector run"), settings=settings)
    folder, base = E.run_base_model(run.run_id, settings)
    assert base == "demo-resnet" and folder == str(run.model_dir.resolve())
    before, after = E.before_after(sample, run.run_id, settings=settings)
    assert before.weights == "before fine-tuning" and after.weights.startswith("after fine-tuning")
    assert before.labels == after.labels
    # a linear probe leaves the backbone as it was: the same embeddings before and after
    assert np.allclose(before.xy, after.xy, atol=1e-4)


def test_not_a_run_is_refused(settings, demo_models):
    from tlweb.errors import ModelError

    with pytest.raises(ModelError, match="not a fine-tuned run"):
        E.run_base_model("demo-vit", settings)
