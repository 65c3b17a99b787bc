"""held_out_figures: a model's test figures from probabilities in memory, against scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.figures import held_out_figures
from streamguard.params import params_from_dict


def _split(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Labels, probabilities that carry some signal, and token counts that carry a little."""
    y = rng.integers(0, 2, n)
    prob = np.clip(0.5 + 0.25 * (y - 0.5) + rng.normal(0, 0.2, n), 0, 1)
    tokens = rng.integers(20, 400, n) + 60 * y
    return y, prob, tokens


PARAMS = params_from_dict({"evaluate": {"bootstrap_resamples": 200}, "fusion": {"threshold_rule": "max_accuracy"}})


def test_threshold_comes_from_valid_and_metrics_from_test():
    rng = np.random.default_rng(3)
    valid_y, valid_prob, _ = _split(rng, 150)
    test_y, test_prob, test_tokens = _split(rng, 200)
    figures = held_out_figures(valid_y, valid_prob, test_y, test_prob, PARAMS, test_tokens=test_tokens)

    # max_accuracy on valid: no threshold at a valid probability does better there
    best_valid = max(accuracy_score(valid_y, valid_prob >= t) for t in np.unique(valid_prob))
    assert accuracy_score(valid_y, valid_prob >= figures["threshold"]) == pytest.approx(best_valid)
    # ... and test does not move it
    flipped = held_out_figures(valid_y, valid_prob, 1 - test_y, test_prob, PARAMS)
    assert flipped["threshold"] == figures["threshold"]

    assert figures["roc_auc"] == pytest.approx(roc_auc_score(test_y, test_prob))
    assert figures["accuracy"] == pytest.approx(accuracy_score(test_y, test_prob >= figures["threshold"]))
    assert figures["roc_auc_ci_low"] <= figures["roc_auc"] <= figures["roc_auc_ci_high"]

    vs = figures["versus_length"]
    gap = roc_auc_score(test_y, test_prob) - roc_auc_score(test_y, test_tokens)
    assert vs["roc_auc_minus_length"] == pytest.approx(gap)
    assert vs["ci_low"] <= gap <= vs["ci_high"] and 0 <= vs["p_value"] <= 1


def test_without_token_counts_there_is_no_length_comparison():
    rng = np.random.default_rng(4)
    valid_y, valid_prob, _ = _split(rng, 80)
    test_y, test_prob, _ = _split(rng, 80)
    assert "versus_length" not in held_out_figures(valid_y, valid_prob, test_y, test_prob, PARAMS)


def test_token_counts_that_do_not_match_the_test_split_are_refused():
    rng = np.random.default_rng(5)
    valid_y, valid_prob, _ = _split(rng, 80)
    test_y, test_prob, test_tokens = _split(rng, 80)
    with pytest.raises(EvaluationError, match="79 token counts for 80 test functions"):
        held_out_figures(valid_y, valid_prob, test_y, test_prob, PARAMS, test_tokens=test_tokens[:-1])
