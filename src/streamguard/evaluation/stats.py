"""Paired tests between two models scored on the same samples.

- `mcnemar_exact`: do the two models err on different samples more often in
  one direction than the other? Exact binomial test on the discordant pairs
  (no chi-square approximation: discordant counts are often small here).
- `paired_bootstrap_diff`: CI of the difference in a thresholded metric,
  resampling samples jointly so the pairing is kept.
- `paired_ttest`: across training seeds (n_runs), is model A's score
  consistently different from model B's? scipy.stats.ttest_rel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats

from streamguard.evaluation.bootstrap import paired_percentile_bootstrap
from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.metrics import as_binary_arrays
from streamguard.metrics import METRIC_NAMES, metric_rows


def _as_bool_vector(values: Any, what: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise EvaluationError(f"{what}: expected a 1-D array, got shape {array.shape}")
    if not np.isin(array, (0, 1)).all():
        raise EvaluationError(f"{what}: expected booleans or 0/1 values")
    return array.astype(bool)


def mcnemar_exact(correct_a: Any, correct_b: Any) -> dict[str, float]:
    """Exact McNemar test on per-sample correctness of models A and B.

    b = samples A gets right and B gets wrong, c = the reverse. Under the null
    hypothesis (equal error rates) b ~ Binomial(b + c, 1/2); the two-sided
    p-value is scipy.stats.binomtest's. With no discordant pair, p = 1.
    """
    a = _as_bool_vector(correct_a, "mcnemar_exact correct_a")
    b_ = _as_bool_vector(correct_b, "mcnemar_exact correct_b")
    if len(a) != len(b_):
        raise EvaluationError(f"mcnemar_exact: the two models scored different sample counts ({len(a)} vs {len(b_)})")
    b = int((a & ~b_).sum())
    c = int((~a & b_).sum())
    p_value = 1.0 if b + c == 0 else float(scipy.stats.binomtest(b, b + c, 0.5).pvalue)
    return {
        "n": len(a),
        "both_correct": int((a & b_).sum()),
        "b": b,
        "c": c,
        "both_wrong": int((~a & ~b_).sum()),
        "p_value": p_value,
    }


def paired_bootstrap_diff(
    y: Any,
    prob_a: Any,
    thr_a: float,
    prob_b: Any,
    thr_b: float,
    metric: str,
    resamples: int,
    level: float,
    seed: int,
) -> dict[str, Any]:
    """metric(A) - metric(B) on the same samples, with a paired percentile bootstrap CI.

    Each model keeps its own threshold. `metric` is any name in
    metrics.METRIC_NAMES (accuracy and f1 are the ones reports use).
    Returns metric, a, b, diff, ci_low, ci_high, level.
    """
    if metric not in METRIC_NAMES:
        raise EvaluationError(f"paired_bootstrap_diff: unknown metric {metric!r}; use one of {', '.join(METRIC_NAMES)}")
    labels, pa = as_binary_arrays(y, prob_a, what="paired_bootstrap_diff model A")
    _, pb = as_binary_arrays(labels, prob_b, what="paired_bootstrap_diff model B")
    row = METRIC_NAMES.index(metric)

    def difference(ys: np.ndarray, ps_a: np.ndarray, ps_b: np.ndarray) -> np.ndarray:
        return metric_rows(ys, ps_a, float(thr_a))[row] - metric_rows(ys, ps_b, float(thr_b))[row]

    value_a = float(metric_rows(labels, pa, float(thr_a))[row])
    value_b = float(metric_rows(labels, pb, float(thr_b))[row])
    interval = paired_percentile_bootstrap(
        (labels, pa, pb), difference, resamples=resamples, confidence_level=level, seed=seed
    )
    return {
        "metric": metric,
        "a": value_a,
        "b": value_b,
        "diff": value_a - value_b,
        "ci_low": float(interval.low),
        "ci_high": float(interval.high),
        "level": float(level),
    }


def paired_ttest(scores_a: Any, scores_b: Any) -> dict[str, float]:
    """Paired t-test of per-run scores (run i of A and of B share seed i / data).

    Returns n, mean_diff (A - B), t and the two-sided p_value. When every
    difference is identical the t statistic is undefined: p is 1 if they are
    all zero (no evidence of a difference) and NaN otherwise, with t NaN.
    """
    a = np.asarray(scores_a, dtype=float)
    b = np.asarray(scores_b, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise EvaluationError(
            f"paired_ttest: need two 1-D score lists of equal length, got shapes {a.shape} and {b.shape}"
        )
    if len(a) < 2:
        raise EvaluationError(f"paired_ttest: need at least 2 runs per model, got {len(a)}; raise n_runs")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise EvaluationError("paired_ttest: scores must be finite numbers")
    diff = a - b
    if np.all(diff == diff[0]):
        return {
            "n": len(a),
            "mean_diff": float(diff[0]),
            "t": float("nan"),
            "p_value": 1.0 if diff[0] == 0 else float("nan"),
        }
    result = scipy.stats.ttest_rel(a, b)
    return {"n": len(a), "mean_diff": float(diff.mean()), "t": float(result.statistic), "p_value": float(result.pvalue)}


COMPARED_METRICS = ("accuracy", "f1")


def paired_comparison(
    y: Any,
    prob_a: Any,
    thr_a: float,
    prob_b: Any,
    thr_b: float,
    resamples: int,
    level: float,
    seed: int,
) -> dict[str, float]:
    """Model A against model B on the same samples, as flat keys for a metrics file.

    n; mcnemar_b (A right, B wrong), mcnemar_c (A wrong, B right), mcnemar_p;
    then per metric in COMPARED_METRICS: <metric>_a, <metric>_b,
    <metric>_diff (A - B), <metric>_diff_ci_low, <metric>_diff_ci_high.
    """
    labels, pa = as_binary_arrays(y, prob_a, what="paired comparison model A")
    _, pb = as_binary_arrays(labels, prob_b, what="paired comparison model B")
    correct_a = (pa >= thr_a) == labels.astype(bool)
    correct_b = (pb >= thr_b) == labels.astype(bool)
    mcnemar = mcnemar_exact(correct_a, correct_b)
    out: dict[str, float] = {
        "n": mcnemar["n"],
        "mcnemar_b": mcnemar["b"],
        "mcnemar_c": mcnemar["c"],
        "mcnemar_p": mcnemar["p_value"],
    }
    for metric in COMPARED_METRICS:
        diff = paired_bootstrap_diff(labels, pa, thr_a, pb, thr_b, metric, resamples, level, seed)
        out[f"{metric}_a"] = diff["a"]
        out[f"{metric}_b"] = diff["b"]
        out[f"{metric}_diff"] = diff["diff"]
        out[f"{metric}_diff_ci_low"] = diff["ci_low"]
        out[f"{metric}_diff_ci_high"] = diff["ci_high"]
    return out
