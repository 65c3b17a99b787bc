"""How each classification metric is computed: once, for the training loop and for evaluation alike.

Two computations live here, each written once:

- `metric_rows`: the test metrics of METRIC_NAMES, vectorised along the last
  axis, so the same code gives the point estimate (one row) and the bootstrap
  distribution (one row per resample, evaluation/metrics.py); tests check it
  against scikit-learn.
- `classification_summary`: the per-epoch validation summary the training
  loop logs and early-stops on (loss, f1, accuracy, mcc, roc_auc), computed
  by scikit-learn. It stays on scikit-learn because its values decide early
  stopping and are written to every run's history: on a valid split with one
  class its F1 is 0 where metric_rows says NaN, and scikit-learn's MCC and
  ROC-AUC formulas can differ from the vectorised ones in the last bits.

Conventions of the test metrics (the same everywhere in StreamGuard):
- a function is predicted vulnerable when prob >= threshold (`predict`);
- precision with no predicted positive is 0 (scikit-learn's zero_division=0);
- MCC with constant predictions is 0 (scikit-learn's convention);
- metrics that need both classes (recall, F1, balanced accuracy, ROC-AUC,
  PR-AUC, MCC) are NaN on data with one class; bootstrap intervals skip
  such resamples (evaluation/bootstrap.py);
- pr_auc is average precision (the step-wise area scikit-learn computes),
  not the trapezoidal area, which is optimistic for PR curves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.stats

METRIC_NAMES = (
    "accuracy",
    "precision",
    "recall",
    "f1",
    "balanced_accuracy",
    "roc_auc",
    "pr_auc",
    "mcc",
    "brier",
)


def predict(prob: Any, threshold: float) -> np.ndarray:
    """1 where the function is predicted vulnerable."""
    return (np.asarray(prob, dtype=float) >= threshold).astype(np.int8)


def _ratio(numerator: np.ndarray, denominator: np.ndarray, undefined: float) -> np.ndarray:
    out = np.full(np.broadcast_shapes(numerator.shape, denominator.shape), undefined, dtype=float)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _roc_auc(y: np.ndarray, prob: np.ndarray, pos: np.ndarray, neg: np.ndarray) -> np.ndarray:
    # Mann-Whitney: AUC = P(score of a positive > score of a negative), ties count 1/2,
    # which average ranks give exactly.
    ranks = scipy.stats.rankdata(prob, axis=-1)
    rank_sum = (ranks * y).sum(axis=-1)
    return _ratio(rank_sum - pos * (pos + 1) / 2, pos * neg, np.nan)


def roc_auc_rows(y: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """ROC-AUC alone along the last axis (NaN where one class is missing): for paired tests of it."""
    pos = y.sum(axis=-1).astype(float)
    neg = y.shape[-1] - pos
    return np.where((pos == 0) | (neg == 0), np.nan, _roc_auc(y, prob, pos, neg))


def _average_precision(y: np.ndarray, prob: np.ndarray, pos: np.ndarray) -> np.ndarray:
    # AP = sum over distinct thresholds (descending) of (R_k - R_{k-1}) * P_k.
    # Each positive adds 1/pos to recall at the end of its tie group, so
    # AP = mean over positives of the precision at the end of their tie group.
    order = np.argsort(-prob, axis=-1, kind="stable")
    y_sorted = np.take_along_axis(y, order, axis=-1).astype(float)
    p_sorted = np.take_along_axis(prob, order, axis=-1)
    n = prob.shape[-1]
    positions = np.arange(n)
    group_end = np.ones(p_sorted.shape, dtype=bool)
    group_end[..., :-1] = p_sorted[..., :-1] != p_sorted[..., 1:]
    end_index = np.where(group_end, positions, n)
    end_index = np.flip(np.minimum.accumulate(np.flip(end_index, axis=-1), axis=-1), axis=-1)
    true_pos = np.cumsum(y_sorted, axis=-1)
    precision_at_end = np.take_along_axis(true_pos, end_index, axis=-1) / (end_index + 1)
    return _ratio((y_sorted * precision_at_end).sum(axis=-1), pos, np.nan)


def metric_rows(y: np.ndarray, prob: np.ndarray, threshold: float) -> np.ndarray:
    """All metrics along the last axis: shape (len(METRIC_NAMES), *leading shape)."""
    actual = y.astype(bool)
    predicted = prob >= threshold
    tp = (actual & predicted).sum(axis=-1).astype(float)
    fp = (~actual & predicted).sum(axis=-1).astype(float)
    fn = (actual & ~predicted).sum(axis=-1).astype(float)
    tn = (~actual & ~predicted).sum(axis=-1).astype(float)
    pos, neg = tp + fn, tn + fp

    recall = _ratio(tp, pos, np.nan)
    specificity = _ratio(tn, neg, np.nan)
    mcc_denominator = np.sqrt((tp + fp) * pos * neg * (tn + fn))
    rows = {
        "accuracy": (tp + tn) / (pos + neg),
        "precision": _ratio(tp, tp + fp, 0.0),
        "recall": recall,
        "f1": _ratio(2 * tp, 2 * tp + fp + fn, np.nan),
        "balanced_accuracy": (recall + specificity) / 2,
        "roc_auc": _roc_auc(y, prob, pos, neg),
        "pr_auc": _average_precision(y, prob, pos),
        "mcc": _ratio(tp * tn - fp * fn, mcc_denominator, 0.0),
        "brier": ((prob - y) ** 2).mean(axis=-1),
    }
    one_class = (pos == 0) | (neg == 0)
    for name in ("recall", "f1", "balanced_accuracy", "roc_auc", "pr_auc", "mcc"):
        rows[name] = np.where(one_class, np.nan, rows[name])
    return np.stack([rows[name] for name in METRIC_NAMES])


def classification_summary(y_true: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """The per-epoch validation summary: log loss, F1, accuracy, MCC and ROC-AUC (NaN with one class)."""
    # scikit-learn is imported here: evaluation's summary and compare commands never pay for it
    from sklearn.metrics import accuracy_score, f1_score, log_loss, matthews_corrcoef, roc_auc_score

    pred = (prob >= threshold).astype(int)
    both_classes = len(np.unique(y_true)) == 2
    return {
        "loss": float(log_loss(y_true, np.clip(prob, 1e-7, 1 - 1e-7), labels=[0, 1])),
        "f1": float(f1_score(y_true, pred, pos_label=1, zero_division=0)),
        "accuracy": float(accuracy_score(y_true, pred)),
        "mcc": float(matthews_corrcoef(y_true, pred)),
        "roc_auc": float(roc_auc_score(y_true, prob)) if both_classes else float("nan"),
    }
