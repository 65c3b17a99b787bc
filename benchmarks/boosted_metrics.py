"""Gradient-boosted trees over the code metrics as a lever on leave-one-project-out generalization.

The code-metrics model is a logistic regression: every metric pushes one way, whatever the others
say. Trees can learn interactions ("long *and* no bounds check") and thresholds. This benchmark runs
the protocol twice on one loaded corpus: as shipped, and with the code-metrics model (and with it
the lexical_metrics stacker's input) replaced by scikit-learn's HistGradientBoostingClassifier,
fitted with the same project-balanced weights. Pair rows enter as labelled functions
(`pair_training: functions`); trees have no ranking form here.

    python benchmarks/boosted_metrics.py --corpus CORPUS.jsonl --code-metrics code_metrics.npz \
        --params PARAMS.yaml --out benchmarks/results/generalization-levers-boosted.json
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier

from streamguard.evaluation import generalization
from streamguard.evaluation.generalization import leave_one_project_out, load_corpus, summary_line, versus_baseline
from streamguard.params import load_params


class BoostedMetrics:
    """CodeMetricsModel's fit/predict_proba, with boosted trees in place of the logistic regression."""

    def __init__(self, config: object = None, seed: int = 0) -> None:
        self.model = HistGradientBoostingClassifier(
            max_iter=200, learning_rate=0.05, max_leaf_nodes=15, min_samples_leaf=50, l2_regularization=1.0,
            random_state=seed,
        )  # fmt: skip

    def fit(self, features: np.ndarray, labels: np.ndarray, weights: np.ndarray | None = None, pairs: object = None):
        if pairs is not None:
            raise SystemExit("boosted trees have no ranking form here: use generalize.pair_training: functions")
        self.model.fit(features, labels, sample_weight=weights)
        return self

    def predict_proba(self, features: np.ndarray) -> np.ndarray:
        return self.model.predict_proba(features)[:, 1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--code-metrics", type=Path)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    params = load_params(args.params)
    corpus = load_corpus(args.corpus, params, args.code_metrics)
    results: dict = {}
    baseline: dict[str, np.ndarray] = {}
    logistic = generalization.CodeMetricsModel
    for variant in ("baseline", "boosted"):
        generalization.CodeMetricsModel = logistic if variant == "baseline" else BoostedMetrics  # type: ignore[misc]
        started = time.perf_counter()
        result = leave_one_project_out(corpus, params, lambda m: print(m, flush=True), where=str(args.corpus))
        if variant == "baseline":
            baseline = result.pooled_scores
        versus, snapshot_roc_auc = versus_baseline(corpus, result, None if variant == "baseline" else baseline, params)
        results[variant] = {
            "seconds": round(time.perf_counter() - started, 1),
            "versus_baseline": versus,
            "snapshot_roc_auc": snapshot_roc_auc,
            **result.details(),
        }
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print(f"== {variant} ({results[variant]['seconds']:.0f} s)", flush=True)
        for name, row in result.pooled.items():
            print(f"  {summary_line(name, row)}  macro {row['macro_roc_auc']:.3f}", flush=True)
        print("  snapshots only: " + "  ".join(f"{n} {v:.3f}" for n, v in snapshot_roc_auc.items()), flush=True)
        for pool, rows in versus.items():
            for name, row in rows.items():
                print(f"  {pool}: {name} minus baseline: {row['roc_auc_minus_length']:+.3f} "
                      f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}], p={row['p_value']:.4f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
