"""The per-epoch validation summary is scikit-learn's, to the last bit: its values decide early stopping."""

from __future__ import annotations

import json

import numpy as np
from sklearn.metrics import accuracy_score, f1_score, log_loss, matthews_corrcoef, roc_auc_score

from streamguard.metrics import classification_summary


def _random_validation_sets(seed: int = 3, count: int = 100):
    """Valid labels and float32-rounded probabilities: ties, both classes, and some one-class sets."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        n = int(rng.integers(2, 400))
        y = rng.integers(0, 2, n) if i % 10 else np.full(n, i % 20 // 10)  # every tenth set has one class
        prob = rng.random(n).astype(np.float32).astype(float)
        if i % 3 == 0:
            prob = np.round(prob, 2)  # many ties
        if i % 7 == 0:
            prob[: n // 4] = 0.0  # values the log loss clips
        yield y, prob


def test_the_validation_summary_equals_scikit_learn_exactly_on_random_sets():
    for y, prob in _random_validation_sets():
        pred = (prob >= 0.5).astype(int)
        expected = {
            "loss": float(log_loss(y, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])),
            "f1": float(f1_score(y, pred, pos_label=1, zero_division=0)),
            "accuracy": float(accuracy_score(y, pred)),
            "mcc": float(matthews_corrcoef(y, pred)),
            "roc_auc": float(roc_auc_score(y, prob)) if len(np.unique(y)) == 2 else float("nan"),
        }
        # as the run history writes it: the same bytes, NaN included
        assert json.dumps(classification_summary(y, prob)) == json.dumps(expected)


def test_a_one_class_validation_set_keeps_scikit_learns_conventions():
    summary = classification_summary(np.zeros(5, dtype=int), np.array([0.1, 0.2, 0.6, 0.3, 0.4]))
    assert summary["f1"] == 0.0 and summary["mcc"] == 0.0 and summary["accuracy"] == 0.8
    assert np.isnan(summary["roc_auc"])
