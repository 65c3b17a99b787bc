"""CI-aware wording of "does model A beat model B on a metric".

A difference counts as a win or a loss only when its bootstrap CI excludes
zero and, where a McNemar p-value is given (accuracy), that test is
significant at the same level too; otherwise the sentence says the data
cannot tell them apart, whichever way the point estimate leans. The second
condition matters when the models disagree on only a handful of functions:
the percentile bootstrap of the difference is then too narrow (a resample
often holds none of those functions), while the exact test is not. The words are written for people skimming a
report, so "does NOT beat" is spelled out whenever A is not clearly better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

METRIC_LABELS = {
    "accuracy": "accuracy",
    "f1": "F1",
    "precision": "precision",
    "recall": "recall",
    "balanced_accuracy": "balanced accuracy",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "mcc": "MCC",
    "brier": "Brier score",
}


@dataclass(frozen=True)
class Verdict:
    outcome: str  # "better" | "worse" | "inconclusive" | "undefined"
    sentence: str

    @property
    def beats(self) -> bool:
        return self.outcome == "better"


def level_percent(level: float) -> str:
    return f"{level * 100:g}%"


def describe_difference(
    model: str,
    baseline: str,
    metric: str,
    diff: float,
    ci_low: float,
    ci_high: float,
    level: float,
    mcnemar_p: float | None = None,
) -> Verdict:
    """Verdict on `diff` = metric(model) - metric(baseline) (higher is better)."""
    label = METRIC_LABELS.get(metric, metric)
    if not all(math.isfinite(v) for v in (diff, ci_low, ci_high)):
        return Verdict("undefined", f"{model} vs {baseline} on {label}: the difference is undefined on this test set.")
    ci = f"{level_percent(level)} CI {ci_low:+.3f} to {ci_high:+.3f}"
    ci_excludes_zero = ci_low > 0 or ci_high < 0
    test_agrees = mcnemar_p is None or mcnemar_p < 1 - level
    tail = "" if mcnemar_p is None else f"; McNemar exact p = {mcnemar_p:.3g}"
    if ci_excludes_zero and test_agrees:
        if ci_low > 0:
            return Verdict("better", f"{model} beats {baseline} on {label}: {diff:+.3f} ({ci}{tail}).")
        return Verdict(
            "worse", f"{model} does NOT beat {baseline} on {label}: it is worse by {-diff:.3f} ({ci}{tail})."
        )
    if ci_excludes_zero:
        why = f"the {ci} excludes 0 but McNemar exact p = {mcnemar_p:.3g} is not significant"
    else:
        why = f"the {ci} includes 0{tail}"
    if diff > 0:
        return Verdict("inconclusive", f"{model} does NOT clearly beat {baseline} on {label}: {diff:+.3f}, but {why}.")
    return Verdict("inconclusive", f"{model} does NOT beat {baseline} on {label}: {diff:+.3f} ({why}).")
