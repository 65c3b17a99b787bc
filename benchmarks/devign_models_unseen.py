"""The pipeline's Devign-trained models on the projects Devign does not hold (a benchmark: prints figures).

    python benchmarks/devign_models_unseen.py --corpus data/generalize/corpus.jsonl \\
        --models models --graphs data/graphs --params params.yaml --out unseen.json \\
        [--lopo benchmarks/results/generalization-full.details.json]

A models folder the main pipeline trained on Devign (FFmpeg and qemu: lexical, transformer, GNN and
their fusion, as `scan --model-dir` loads it) scores every record of the leave-project-out corpus
whose project is neither, through the same `Scorer` that `scan` uses. Each such project is then
measured as the generalize stage measures a held-out project (evaluation/generalization.py's
`evaluate_scores`: function-level ROC-AUC and PR-AUC on its function set, pairwise accuracy on its
vulnerable/fixed pairs, retro-scan recall on its snapshot), beside the length rule and random
order, and pooled. Thresholds: the fusion's own, 0.5 for the base models (ROC-AUC, PR-AUC and
pairwise accuracy do not depend on them). `--lopo` adds the leave-project-out figures of a
`generalize` details file for the same projects. `--params` must be the params the models were
trained with (the graph and transformer settings shape their inputs).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from streamguard.data.records import read_records, write_records
from streamguard.evaluation.generalization import evaluate_scores, length_score, load_corpus
from streamguard.models.scorer import Scorer
from streamguard.params import load_params

DEVIGN_PROJECTS = ("FFmpeg", "qemu")
SHOWN = ("roc_auc", "pr_auc", "pairwise_accuracy", "tied", "retro_recall_top1pct", "roc_auc_minus_length")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--models", type=Path, required=True, help="a models folder with fusion/ (scan --model-dir)")
    ap.add_argument("--graphs", type=Path, required=True, help="the graphs folder the GNN trained on (its vocab)")
    ap.add_argument("--params", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--lopo", type=Path, help="a generalize details file to show beside")
    ap.add_argument("--batch", type=int, default=256)
    args = ap.parse_args()
    params = load_params(args.params)

    records = [r for r in read_records(args.corpus) if r.project not in DEVIGN_PROJECTS]
    with tempfile.TemporaryDirectory() as tmp:
        unseen_path = Path(tmp) / "unseen.jsonl"
        write_records(unseen_path, records)
        corpus = load_corpus(unseen_path, params)
    print(f"{len(records)} records of {len(set(corpus.project))} projects Devign does not hold", flush=True)

    scorer = Scorer(args.models, args.graphs, params)
    started = time.perf_counter()
    rows: list[dict] = []
    for start in range(0, len(records), args.batch):
        batch = [replace(r) for r in records[start : start + args.batch]]  # the scorer trims in place
        rows.extend(scorer.score(batch))
        print(f"scored {len(rows)}/{len(records)} in {time.perf_counter() - started:.0f} s", flush=True)
    scores = {m: np.array([row["probabilities"][m] for row in rows]) for m in scorer.models}
    scores["fusion"] = np.array([row["fused_probability"] for row in rows])
    thresholds = {m: 0.5 for m in scorer.models} | {"fusion": scorer.threshold, "length": 0.5, "random": 0.5}

    per_project: dict[str, dict] = {}
    held: list[tuple[np.ndarray, dict[str, np.ndarray]]] = []
    for project in sorted(set(corpus.project.tolist())):
        index = np.flatnonzero(corpus.project == project)
        project_scores = {name: s[index] for name, s in scores.items()}
        project_scores["length"] = length_score(corpus.length[index])
        rng = np.random.default_rng([params.seed, len(index), sum(map(ord, project))])
        project_scores["random"] = rng.random(len(index))
        per_project[project] = evaluate_scores(corpus, index, project_scores, thresholds, params)
        held.append((index, project_scores))
    index = np.concatenate([i for i, _ in held])
    pooled_scores = {name: np.concatenate([s[name] for _, s in held]) for name in held[0][1]}
    pooled = evaluate_scores(corpus, index, pooled_scores, thresholds, params)
    for name in pooled:
        pooled[name]["macro_roc_auc"] = float(np.nanmean([per_project[p][name]["roc_auc"] for p in per_project]))

    lopo = json.loads(args.lopo.read_text())["per_project"] if args.lopo else {}
    result = {
        "models_dir": str(args.models),
        "corpus": str(args.corpus),
        "scoring_seconds": round(time.perf_counter() - started, 1),
        "thresholds": thresholds,
        "pooled": pooled,
        "per_project": per_project,
    }
    args.out.write_text(json.dumps(result, indent=1, default=float))

    names = [*scorer.models, "fusion", "length", "random"]
    print("\nROC-AUC / pairwise accuracy per project (Devign-trained models; lopo = lexical_metrics held out)")
    print("project".ljust(12) + "".join(n.rjust(14) for n in [*names, "lopo"]))
    for project, row in per_project.items():
        cells = [_cell(row[n]) for n in names]
        lopo_row = lopo.get(project, {}).get("models", {}).get("lexical_metrics", {})
        cells.append(_cell(lopo_row) if lopo_row else "-")
        print(project.ljust(12) + "".join(c.rjust(14) for c in cells))
    print("pooled".ljust(12) + "".join(_cell(pooled[n]).rjust(14) for n in names))
    print("macro ROC".ljust(12) + "".join(f"{pooled[n]['macro_roc_auc']:.3f}".rjust(14) for n in names))
    for name in names[:-2]:
        row = pooled[name]
        print(
            f"{name}: pooled ROC-AUC {row['roc_auc']:.3f} [{row['roc_auc_ci_low']:.3f}, {row['roc_auc_ci_high']:.3f}], "
            f"minus length {row.get('roc_auc_minus_length', float('nan')):+.3f} (p={row.get('vs_length_p_value', float('nan')):.3g}), "
            f"pairwise {row.get('pairwise_accuracy', float('nan')):.3f}"
        )
    print(f"wrote {args.out}", file=sys.stderr)


def _cell(row: dict) -> str:
    roc = row.get("roc_auc")
    pair = row.get("pairwise_accuracy")
    return f"{roc:.2f}" + (f" / {pair:.2f}" if pair is not None else "") if roc is not None else "-"


if __name__ == "__main__":
    main()
