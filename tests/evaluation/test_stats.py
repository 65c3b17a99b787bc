"""Paired tests against known cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.stats import mcnemar_exact, paired_bootstrap_diff, paired_comparison, paired_ttest


def _correctness(both: int, only_a: int, only_b: int, neither: int) -> tuple[list[bool], list[bool]]:
    a = [True] * both + [True] * only_a + [False] * only_b + [False] * neither
    b = [True] * both + [False] * only_a + [True] * only_b + [False] * neither
    return a, b


def test_mcnemar_exact_on_a_hand_made_table():
    # discordant pairs b = 10, c = 2: p = 2 * P(X <= 2), X ~ Bin(12, 1/2) = 2 * (1 + 12 + 66) / 4096
    a, b = _correctness(both=50, only_a=10, only_b=2, neither=8)
    result = mcnemar_exact(a, b)
    assert (result["b"], result["c"], result["both_correct"], result["both_wrong"], result["n"]) == (10, 2, 50, 8, 70)
    assert result["p_value"] == pytest.approx(158 / 4096, rel=1e-12)


def test_mcnemar_is_symmetric_and_ignores_concordant_pairs():
    a, b = _correctness(both=5, only_a=3, only_b=0, neither=1)
    forward, backward = mcnemar_exact(a, b), mcnemar_exact(b, a)
    assert (forward["b"], forward["c"]) == (backward["c"], backward["b"]) == (3, 0)
    assert forward["p_value"] == backward["p_value"] == pytest.approx(2 / 8)
    a2, b2 = _correctness(both=500, only_a=3, only_b=0, neither=300)
    assert mcnemar_exact(a2, b2)["p_value"] == forward["p_value"]


def test_mcnemar_without_discordant_pairs_is_p_one():
    a, b = _correctness(both=4, only_a=0, only_b=0, neither=2)
    assert mcnemar_exact(a, b)["p_value"] == 1.0


def test_mcnemar_rejects_mismatched_lengths():
    with pytest.raises(EvaluationError, match="different sample counts"):
        mcnemar_exact([True, False], [True])


def _two_models(n: int, acc_a: float, acc_b: float, seed: int):
    # each model is right on a function independently with its own probability;
    # predictions are hard 0/1 "probabilities" so accuracy is exactly that rate in expectation
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    right_a = rng.random(n) < acc_a
    right_b = rng.random(n) < acc_b
    prob_a = np.where(right_a, y, 1 - y).astype(float)
    prob_b = np.where(right_b, y, 1 - y).astype(float)
    return y, prob_a, prob_b


def test_paired_bootstrap_diff_covers_the_true_difference():
    y, prob_a, prob_b = _two_models(2000, 0.85, 0.75, seed=1)
    result = paired_bootstrap_diff(y, prob_a, 0.5, prob_b, 0.5, "accuracy", 500, 0.95, seed=0)
    assert result["diff"] == pytest.approx(result["a"] - result["b"])
    assert result["ci_low"] <= 0.10 <= result["ci_high"]
    assert result["ci_low"] > 0  # a 10-point gap on 2000 functions is not noise
    assert result["ci_high"] - result["ci_low"] < 0.06


def test_paired_bootstrap_diff_of_identical_models_is_exactly_zero():
    y, prob_a, _ = _two_models(300, 0.8, 0.8, seed=2)
    result = paired_bootstrap_diff(y, prob_a, 0.5, prob_a, 0.5, "f1", 200, 0.95, seed=0)
    assert result["diff"] == result["ci_low"] == result["ci_high"] == 0.0


def test_paired_bootstrap_diff_uses_each_models_threshold():
    y = np.array([1, 1, 0, 0])
    prob = np.array([0.6, 0.7, 0.2, 0.3])
    # at 0.5 the model is perfect; at 0.65 it misses one vulnerable function
    result = paired_bootstrap_diff(y, prob, 0.5, prob, 0.65, "accuracy", 100, 0.9, seed=0)
    assert result["a"] == 1.0 and result["b"] == 0.75 and result["diff"] == 0.25


def test_paired_bootstrap_diff_rejects_unknown_metric():
    with pytest.raises(EvaluationError, match="unknown metric"):
        paired_bootstrap_diff([0, 1], [0.1, 0.9], 0.5, [0.1, 0.9], 0.5, "auc", 10, 0.95, 0)


def test_paired_comparison_keys_and_direction():
    y, prob_a, prob_b = _two_models(400, 0.9, 0.6, seed=3)
    result = paired_comparison(y, prob_a, 0.5, prob_b, 0.5, 200, 0.95, seed=0)
    assert set(result) == {
        "n",
        "mcnemar_b",
        "mcnemar_c",
        "mcnemar_p",
        *(f"{m}_{k}" for m in ("accuracy", "f1") for k in ("a", "b", "diff", "diff_ci_low", "diff_ci_high")),
    }
    assert result["mcnemar_b"] > result["mcnemar_c"]  # b counts "A right, B wrong"
    assert result["accuracy_diff"] > 0 and result["accuracy_diff_ci_low"] > 0
    assert result["mcnemar_p"] < 1e-6


def test_paired_ttest_on_hand_computed_case():
    a = [0.80, 0.82, 0.78, 0.85, 0.81]
    b = [0.75, 0.80, 0.74, 0.80, 0.79]
    # differences 0.05 0.02 0.04 0.05 0.02: mean 0.036, sd sqrt(0.00092 / 4)
    t = 0.036 / (math.sqrt(0.00092 / 4) / math.sqrt(5))
    result = paired_ttest(a, b)
    assert result["n"] == 5
    assert result["mean_diff"] == pytest.approx(0.036)
    assert result["t"] == pytest.approx(t)
    assert result["p_value"] == pytest.approx(2 * scipy.stats.t.sf(t, df=4))
    assert result["p_value"] < 0.01


def test_paired_ttest_degenerate_cases():
    assert paired_ttest([0.5, 0.6], [0.5, 0.6])["p_value"] == 1.0
    assert math.isnan(paired_ttest([1.0, 2.0], [0.5, 1.5])["p_value"])  # constant nonzero gap: t undefined
    with pytest.raises(EvaluationError, match="at least 2 runs"):
        paired_ttest([0.5], [0.4])
    with pytest.raises(EvaluationError, match="equal length"):
        paired_ttest([0.5, 0.6], [0.4])
