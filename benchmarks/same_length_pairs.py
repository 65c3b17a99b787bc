"""What do the models know beyond size on pairs? Same-length pairs, grouped by the commit that made them.

On pairs whose two sides have the same number of code tokens neither length rule can choose, so
a held-out model's pairwise accuracy there is what it knows beyond size. Mined pairs come in
commits, and one sweeping commit (a wrapper replacing every malloc of a project) can make most of
a project's such pairs: this benchmark reports the figure with a bootstrap that resamples commits
(PairVul's pairs are one CVE fix each), per commit and project, and without the commits that
make more than --sweeping of them. Every pair is read the same way, for the width of the
headline pairwise figure's interval when commits, not pairs, are the unit.

    python benchmarks/same_length_pairs.py --corpus CORPUS.jsonl --code-metrics code_metrics.npz \
        --params PARAMS.yaml --out benchmarks/results/generalization-same-length-pairs.json
"""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
from lever_runs import held_out_pairs, protocol_arguments

from streamguard.data.records import read_records
from streamguard.evaluation.generalization import leave_one_project_out, load_corpus
from streamguard.evaluation.pairs import TIE_TOLERANCE
from streamguard.params import load_params


def clustered_interval(hits: np.ndarray, cluster: np.ndarray, resamples: int, seed: int) -> tuple[float, float]:
    """95 % percentile interval of the mean of `hits`, resampling whole clusters."""
    names, inverse = np.unique(cluster, return_inverse=True)
    sums = np.bincount(inverse, weights=hits)
    sizes = np.bincount(inverse)
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(names), size=(resamples, len(names)))
    means = sums[draws].sum(axis=1) / sizes[draws].sum(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return float(low), float(high)


def main() -> None:
    ap = protocol_arguments(__doc__.splitlines()[0])
    ap.add_argument("--sweeping", type=int, default=5, help="a commit making more same-length pairs is left out")
    args = ap.parse_args()
    params = load_params(args.params)
    corpus = load_corpus(args.corpus, params, args.code_metrics)
    records = list(read_records(args.corpus))
    result = leave_one_project_out(corpus, params, lambda m: print(m, flush=True))
    index = result.pooled_index
    vulnerable, fixed = held_out_pairs(corpus, result)
    length = corpus.length[index]
    settings = params.evaluate
    out: dict = {"sweeping_threshold": args.sweeping}
    same = length[vulnerable] == length[fixed]
    for pair_set, chosen in (("same_length", same), ("every_pair", np.ones(len(same), bool))):
        v, f = vulnerable[chosen], fixed[chosen]
        origin = [records[index[i]] for i in v]
        commit = np.array([f"{r.project}@{r.commit}" if r.source == "git" else f"{r.project}#{r.pair}" for r in origin])
        project = np.array([r.project for r in origin])
        per_commit = Counter(commit.tolist())
        kept = np.array([per_commit[c] <= args.sweeping for c in commit])
        block: dict = {
            "pairs": len(v),
            "commits": len(per_commit),
            "sweeping_commits": {c: n for c, n in per_commit.most_common() if n > args.sweeping},
            "pairs_per_project": dict(Counter(project.tolist()).most_common()),
            "models": {},
        }
        print(f"== {pair_set}: {len(v)} pairs, {len(per_commit)} commits", flush=True)
        for name, score in result.pooled_scores.items():
            hits = (score[v] - score[f] > TIE_TOLERANCE).astype(float)
            row: dict = {}
            for subset, mask in (("all", np.ones(len(hits), bool)), ("without_sweeping_commits", kept)):
                if mask.sum() < 2:
                    continue
                low, high = clustered_interval(hits[mask], commit[mask], settings.bootstrap_resamples, settings.seed)
                row[subset] = {
                    "pairwise_accuracy": float(hits[mask].mean()),
                    "ci_low": low,
                    "ci_high": high,
                    "pairs": int(mask.sum()),
                }
            row["per_project"] = {
                p: {"pairs": int((project == p).sum()), "pairwise_accuracy": float(hits[project == p].mean())}
                for p in block["pairs_per_project"]
            }
            block["models"][name] = row
            print(
                f"{name:16s} "
                + "  ".join(f"{s} {x['pairwise_accuracy']:.3f} [{x['ci_low']:.3f}, {x['ci_high']:.3f}] ({x['pairs']})" for s, x in row.items() if s != "per_project"),
                flush=True,
            )  # fmt: skip
        out[pair_set] = block
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
