"""Test metrics for the vulnerable class, and their bootstrap confidence intervals.

The metrics themselves (their names, conventions and vectorised computation)
are streamguard.metrics; here they are checked inputs, point estimates and
paired percentile bootstrap intervals over the test functions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamguard.evaluation.bootstrap import paired_percentile_bootstrap
from streamguard.evaluation.errors import EvaluationError
from streamguard.metrics import METRIC_NAMES, metric_rows


def as_binary_arrays(y_true: Any, prob: Any, what: str = "predictions") -> tuple[np.ndarray, np.ndarray]:
    """Validated (labels as int8, probabilities as float64), both 1-D and equally long."""
    y = np.asarray(y_true)
    p = np.asarray(prob, dtype=float)
    if y.ndim != 1 or p.ndim != 1 or len(y) != len(p):
        raise EvaluationError(
            f"{what}: labels and probabilities must be 1-D and equally long, got shapes {y.shape} and {p.shape}"
        )
    if len(y) == 0:
        raise EvaluationError(f"{what}: no samples to evaluate")
    if not np.isin(y, (0, 1)).all():
        raise EvaluationError(f"{what}: labels must be 0 or 1, got {sorted(set(np.unique(y).tolist()) - {0, 1})[:5]}")
    if not (np.isfinite(p).all() and (p >= 0).all() and (p <= 1).all()):
        raise EvaluationError(f"{what}: probabilities must be finite numbers in [0, 1]")
    return y.astype(np.int8), p


def compute_metrics(y_true: Any, prob: Any, threshold: float) -> dict[str, float]:
    """Each metric of METRIC_NAMES on the whole sample (NaN where undefined)."""
    y, p = as_binary_arrays(y_true, prob)
    values = metric_rows(y, p, float(threshold))
    return {name: float(value) for name, value in zip(METRIC_NAMES, values)}


def bootstrap_metrics(
    y_true: Any,
    prob: Any,
    threshold: float,
    resamples: int,
    confidence_level: float,
    seed: int,
) -> dict[str, float]:
    """Each metric plus `<metric>_ci_low` / `<metric>_ci_high` (paired percentile bootstrap).

    The threshold is held fixed: the interval covers sampling variation of
    the test set, not of the threshold choice (which used the valid split).
    """
    y, p = as_binary_arrays(y_true, prob)
    point = compute_metrics(y, p, threshold)
    interval = paired_percentile_bootstrap(
        (y, p),
        lambda ys, ps: metric_rows(ys, ps, float(threshold)),
        resamples=resamples,
        confidence_level=confidence_level,
        seed=seed,
    )
    out: dict[str, float] = {}
    for i, name in enumerate(METRIC_NAMES):
        out[name] = point[name]
        out[f"{name}_ci_low"] = float(interval.low[i])
        out[f"{name}_ci_high"] = float(interval.high[i])
    return out
