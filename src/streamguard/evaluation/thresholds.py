"""Choosing the decision threshold, on the valid split only.

Every distinct cut of the sorted probabilities is tried (predict vulnerable
when prob >= threshold, as in metrics.predict), from "nothing vulnerable" to
"everything vulnerable". The returned threshold sits at the midpoint between
the lowest probability predicted vulnerable and the next lower one, so small
shifts in test probabilities do not flip predictions at the exact valid
values. Among equally good cuts, the one whose threshold is nearest 0.5 wins
(0.5 is the natural cut for calibrated probabilities), then the lower one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.metrics import as_binary_arrays

THRESHOLD_RULES = ("max_f1", "max_accuracy")


def _candidate_thresholds(distinct_desc: np.ndarray) -> np.ndarray:
    """Threshold of cut j = 0..k, where cut j predicts vulnerable the j highest distinct values."""
    k = len(distinct_desc)
    lowest_kept = np.concatenate(([1.0], distinct_desc))  # [0] is a virtual bound: nothing kept
    highest_dropped = np.concatenate((distinct_desc, [0.0]))  # [k] is a virtual bound: nothing dropped
    thresholds = (lowest_kept + highest_dropped) / 2
    # The midpoint must stay strictly above the highest dropped value; it may
    # not (rounding between adjacent floats, or a top probability of 1.0).
    for j in range(k):
        if thresholds[j] <= highest_dropped[j]:
            thresholds[j] = lowest_kept[j] if j > 0 else np.nextafter(highest_dropped[0], np.inf)
    return thresholds


def choose_threshold(y_true: Any, prob: Any, rule: str) -> float:
    """Threshold maximising `rule` ("max_f1" or "max_accuracy") on these (valid) predictions."""
    if rule not in THRESHOLD_RULES:
        raise EvaluationError(
            f"unknown threshold rule {rule!r}; use one of {', '.join(THRESHOLD_RULES)} (fusion.threshold_rule)"
        )
    y, p = as_binary_arrays(y_true, prob, what="threshold choice")
    positives = int(y.sum())
    if rule == "max_f1" and positives == 0:
        raise EvaluationError(
            "threshold choice: the valid predictions contain no vulnerable function, so F1 is "
            "undefined at every threshold; check the valid split or use fusion.threshold_rule: max_accuracy"
        )
    negatives = len(y) - positives

    distinct_desc, inverse = np.unique(-p, return_inverse=True)
    distinct_desc = -distinct_desc
    # per distinct value (descending): how many positives / negatives carry it
    pos_per_value = np.bincount(inverse, weights=y, minlength=len(distinct_desc))
    all_per_value = np.bincount(inverse, minlength=len(distinct_desc))
    tp = np.concatenate(([0.0], np.cumsum(pos_per_value)))
    fp = np.concatenate(([0.0], np.cumsum(all_per_value - pos_per_value)))

    if rule == "max_f1":
        score = 2 * tp / (tp + fp + positives)
    else:
        score = (tp + (negatives - fp)) / len(y)
    thresholds = _candidate_thresholds(distinct_desc)

    best = np.flatnonzero(score == score.max())
    distance = np.abs(thresholds[best] - 0.5)
    nearest = best[distance == distance.min()]
    return float(thresholds[nearest].min())
