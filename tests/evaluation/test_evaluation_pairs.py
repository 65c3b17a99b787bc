"""Paired metrics (P-C/P-V/P-B/P-R, pairwise accuracy, ties, VD-S) against hand-computed cases."""

from __future__ import annotations

import numpy as np
import pytest

from streamguard.data.pairs import find_pairs
from streamguard.evaluation.pairs import TIE_TOLERANCE, pair_metrics, vd_s

# eight functions, four pairs (a..d), threshold 0.5:
#   a: vul 0.9 / fix 0.2  -> both right (P-C), ranked right
#   b: vul 0.8 / fix 0.7  -> both called vulnerable (P-V), ranked right
#   c: vul 0.3 / fix 0.3  -> both benign (P-B), tied
#   d: vul 0.4 / fix 0.6  -> reversed (P-R), ranked wrong
IDS = ["a", "a", "b", "b", "c", "c", "d", "d"]
Y = np.array([1, 0, 0, 1, 1, 0, 0, 1], dtype=np.int8)
PROB = np.array([0.9, 0.2, 0.7, 0.8, 0.3, 0.3, 0.6, 0.4])


def test_pair_metrics_hand_computed():
    out = pair_metrics(Y, PROB, 0.5, find_pairs(IDS, Y), resamples=200, confidence_level=0.9, seed=1)
    assert out["n_pairs"] == 4 and out["pair_groups_skipped"] == 0
    assert (out["p_c"], out["p_v"], out["p_b"], out["p_r"]) == (0.25, 0.25, 0.25, 0.25)
    assert out["pairwise_accuracy"] == 0.5 and out["tied"] == 0.25
    for name in ("p_c", "pairwise_accuracy", "tied", "vd_s"):
        assert out[f"{name}_ci_low"] <= out[name] <= out[f"{name}_ci_high"]
    assert out["pairwise_accuracy_ci_high"] > out["pairwise_accuracy_ci_low"]  # resampled over pairs
    # 4 negatives: no false positive allowed, so the cut is the top fixed score 0.7:
    # vulnerable 0.9 and 0.8 are caught, 0.3 and 0.4 missed -> VD-S = 2 / 4
    assert out["vd_s"] == 0.5


def test_ties_within_tolerance_count_as_tied_not_ranked():
    y = np.array([1, 0, 1, 0], dtype=np.int8)
    prob = np.array([0.5 + TIE_TOLERANCE / 2, 0.5, 0.61, 0.6])
    out = pair_metrics(y, prob, 0.9, find_pairs(["x", "x", "z", "z"], y), resamples=50, confidence_level=0.9, seed=0)
    assert out["tied"] == 0.5 and out["pairwise_accuracy"] == 0.5
    assert out["p_b"] == 1.0  # threshold 0.9: every function called benign


def test_vd_s_allows_half_a_percent_of_false_positives():
    # 500 negatives: floor(0.005 * 500) = 2 false positives allowed (not 3),
    # so the cut is the 3rd highest negative (0.7)
    neg = np.array([0.95, 0.9, 0.7] + [0.1] * 497)
    pos = np.array([0.99, 0.92, 0.71, 0.7, 0.2])
    y = np.concatenate([np.zeros(500), np.ones(5)]).astype(np.int8)
    prob = np.concatenate([neg, pos])
    # caught: above 0.7 (0.99, 0.92, 0.71); missed: 0.7 (a tie is not above) and 0.2
    assert vd_s(y, prob) == pytest.approx(2 / 5)
    assert np.isnan(vd_s(np.ones(3, dtype=np.int8), np.array([0.1, 0.2, 0.3])))
    # vectorised rows (bootstrap batches) give the same value per row
    assert list(vd_s(np.stack([y, y]), np.stack([prob, prob]))) == pytest.approx([0.4, 0.4])


def test_fewer_than_two_pairs_gives_counts_only():
    y = np.array([1, 0, 1], dtype=np.int8)
    out = pair_metrics(y, np.array([0.6, 0.4, 0.9]), 0.5, find_pairs(["a", "a", None], y), 50, 0.9, 0)
    assert out == {"n_pairs": 1, "pair_groups_skipped": 0}


def _csv(probs: list[float], threshold: float = 0.5) -> str:
    lines = ["id,target,pair,lexical_prob,lexical_pred"]
    for i, (pair, y, prob) in enumerate(zip(IDS, Y, probs)):
        lines.append(f"f{i},{y},{pair},{prob},{int(prob >= threshold)}")
    return "\n".join(lines + ["f8,1,,0.9,1"]) + "\n"


def test_compare_reports_pair_metrics_of_both_revisions_and_their_difference():
    from streamguard.evaluation.compare import compare_revisions, parse_predictions_csv, render_markdown
    from streamguard.params import params_from_dict

    a = parse_predictions_csv(_csv(list(PROB)), "a")
    # B ranks every vulnerable side above its fix and calls pairs a, b, d right (c both benign): p_c 3/4, p_r 0
    better = [0.9, 0.2, 0.1, 0.8, 0.4, 0.3, 0.45, 0.55]
    b = parse_predictions_csv(_csv(better), "b")
    settings = params_from_dict({"evaluate": {"bootstrap_resamples": 200}}).evaluate
    comparison = compare_revisions(a, b, settings, "a", "b")
    got = comparison.pair_results["lexical"]
    assert got["n_pairs"] == 4
    assert (got["p_c_a"], got["p_c_b"], got["p_r_a"], got["p_r_b"]) == (0.25, 0.75, 0.25, 0.0)
    assert (got["pairwise_accuracy_a"], got["pairwise_accuracy_b"]) == (0.5, 1.0)
    assert (got["tied_a"], got["tied_b"]) == (0.25, 0.0)
    assert got["pairwise_accuracy_diff"] == 0.5
    assert got["pairwise_accuracy_diff_ci_low"] <= 0.5 <= got["pairwise_accuracy_diff_ci_high"]
    assert "| lexical (4) | 0.250 | 0.750 |" in render_markdown(comparison)
    # without a pair column (older revisions) there is nothing to pair
    plain = parse_predictions_csv("id,target,lexical_prob,lexical_pred\nf0,1,0.9,1\nf1,0,0.2,0\n", "c")
    assert compare_revisions(plain, plain, settings, "c", "c").pair_results is None
