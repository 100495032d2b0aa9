"""The linear head against scikit-learn's LogisticRegression on fixed features (real handwritten
digits shipped with scikit-learn): same regularisation grid, same held-out images, same folds."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from tlweb.engine.head import CS, auto_head, fit_head, stratified_folds


@pytest.fixture(scope="module")
def digits():
    from sklearn.datasets import load_digits

    from tlweb.engine.data import stratified_split

    x, y = load_digits(return_X_y=True)
    x = x.astype(np.float32)
    train, test = stratified_split(y.tolist(), 10, 0.3, seed=0)
    return x[train], y[train], x[test], y[test]


def _sk(C, x, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=5000)).fit(x, y)


def _sk_choose(splits, Cs=CS):
    """The reference: C with the lowest held-out log-loss, then the best held-out accuracy."""
    best = None
    for C in Cs:
        correct = total = 0
        loss = 0.0
        for xf, yf, xv, yv in splits:
            p = _sk(C, xf, yf).predict_proba(xv)
            correct += int((p.argmax(1) == yv).sum())
            total += len(yv)
            loss -= float(np.log(np.clip(p[np.arange(len(yv)), yv], 1e-15, None)).sum())
        key = (-loss / total, correct / total)
        if best is None or key > best[0]:
            best = (key, C)
    return best[1]


def test_matches_logistic_regression_on_held_out_choice(digits):
    from tlweb.engine.data import stratified_split

    x, y, xt, yt = digits
    fit, val = stratified_split(y.tolist(), 10, 0.2, seed=0)
    grid = CS
    C_ref = _sk_choose([(x[fit], y[fit], x[val], y[val])], grid)
    ref_acc = float((_sk(C_ref, x[fit], y[fit]).predict(xt) == yt).mean())
    points = []
    head = fit_head(x[fit], y[fit], 10, val_features=x[val], val_labels=y[val], on_eval=points.append, Cs=grid)
    acc = float((head.predict(xt).numpy() == yt).mean())
    assert abs(acc - ref_acc) <= 0.01, (acc, ref_acc, head.C, C_ref)
    assert head.val_images == len(val) and head.fit_images == len(fit) and "held-out" in head.selection
    assert [p["C"] for p in points] == [h["C"] for h in head.history] and points[0]["split"] == "validation"
    assert all(0 <= p["val_accuracy"] <= 1 for p in points)


def test_few_shot_uses_cross_validation_and_keeps_every_image(digits):
    x, y, xt, yt = digits
    rng = np.random.default_rng(0)
    few = np.concatenate([rng.choice(np.flatnonzero(y == c), 5, replace=False) for c in range(10)])
    xf, yf = x[few], y[few]
    head = auto_head(xf, yf, 10, seed=0)
    assert head.fit_images == 50 and head.val_images == 0 and head.folds == 5
    assert "cross-validation" in head.selection and head.how == "5-fold CV"
    folds = stratified_folds(yf.tolist(), 5, seed=0)
    splits = []
    for f in folds:
        rest = np.setdiff1d(np.arange(len(yf)), f)
        splits.append((xf[rest], yf[rest], xf[f], yf[f]))
    C_ref = _sk_choose(splits)
    ref_acc = float((_sk(C_ref, xf, yf).predict(xt) == yt).mean())
    acc = float((head.predict(xt).numpy() == yt).mean())
    assert abs(acc - ref_acc) <= 0.01, (acc, ref_acc, head.C, C_ref)


def test_many_per_class_holds_out_and_refits(digits):
    x, y, xt, yt = digits
    head = auto_head(x, y, 10)
    assert head.val_images > 0 and head.fit_images == len(y)  # refitted on all with the chosen C
    assert float((head.predict(xt).numpy() == yt).mean()) > 0.9


def test_folds_are_stratified_and_cover_everything():
    labels = [0] * 7 + [1] * 5 + [2] * 3
    folds = stratified_folds(labels, 3, seed=1)
    assert sorted(i for f in folds for i in f) == list(range(len(labels)))
    for f in folds:
        assert {labels[i] for i in f} == {0, 1, 2}


def test_single_image_class_gets_the_default_c():
    x = torch.randn(5, 4)
    y = torch.tensor([0, 0, 1, 1, 2])
    head = fit_head(x, y, 3)
    assert head.history == [] and "default" in head.selection and head.fit_images == 5


def test_weights_map_raw_features(digits):
    x, y, xt, _ = digits
    head = fit_head(x[:300], y[:300], 10, val_features=x[300:400], val_labels=y[300:400], Cs=(0.1,))
    assert head.weight.shape == (10, 64) and head.bias.shape == (10,)
    manual = torch.as_tensor(xt) @ head.weight.T + head.bias
    assert torch.allclose(manual, head.logits(xt))


def test_stop_before_any_c_returns_none(digits):
    x, y, *_ = digits
    assert fit_head(x[:100], y[:100], 10, val_features=x[100:150], val_labels=y[100:150],
                    should_stop=lambda: True) is None
