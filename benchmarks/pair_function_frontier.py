"""Can one score of one function meet both generalization goals: rank functions and pick the bug of a pair?

Leave-one-project-out with models trained to rank pairs only (`pair_training: ranking`,
`train_sources: [git, pairvul]`), then every held-out function scored by log(1 + length) +
beta * logit(model): beta 0 is the length rule, a large beta the pair-trained model alone. For each
beta: pooled and macro ROC-AUC over the held-out projects' function sets, and pairwise accuracy,
ties, and pairwise accuracy on the pairs whose sides have the same number of code tokens. beta is a dial read on the held-out projects, so this is the frontier of
what such a sum can reach, not a model: no beta here was chosen on training projects.

    python benchmarks/pair_function_frontier.py --corpus CORPUS.jsonl --code-metrics code_metrics.npz \
        --params PARAMS.yaml --out benchmarks/results/generalization-pair-function-frontier.json
"""

from __future__ import annotations

import dataclasses
import json
import time

import numpy as np
from lever_runs import held_out_pairs, protocol_arguments

from streamguard.evaluation.generalization import leave_one_project_out, load_corpus
from streamguard.metrics import roc_auc_rows
from streamguard.models.fusion import to_logit
from streamguard.params import load_params

BETAS = (0.0, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 1e3)


def main() -> None:
    args = protocol_arguments(__doc__.splitlines()[0]).parse_args()
    params = load_params(args.params)
    pairs_only = dataclasses.replace(params.generalize, pair_training="ranking", train_sources=["git", "pairvul"])
    corpus = load_corpus(args.corpus, params, args.code_metrics)
    started = time.perf_counter()
    result = leave_one_project_out(
        corpus, dataclasses.replace(params, generalize=pairs_only), lambda m: print(m, flush=True)
    )
    index = result.pooled_index
    y, project, functions = corpus.y[index], corpus.project[index], corpus.function_set[index]
    vulnerable, fixed = held_out_pairs(corpus, result)
    log_length = np.log1p(corpus.length[index])
    same_length = corpus.length[index][vulnerable] == corpus.length[index][fixed]  # size cannot choose
    out: dict = {
        "seconds": round(time.perf_counter() - started, 1),
        "pairs": len(vulnerable),
        "pairs_same_length": int(same_length.sum()),
        "models": {},
    }
    for model in pairs_only.models:
        logit = to_logit(np.clip(result.pooled_scores[model], 1e-6, 1 - 1e-6))
        rows = []
        for beta in BETAS:
            score = log_length + beta * logit
            macro = [
                roc_auc_rows(y[functions & (project == p)], score[functions & (project == p)])
                for p in np.unique(project[functions])
            ]
            difference = score[vulnerable] - score[fixed]
            row = {
                "beta": beta,
                "pooled_roc_auc": float(roc_auc_rows(y[functions], score[functions])),
                "macro_roc_auc": float(np.nanmean(macro)),
                "pairwise_accuracy": float(np.mean(difference > 0)),
                "tied": float(np.mean(difference == 0)),
                "pairwise_accuracy_same_length": float(np.mean(difference[same_length] > 0)),
            }
            rows.append(row)
            print(f"{model:16s} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()), flush=True)
        out["models"][model] = rows
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
