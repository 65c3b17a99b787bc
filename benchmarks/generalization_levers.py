"""Leave-one-project-out under several settings, the corpus loaded once: which lever moves generalization?

    python benchmarks/generalization_levers.py --corpus data/generalize/corpus.jsonl \\
        --params params.yaml --out benchmarks/results/generalization-levers.json \\
        --lever baseline --lever generalize.pair_training=functions \\
        --lever generalize.weighting=records --lever 'generalize.train_sources=[git,pairvul,snapshot]'

Each `--lever` is `NAME` (params as given) or `KEY=VALUE[,KEY=VALUE...]` (a YAML value, dotted key),
applied on top of --params. The corpus (its code metrics and n-gram counts) is loaded once, and again
only where a lever changes what loading reads (corpus_settings). Prints each lever's pooled figures as
it finishes and writes every lever's pooled and per-project figures to --out (rewritten after each lever, so a stopped run keeps what it did).
The lexical model's scores are remembered across levers that fit it on the same rows, weights, pairs
and settings (it is deterministic), so a lever that changes only another model does not refit it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import yaml

from streamguard.evaluation import generalization
from streamguard.evaluation.generalization import leave_one_project_out, load_corpus, summary_line
from streamguard.params import Params, load_params, params_from_dict


def with_overrides(base: dict, lever: str) -> dict:
    raw = json.loads(json.dumps(base))
    if "=" not in lever:
        return raw
    for assignment in lever.split(";"):
        key, value = assignment.split("=", 1)
        *parents, leaf = key.strip().split(".")
        node = raw
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = yaml.safe_load(value)
    return raw


def corpus_settings(params: Params) -> tuple:
    """The settings load_corpus reads: a lever that changes one needs the corpus loaded again."""
    return params.data.max_chars, params.lexical.ngram_max, params.generalize.normalise_literals


def remembered(fit_predict: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """lexical_fit_predict, its scores kept per (rows, weights, pairs, settings) of one loaded corpus."""
    memory: dict[str, np.ndarray] = {}

    def fit_predict_once(corpus, fit_idx, score_idx, weights, pairs, params):
        key = hashlib.sha256(repr((id(corpus), params.seed, params.lexical, params.generalize.min_projects)).encode())
        for part in (fit_idx, score_idx, weights, *(pairs or ())):
            key.update(np.ascontiguousarray(part).tobytes())
        if key.hexdigest() not in memory:
            memory[key.hexdigest()] = fit_predict(corpus, fit_idx, score_idx, weights, pairs, params)
        return memory[key.hexdigest()]

    return fit_predict_once


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--lever", action="append", default=[], help="NAME or KEY=VALUE[;KEY=VALUE]")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    base = dataclasses.asdict(load_params(args.params))
    levers = args.lever or ["baseline"]
    corpus, loaded_for = None, None
    lexical_fit_predict = generalization.lexical_fit_predict
    results: dict[str, dict] = {}
    for lever in levers:
        params = params_from_dict(with_overrides(base, lever))
        if corpus is None or corpus_settings(params) != loaded_for:
            started = time.perf_counter()
            corpus, loaded_for = load_corpus(args.corpus, params), corpus_settings(params)
            generalization.lexical_fit_predict = remembered(lexical_fit_predict)  # forgets the previous corpus
            print(f"corpus: {len(corpus.y)} functions loaded in {time.perf_counter() - started:.0f} s", flush=True)
        t0 = time.perf_counter()
        result = leave_one_project_out(corpus, params, lambda m: print(m, flush=True), where=str(args.corpus))
        seconds = time.perf_counter() - t0
        results[lever] = {"seconds": round(seconds, 1), **result.details()}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print(f"== {lever} ({seconds:.0f} s)", flush=True)
        for name, row in result.pooled.items():
            print("  " + summary_line(name, row), flush=True)


if __name__ == "__main__":
    main()
