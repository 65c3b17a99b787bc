"""Paired evaluation: can a model tell a vulnerable function from its own fix?

A test pair is a vulnerable (target 1) test function and its own fix (target 0),
linked by a shared `pair` id (streamguard.data.pairs). Per pair, with the model's threshold
(predicted vulnerable when prob >= threshold, as in streamguard.metrics):

  p_c  both right: vulnerable called vulnerable, fixed called benign (PrimeVul's P-C)
  p_v  both called vulnerable (P-V)
  p_b  both called benign (P-B)
  p_r  both wrong, i.e. reversed: vulnerable called benign, fixed called vulnerable (P-R)
  pairwise_accuracy  share of pairs with prob(vulnerable) > prob(fixed) + TIE_TOLERANCE (ties count as wrong)
  tied               share of pairs with |prob(vulnerable) - prob(fixed)| <= TIE_TOLERANCE

p_c + p_v + p_b + p_r = 1, and a model that cannot tell the sides apart
scores pairwise_accuracy ≈ 0.5 - tied / 2. Intervals resample pairs.

VD-S (PrimeVul's "vulnerability detection score") is the false-negative rate
at the lowest threshold whose false-positive rate is at most VDS_MAX_FPR
(0.5 %), over all test functions (resampled as functions): with k =
floor(0.005 × negatives) false positives allowed, a vulnerable function is
caught only when its probability is above the (k+1)-th highest probability
of a non-vulnerable one. Lower is better; 1.0 means nothing is caught.

Pair ids with another make-up are counted in `pair_groups_skipped`, not
evaluated.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streamguard.data.pairs import PairIndex
from streamguard.evaluation.bootstrap import paired_percentile_bootstrap
from streamguard.evaluation.errors import EvaluationError

# Probabilities come from float32 models and are averaged over seeds: differences below this are
# rounding, not a ranking (float32 spacing near 0.5 is 6e-8).
TIE_TOLERANCE = 1e-6
VDS_MAX_FPR = 0.005
PAIR_METRICS = ("p_c", "p_v", "p_b", "p_r", "pairwise_accuracy", "tied")


def pair_rows(prob_vulnerable: np.ndarray, prob_fixed: np.ndarray, threshold: float) -> np.ndarray:
    """PAIR_METRICS along the last axis: shape (len(PAIR_METRICS), *leading shape)."""
    called_v = prob_vulnerable >= threshold
    called_f = prob_fixed >= threshold
    gap = prob_vulnerable - prob_fixed
    rows = [
        called_v & ~called_f,
        called_v & called_f,
        ~called_v & ~called_f,
        ~called_v & called_f,
        gap > TIE_TOLERANCE,
        np.abs(gap) <= TIE_TOLERANCE,
    ]
    return np.stack([row.mean(axis=-1) for row in rows])


def vd_s(y: np.ndarray, prob: np.ndarray, max_fpr: float = VDS_MAX_FPR) -> np.ndarray:
    """False-negative rate at the lowest threshold with FPR <= max_fpr, along the last axis (NaN: one class)."""
    actual = y.astype(bool)
    n_neg = (~actual).sum(axis=-1)
    n_pos = actual.sum(axis=-1)
    allowed = np.floor(max_fpr * n_neg).astype(int)
    # negatives' probabilities, highest first; positives sink to the end as -inf
    negatives = np.sort(np.where(actual, -np.inf, prob), axis=-1)[..., ::-1]
    cut = np.take_along_axis(negatives, np.minimum(allowed, prob.shape[-1] - 1)[..., None], axis=-1)[..., 0]
    missed = (actual & (prob <= cut[..., None])).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = missed / n_pos
    return np.where((n_pos == 0) | (n_neg == 0), np.nan, rate)


def pair_row_metrics(
    prob: np.ndarray, threshold: float, pairs: PairIndex, resamples: int, confidence_level: float, seed: int
) -> dict[str, float]:
    """Each of PAIR_METRICS with `_ci_low` / `_ci_high`, over `pairs` (at least two)."""
    p_v, p_f = prob[pairs.vulnerable], prob[pairs.fixed]
    point = pair_rows(p_v, p_f, threshold)
    interval = paired_percentile_bootstrap(
        (p_v, p_f),
        lambda a, b: pair_rows(a, b, threshold),
        resamples=resamples,
        confidence_level=confidence_level,
        seed=seed,
    )
    out: dict[str, float] = {}
    for i, name in enumerate(PAIR_METRICS):
        out[name] = float(point[i])
        out[f"{name}_ci_low"] = float(interval.low[i])
        out[f"{name}_ci_high"] = float(interval.high[i])
    return out


def pair_metrics(
    y: np.ndarray,
    prob: np.ndarray,
    threshold: float,
    pairs: PairIndex,
    resamples: int,
    confidence_level: float,
    seed: int,
) -> dict[str, float]:
    """n_pairs, pair_groups_skipped, each of PAIR_METRICS and vd_s with `_ci_low` / `_ci_high`.

    Empty (only the counts) when fewer than two pairs exist: no interval can be drawn.
    """
    out: dict[str, float] = {"n_pairs": len(pairs), "pair_groups_skipped": pairs.skipped}
    if len(pairs) < 2:
        return out
    out.update(pair_row_metrics(prob, threshold, pairs, resamples, confidence_level, seed))
    y = y.astype(np.int8)
    vds_interval = paired_percentile_bootstrap(
        (y, prob),
        vd_s,
        resamples=resamples,
        confidence_level=confidence_level,
        seed=seed,
    )
    out["vd_s"] = float(vd_s(y, prob))
    out["vd_s_ci_low"] = float(vds_interval.low)
    out["vd_s_ci_high"] = float(vds_interval.high)
    return out


COMPARED_PAIR_METRICS = ("p_c", "p_r", "pairwise_accuracy", "tied")
_PREDICTION_THRESHOLD = 0.5  # on a 0/1 prediction column, gives it back unchanged


def _compared_rows(p_vul: np.ndarray, p_fix: np.ndarray, d_vul: np.ndarray, d_fix: np.ndarray) -> np.ndarray:
    # P-C/P-R from each revision's own 0/1 predictions (its own threshold), the ranking from probabilities
    by_prediction = pair_rows(d_vul, d_fix, _PREDICTION_THRESHOLD)
    by_probability = pair_rows(p_vul, p_fix, _PREDICTION_THRESHOLD)
    return np.stack(
        [
            by_prediction[PAIR_METRICS.index("p_c")],
            by_prediction[PAIR_METRICS.index("p_r")],
            by_probability[PAIR_METRICS.index("pairwise_accuracy")],
            by_probability[PAIR_METRICS.index("tied")],
        ]
    )


def pair_difference(
    side_a: tuple[np.ndarray, np.ndarray],
    side_b: tuple[np.ndarray, np.ndarray],
    pairs: PairIndex,
    resamples: int,
    confidence_level: float,
    seed: int,
) -> dict[str, float]:
    """COMPARED_PAIR_METRICS of revisions A and B on the same pairs, and B - A with a bootstrap CI over pairs.

    Each side is (probabilities, 0/1 predictions) over the same functions, indexed by `pairs`.
    """
    arrays = []
    for prob, pred in (side_a, side_b):
        arrays += [prob[pairs.vulnerable], prob[pairs.fixed], pred[pairs.vulnerable], pred[pairs.fixed]]
    point_a, point_b = _compared_rows(*arrays[:4]), _compared_rows(*arrays[4:])
    interval = paired_percentile_bootstrap(
        tuple(arrays),
        lambda *r: _compared_rows(*r[4:]) - _compared_rows(*r[:4]),
        resamples=resamples,
        confidence_level=confidence_level,
        seed=seed,
    )
    out: dict[str, float] = {"n_pairs": len(pairs)}
    for i, name in enumerate(COMPARED_PAIR_METRICS):
        out[f"{name}_a"], out[f"{name}_b"] = float(point_a[i]), float(point_b[i])
        out[f"{name}_diff"] = float(point_b[i] - point_a[i])
        out[f"{name}_diff_ci_low"] = float(interval.low[i])
        out[f"{name}_diff_ci_high"] = float(interval.high[i])
    return out


def read_test_pair_ids(test_records: Path, ids: Sequence[str]) -> list[str | None] | None:
    """The pair id of each test function in `ids` order, from the preprocess stage's test.jsonl.

    None when the file is absent or no test function has a pair (then there
    is nothing to pair). Every predicted id must be in the file: otherwise the
    models were trained on another data version.
    """
    from streamguard.data.records import read_records

    if not test_records.is_file():
        return None
    pair_of = {rec.id: rec.pair for rec in read_records(test_records)}
    missing = [i for i in ids if i not in pair_of]
    if missing:
        raise EvaluationError(
            f"{test_records}: {len(missing)} of {len(ids)} test ids the models predicted are not in it "
            f"(e.g. {missing[0][:40]!r}); the models were trained on another data version — re-run them (dvc repro)"
        )
    found = [pair_of[i] for i in ids]
    return found if any(p is not None for p in found) else None
