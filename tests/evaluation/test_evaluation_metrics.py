"""Metrics against hand computations and scikit-learn; bootstrap CIs; threshold choice."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats
from sklearn import metrics as skm

from streamguard.evaluation.bootstrap import paired_percentile_bootstrap
from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.metrics import bootstrap_metrics, compute_metrics
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.metrics import METRIC_NAMES, predict

# 8 functions; at threshold 0.5: tp = 3 (0, 1, 7), fn = 1 (2), fp = 1 (3), tn = 3 (4, 5, 6)
HAND_Y = [1, 1, 1, 0, 0, 0, 0, 1]
HAND_PROB = [0.9, 0.8, 0.3, 0.6, 0.2, 0.1, 0.4, 0.7]


def test_metrics_match_hand_computation():
    m = compute_metrics(HAND_Y, HAND_PROB, 0.5)
    assert m["accuracy"] == pytest.approx(6 / 8)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(3 / 4)
    assert m["balanced_accuracy"] == pytest.approx((3 / 4 + 3 / 4) / 2)
    # (tp*tn - fp*fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn)) = (9 - 1) / sqrt(4^4)
    assert m["mcc"] == pytest.approx(8 / 16)
    # positive beats negative in 14 of 16 pairs (0.3 beats only 0.2 and 0.1)
    assert m["roc_auc"] == pytest.approx(14 / 16)
    # ranked: + + + - - + - -; precision at each positive: 1, 1, 1, 4/6
    assert m["pr_auc"] == pytest.approx((1 + 1 + 1 + 4 / 6) / 4)
    assert m["brier"] == pytest.approx((0.01 + 0.04 + 0.49 + 0.36 + 0.04 + 0.01 + 0.16 + 0.09) / 8)
    assert set(m) == set(METRIC_NAMES)


def test_prob_equal_to_threshold_counts_as_vulnerable():
    assert predict([0.5, 0.49, 0.51], 0.5).tolist() == [1, 0, 1]
    assert compute_metrics([1, 0], [0.5, 0.2], 0.5)["accuracy"] == 1.0


def test_metrics_match_scikit_learn_with_ties():
    rng = np.random.default_rng(7)
    for _ in range(25):
        n = int(rng.integers(4, 80))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        prob = np.round(rng.random(n), int(rng.integers(1, 3)))  # one or two decimals: many ties
        threshold = float(rng.choice([0.2, 0.5, 0.7]))
        pred = (prob >= threshold).astype(int)
        got = compute_metrics(y, prob, threshold)
        expected = {
            "accuracy": skm.accuracy_score(y, pred),
            "precision": skm.precision_score(y, pred, zero_division=0),
            "recall": skm.recall_score(y, pred),
            "f1": skm.f1_score(y, pred, zero_division=0),
            "balanced_accuracy": skm.balanced_accuracy_score(y, pred),
            "roc_auc": skm.roc_auc_score(y, prob),
            "pr_auc": skm.average_precision_score(y, prob),
            "mcc": skm.matthews_corrcoef(y, pred),
            "brier": skm.brier_score_loss(y, prob),
        }
        for name, value in expected.items():
            assert got[name] == pytest.approx(value, abs=1e-12), name


def test_one_class_metrics_are_undefined_not_made_up():
    m = compute_metrics([0, 0, 0], [0.1, 0.7, 0.2], 0.5)
    assert m["accuracy"] == pytest.approx(2 / 3)
    assert m["precision"] == 0.0
    for name in ("recall", "f1", "balanced_accuracy", "roc_auc", "pr_auc", "mcc"):
        assert math.isnan(m[name]), name


@pytest.mark.parametrize(
    "y, prob",
    [([0, 2], [0.1, 0.2]), ([0, 1], [0.1, 1.2]), ([0, 1], [0.1, float("nan")]), ([0, 1, 1], [0.1, 0.2]), ([], [])],
)
def test_bad_inputs_are_clear_errors(y, prob):
    with pytest.raises(EvaluationError):
        compute_metrics(y, prob, 0.5)


def _synthetic(seed: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    # scores: N(1, 1) for vulnerable, N(0, 1) for safe, squashed to (0, 1) monotonically;
    # the population ROC-AUC is Phi(1 / sqrt(2)) and accuracy at logit 0.5 is Phi(0.5)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    score = rng.normal(y.astype(float), 1.0)
    return y, 1 / (1 + np.exp(-score))


def test_bootstrap_intervals_cover_the_true_value_at_about_the_nominal_rate():
    true_auc = scipy.stats.norm.cdf(1 / math.sqrt(2))
    true_accuracy = scipy.stats.norm.cdf(0.5)  # threshold at score 0.5 halfway between the means
    threshold = 1 / (1 + math.exp(-0.5))
    covered = {"roc_auc": 0, "accuracy": 0}
    trials = 40
    for trial in range(trials):
        y, prob = _synthetic(seed=100 + trial, n=300)
        result = bootstrap_metrics(y, prob, threshold, resamples=300, confidence_level=0.9, seed=trial)
        for name, truth in (("roc_auc", true_auc), ("accuracy", true_accuracy)):
            low, high = result[f"{name}_ci_low"], result[f"{name}_ci_high"]
            assert low <= result[name] <= high
            assert high - low < 0.2  # an informative interval, not [0, 1]
            covered[name] += low <= truth <= high
    for name, count in covered.items():
        # nominal 90%: 36 of 40; a binomial 1st-percentile bound is about 31
        assert count >= 31, (name, count)


def test_bootstrap_interval_matches_scipy_percentile_interval():
    y, prob = _synthetic(seed=3, n=200)
    result = bootstrap_metrics(y, prob, 0.6, resamples=500, confidence_level=0.95, seed=11)
    reference = scipy.stats.bootstrap(
        (y, prob),
        lambda ys, ps, axis=-1: ((ps >= 0.6) == ys.astype(bool)).mean(axis=axis),
        n_resamples=500,
        paired=True,
        vectorized=True,
        method="percentile",
        rng=np.random.default_rng(11),
    )
    assert result["accuracy_ci_low"] == pytest.approx(reference.confidence_interval.low)
    assert result["accuracy_ci_high"] == pytest.approx(reference.confidence_interval.high)


def test_bootstrap_is_reproducible_and_seed_dependent():
    y, prob = _synthetic(seed=5, n=150)
    first = bootstrap_metrics(y, prob, 0.5, 200, 0.95, seed=1)
    assert bootstrap_metrics(y, prob, 0.5, 200, 0.95, seed=1) == first
    assert bootstrap_metrics(y, prob, 0.5, 200, 0.95, seed=2) != first


def test_degenerate_resamples_are_left_out_of_the_interval():
    # one vulnerable function in ten: about 35% of resamples hold none, where ROC-AUC is undefined
    y = np.array([1, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    prob = np.linspace(0.95, 0.05, 10)
    result = bootstrap_metrics(y, prob, 0.5, resamples=400, confidence_level=0.95, seed=0)
    for name in ("roc_auc", "recall", "f1", "mcc", "pr_auc"):
        assert math.isfinite(result[f"{name}_ci_low"]) and math.isfinite(result[f"{name}_ci_high"]), name
    # the only positive is ranked first: every defined resample has AUC 1
    assert result["roc_auc_ci_low"] == result["roc_auc_ci_high"] == 1.0


def test_percentile_bootstrap_omits_nan_resamples():
    # statistic: NaN when the resample holds sample 0, else the resample mean
    values = np.arange(20, dtype=float)

    def statistic(v):
        return np.where((v == 0).any(axis=-1), np.nan, v.mean(axis=-1))

    interval = paired_percentile_bootstrap((values,), statistic, resamples=300, confidence_level=0.9, seed=4)
    assert 0 < interval.defined < 300
    assert 5 < interval.low < interval.high < 15


def test_bootstrap_settings_are_checked():
    with pytest.raises(EvaluationError, match="bootstrap_resamples"):
        bootstrap_metrics([0, 1, 1], [0.2, 0.6, 0.7], 0.5, resamples=0, confidence_level=0.95, seed=0)
    with pytest.raises(EvaluationError, match="confidence_level"):
        bootstrap_metrics([0, 1, 1], [0.2, 0.6, 0.7], 0.5, resamples=10, confidence_level=1.5, seed=0)


# Ranked by prob: + - - + - - - -. F1 ties between keeping the top one (threshold 0.85)
# and the top four (threshold 0.5): both 2/3; accuracy is best with the top one only (7/8).
TIE_Y = [1, 0, 0, 1, 0, 0, 0, 0]
TIE_PROB = [0.9, 0.8, 0.7, 0.6, 0.4, 0.3, 0.2, 0.1]


def test_threshold_choice_on_a_hand_made_case():
    assert choose_threshold(TIE_Y, TIE_PROB, "max_f1") == pytest.approx(0.5)  # tie broken towards 0.5
    assert choose_threshold(TIE_Y, TIE_PROB, "max_accuracy") == pytest.approx(0.85)
    # the chosen thresholds give the claimed scores
    assert compute_metrics(TIE_Y, TIE_PROB, 0.5)["f1"] == pytest.approx(2 / 3)
    assert compute_metrics(TIE_Y, TIE_PROB, 0.85)["accuracy"] == pytest.approx(7 / 8)


def test_threshold_choice_is_optimal_on_random_data():
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(2, 40))
        y = rng.integers(0, 2, n)
        y[0] = 1
        prob = np.round(rng.random(n), 1)
        prob[-1] = 1.0  # a top probability of exactly 1 must still allow "nothing vulnerable"
        cuts = [*np.unique(prob), np.inf]
        for rule, metric in (("max_f1", "f1"), ("max_accuracy", "accuracy")):

            def score(t, prob=prob, y=y, metric=metric):
                pred = prob >= t
                if metric == "accuracy":
                    return (pred == y).mean()
                return 2 * (pred & (y == 1)).sum() / (pred.sum() + y.sum())

            best = max(score(t) for t in cuts)
            assert score(choose_threshold(y, prob, rule)) == pytest.approx(best)


def test_threshold_sits_between_valid_probabilities():
    threshold = choose_threshold([1, 1, 0, 0], [0.9, 0.8, 0.3, 0.2], "max_accuracy")
    assert threshold == pytest.approx(0.55)


def test_threshold_choice_errors():
    with pytest.raises(EvaluationError, match="no vulnerable"):
        choose_threshold([0, 0, 0], [0.1, 0.5, 0.9], "max_f1")
    with pytest.raises(EvaluationError, match="unknown threshold rule"):
        choose_threshold([0, 1], [0.1, 0.9], "youden")
    # accuracy is still defined on one class: predict nothing vulnerable
    assert choose_threshold([0, 0], [0.1, 1.0], "max_accuracy") > 1.0
