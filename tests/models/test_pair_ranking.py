"""The joint function + pair-ranking logistic regression (models/pair_ranking.py)."""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from streamguard.models.pair_ranking import fit_ranking


def _data(seed: int = 0):
    """Column 0 (size) labels functions; within a pair the fix adds size AND a check (column 1)."""
    rng = np.random.default_rng(seed)
    size = rng.normal(size=400)
    x = np.column_stack([size, rng.normal(size=400)])
    y = (size + 0.3 * rng.normal(size=400) > 0).astype(int)
    vulnerable_side = np.column_stack([rng.normal(size=200), rng.normal(size=200)])
    fixed_side = vulnerable_side + np.column_stack([np.full(200, 0.2), np.full(200, 1.0)])
    features = np.vstack([x, vulnerable_side, fixed_side])
    labels = np.r_[y, np.ones(200), np.zeros(200)].astype(int)
    weights = np.r_[np.ones(400), np.zeros(400)]  # pair sides enter as pairs only
    pairs = (np.arange(400, 600), np.arange(600, 800), np.ones(200))
    return features, labels, weights, pairs


def _pairwise_accuracy(model, features, pairs) -> float:
    score = model.predict_proba(features)[:, 1]
    return float(np.mean(score[pairs[0]] > score[pairs[1]]))


def test_pairs_teach_the_vulnerable_side_to_rank_above_its_fix():
    features, labels, weights, pairs = _data()
    plain = fit_ranking(LogisticRegression(), features, labels, weights, None)
    joint = fit_ranking(LogisticRegression(), features, labels, weights, pairs)
    assert _pairwise_accuracy(plain, features, pairs) < 0.4  # bigger looks more vulnerable: the fix ranks higher
    assert _pairwise_accuracy(joint, features, pairs) > 0.9  # the added check now counts against
    assert joint.coef_.shape == (1, 2) and joint.coef_[0, 1] < 0 < joint.coef_[0, 0]
    functions = slice(0, 400)
    assert np.mean((joint.predict_proba(features[functions])[:, 1] > 0.5) == labels[functions]) > 0.8


def test_sparse_rows_fit_and_score_like_dense_ones():
    features, labels, weights, pairs = _data(1)
    dense = fit_ranking(LogisticRegression(solver="liblinear"), features, labels, weights, pairs)
    sparse_fit = fit_ranking(
        LogisticRegression(solver="liblinear"), sparse.csr_matrix(features), labels, weights, pairs
    )
    np.testing.assert_allclose(
        dense.predict_proba(features)[:, 1], sparse_fit.predict_proba(sparse.csr_matrix(features))[:, 1], atol=1e-6
    )
