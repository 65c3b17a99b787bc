"""The paired percentile bootstrap that every confidence interval here uses.

Resampling is delegated to `scipy.stats.bootstrap` (paired: one set of
resampled indices is applied to every array, so the pairing between a
sample's label and each model's probability is kept). The interval is the
percentile interval of the bootstrap distribution, computed over the
resamples where the statistic is defined: a resample that happens to contain
one class leaves ROC-AUC, recall, F1, MCC, ... undefined (NaN), and such
resamples are left out of those metrics' intervals rather than poisoning them
(scipy's own interval would be NaN).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import scipy.stats

from streamguard.evaluation.errors import EvaluationError

# Resamples are evaluated in batches of (batch, n) arrays; this caps one batch
# at about 4 M elements (32 MB of float64) whatever the test-set size.
_MAX_BATCH_ELEMENTS = 4_000_000


@dataclass(frozen=True)
class BootstrapInterval:
    """Percentile interval per output of the statistic."""

    low: np.ndarray
    high: np.ndarray
    # per output: how many resamples gave a defined (finite) value
    defined: np.ndarray
    # per output, the statistic on every resample (NaN where undefined): for p-values
    distribution: np.ndarray


def check_bootstrap_settings(resamples: int, confidence_level: float) -> None:
    if isinstance(resamples, bool) or not isinstance(resamples, (int, np.integer)) or resamples < 1:
        raise EvaluationError(
            f"bootstrap resamples must be a positive integer, got {resamples!r}; "
            "set evaluate.bootstrap_resamples in params.yaml (1000 is usual)"
        )
    if not 0 < confidence_level < 1:
        raise EvaluationError(
            f"confidence level must be in (0, 1), got {confidence_level!r}; "
            "set evaluate.confidence_level in params.yaml (0.95 is usual)"
        )


def paired_percentile_bootstrap(
    samples: tuple[np.ndarray, ...],
    statistic: Callable[..., np.ndarray],
    *,
    resamples: int,
    confidence_level: float,
    seed: int,
) -> BootstrapInterval:
    """Percentile CI of `statistic` under paired resampling of `samples`.

    `statistic(*arrays)` receives arrays of shape (batch, n) and must return
    shape (k, batch) (k outputs) or (batch,), computing along the last axis;
    NaN marks a resample where an output is undefined.
    """
    check_bootstrap_settings(resamples, confidence_level)
    n = len(samples[0])
    if n < 2:
        raise EvaluationError(f"a bootstrap needs at least 2 samples, got {n}")

    def along_last_axis(*resampled: np.ndarray, axis: int = -1) -> np.ndarray:
        return statistic(*resampled)

    batch = max(1, min(resamples, _MAX_BATCH_ELEMENTS // n))
    with warnings.catch_warnings():
        # scipy warns when its own interval is NaN; ours below omits NaNs
        warnings.simplefilter("ignore", scipy.stats.DegenerateDataWarning)
        result = scipy.stats.bootstrap(
            samples,
            along_last_axis,
            n_resamples=resamples,
            batch=batch,
            vectorized=True,
            paired=True,
            axis=-1,
            confidence_level=confidence_level,
            method="percentile",
            rng=np.random.default_rng(seed),
        )
    distribution = np.asarray(result.bootstrap_distribution, dtype=float)
    alpha = (1 - confidence_level) / 2
    bounds = scipy.stats.quantile(distribution, np.array([alpha, 1 - alpha]), axis=-1, nan_policy="omit")
    return BootstrapInterval(
        low=bounds[..., 0],
        high=bounds[..., 1],
        defined=np.isfinite(distribution).sum(axis=-1),
        distribution=distribution,
    )


def bootstrap_p_value(differences: np.ndarray) -> float:
    """Two-sided p-value of "the difference is 0" from a bootstrap distribution of differences.

    Twice the smaller share of resamples on either side of 0, each share counted
    as (k + 1) / (R + 1) so that R resamples never claim p below 2 / (R + 1);
    at most 1. NaN resamples are left out.
    """
    d = np.asarray(differences, dtype=float)
    d = d[np.isfinite(d)]
    if d.size == 0:
        return float("nan")
    tail = min(int(np.sum(d <= 0)), int(np.sum(d >= 0)))
    return float(min(1.0, 2 * (tail + 1) / (d.size + 1)))
