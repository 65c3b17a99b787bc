"""Score held-out vulnerable/fixed pairs with trained models: can a model tell a function from its fix?

    python benchmarks/pairs_eval.py --pairs data/collected/git.jsonl \\
        --model lexical=models/lexical --model transformer=models/transformer [--graphs data/graphs] \\
        [--params params.yaml] [--max-windows N] [--json OUT]
    python benchmarks/pairs_eval.py --pairs heldout/git.jsonl --models models [--graphs data/graphs] ...

A benchmark, not a stage: it prints figures. Each `--model KIND=FOLDER` is one trained
base model (a folder `streamguard train` wrote); its decision threshold is chosen on the
valid predictions in that folder (`fusion.threshold_rule`), exactly as `evaluate` does.
`--models FOLDER` scores a whole models folder instead, as `streamguard predict` does
(streamguard.models.scorer.Scorer): every base model the fusion uses, and the fusion itself at
its validated threshold from `fusion/fusion.json`.
The pairs file holds records with `pair` ids (the git collector's output): every pair
with one vulnerable and one fixed function is scored. Functions are trimmed as
`preprocess` trims them. Reports PrimeVul's P-C/P-V/P-B/P-R, pairwise ranking accuracy,
ties and VD-S with paired bootstrap CIs (evaluation/pairs.py). `--max-windows` reads
functions with more transformer windows than the model was trained with (its pooling
does not depend on the count; the threshold still comes from its saved valid predictions).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from streamguard.data.pairs import find_pairs
from streamguard.data.records import read_records
from streamguard.data.trim import trim_to_budget
from streamguard.evaluation.pairs import pair_metrics
from streamguard.evaluation.report import choose_model_threshold
from streamguard.io.predictions import read_predictions
from streamguard.models.branches import load_branch
from streamguard.params import load_params

SHOWN = ("pairwise_accuracy", "tied", "p_c", "p_v", "p_b", "p_r", "vd_s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pairs", type=Path, required=True)
    ap.add_argument("--model", action="append", default=[], metavar="KIND=FOLDER")
    ap.add_argument("--models", type=Path, default=None, help="a models folder: its base models and the fusion")
    ap.add_argument("--graphs", type=Path, default=Path("data/graphs"))
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--max-windows", type=int, default=0, help="transformer windows at scoring; 0 = as trained")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    if not args.model and args.models is None:
        ap.error("give --model KIND=FOLDER (one or more) or --models FOLDER")
    params = load_params(args.params)
    records = [r for r in read_records(args.pairs) if r.pair]
    for rec in records:
        rec.func = trim_to_budget(rec.func, params.data.max_chars).text
    y = np.array([r.target for r in records], dtype=np.int8)
    pairs = find_pairs([r.pair for r in records], y)
    result: dict = {"pairs_file": str(args.pairs), "functions": len(records), "models": {}}

    def threshold_of(model: str, folder: Path) -> float:
        # evaluate's rule: chosen on the folder's valid predictions (a seed ensemble's are its runs' mean)
        predictions = read_predictions(folder / "predictions.jsonl", model)
        return choose_model_threshold(predictions, folder.parent, params.fusion.threshold_rule)

    def report(spec: str, prob: np.ndarray, threshold: float, started: float) -> None:
        metrics = pair_metrics(
            y,
            prob,
            threshold,
            pairs,
            params.evaluate.bootstrap_resamples,
            params.evaluate.confidence_level,
            params.evaluate.seed,
        )
        metrics["seconds"] = round(time.perf_counter() - started, 1)
        metrics["threshold"] = threshold
        result["models"][spec] = metrics
        print(f"{spec}: {metrics['n_pairs']} pairs, threshold {threshold:.3f}, {metrics['seconds']} s")
        for key in SHOWN:
            if key in metrics:
                print(
                    f"  {key:<18} {metrics[key]:.3f} [{metrics[f'{key}_ci_low']:.3f}, {metrics[f'{key}_ci_high']:.3f}]"
                )

    for spec in args.model:
        kind, _, folder = spec.partition("=")
        started = time.perf_counter()
        branch = load_branch(kind, params, Path(folder), args.graphs)
        if kind == "transformer" and args.max_windows:
            branch.max_windows = args.max_windows
        if kind == "gnn":
            from streamguard.graphs.build import graph_for_function, load_vocab

            vocab = load_vocab(args.graphs)
            items = [graph_for_function(r.func, vocab, params.graph) for r in records]
        else:
            items = records
        prob = np.asarray(branch.predict(items), dtype=float)
        report(spec, prob, threshold_of(kind, Path(folder)), started)
    if args.models is not None:
        from streamguard.models.scorer import Scorer

        started = time.perf_counter()
        scorer = Scorer(args.models, args.graphs, params)
        if args.max_windows:
            for member in scorer.members.get("transformer", []):
                member.max_windows = args.max_windows
        rows = scorer.score(records)
        for model in scorer.models:
            prob = np.array([row["probabilities"][model] for row in rows])
            report(f"{model}={args.models / model}", prob, threshold_of(model, args.models / model), started)
        fused = np.array([row["fused_probability"] for row in rows])
        report(f"fusion={args.models / 'fusion'}", fused, scorer.threshold, started)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
