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

import json

import numpy as np
from lever_runs import lever_runs, protocol_arguments
from sklearn.ensemble import HistGradientBoostingClassifier

from streamguard.evaluation import generalization
from streamguard.evaluation.generalization import Corpus, load_corpus
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
    args = protocol_arguments(__doc__.splitlines()[0]).parse_args()
    params = load_params(args.params)
    corpus = load_corpus(args.corpus, params, args.code_metrics)
    logistic = generalization.CodeMetricsModel

    def prepare(variant: str) -> Corpus:
        # the variant is which model the protocol fits over the code metrics; the corpus is one
        generalization.CodeMetricsModel = BoostedMetrics if variant == "boosted" else logistic  # type: ignore[misc]
        return corpus

    results: dict = {}
    for run in lever_runs(prepare, ["boosted"], params, where=str(args.corpus)):
        results[run.variant] = run.record()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print("\n".join(run.lines()), flush=True)
        print("  macro: " + "  ".join(f"{n} {r['macro_roc_auc']:.3f}" for n, r in run.result.pooled.items()))


if __name__ == "__main__":
    main()
