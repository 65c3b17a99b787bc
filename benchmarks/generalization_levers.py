"""Leave-one-project-out under several settings, the corpus loaded once: which lever moves generalization?

    python benchmarks/generalization_levers.py --corpus data/generalize/corpus.jsonl \\
        --params params.yaml --out benchmarks/results/generalization-levers.json \\
        --lever baseline --lever generalize.pair_training=functions \\
        --lever generalize.weighting=records --lever 'generalize.train_sources=[git,pairvul,snapshot]'

Each `--lever` is `NAME` (params as given) or `KEY=VALUE[,KEY=VALUE...]` (a YAML value, dotted key),
applied on top of --params. The corpus (its code metrics and n-gram counts) is loaded once, and again
only where a lever changes what loading reads (corpus_settings). Prints each lever's pooled figures as
it finishes and writes every lever's pooled and per-project figures to --out (rewritten after each lever, so a stopped run keeps what it did).
Where a lever named `baseline` ran first, every later lever also gets `versus_baseline`: per model both ran, its
pooled ROC-AUC minus the baseline's on the same functions, with the paired bootstrap CI and p-value.
The lexical model is remembered across levers that fit it on the same counts, labels, weights, pairs
and settings (it is deterministic), so a lever that changes only another model does not refit it.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import time
from pathlib import Path

import numpy as np
import yaml

from streamguard.evaluation.generalization import (
    REFERENCE_RULES,
    Corpus,
    Generalization,
    leave_one_project_out,
    load_corpus,
    summary_line,
    versus_length,
)
from streamguard.models.hashed_lexical import HashedLexicalModel
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


def remember_lexical_fits() -> None:
    """HashedLexicalModel.fit, remembered: the same counts, labels, weights, pairs and settings, the same model."""
    fit = HashedLexicalModel.fit
    memory: dict[str, HashedLexicalModel] = {}

    def fit_once(self, counts, labels, weights, pairs=None, project=None):
        key = hashlib.sha256(repr((self.config, self.seed)).encode())
        for part in (counts.indptr, counts.indices, counts.data, labels, weights, *(pairs or ())):
            key.update(np.ascontiguousarray(part).tobytes())
        if project is not None:
            key.update("\0".join(project.tolist()).encode())
        if key.hexdigest() not in memory:
            memory[key.hexdigest()] = fit(self, counts, labels, weights, pairs, project)
        return memory[key.hexdigest()]

    HashedLexicalModel.fit = fit_once  # type: ignore[method-assign]


def versus_baseline(
    corpus: Corpus, result: Generalization, baseline: dict[str, np.ndarray], params: Params
) -> dict[str, dict[str, float]]:
    """Pooled ROC-AUC minus the baseline's, per model both scored, over the headline's functions: paired bootstrap."""
    functions = corpus.function_set[result.pooled_index]
    y = corpus.y[result.pooled_index][functions]
    out = {}
    for name, score in result.pooled_scores.items():
        if name in baseline and name not in REFERENCE_RULES:
            paired = versus_length(y, score[functions], baseline[name][functions], params)
            out[name] = {("roc_auc_minus_baseline" if k == "roc_auc_minus_length" else k): v for k, v in paired.items()}
    return out


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
    remember_lexical_fits()
    results: dict[str, dict] = {}
    baseline: dict[str, np.ndarray] = {}
    for lever in levers:
        params = params_from_dict(with_overrides(base, lever))
        if corpus is None or corpus_settings(params) != loaded_for:
            started = time.perf_counter()
            corpus, loaded_for = load_corpus(args.corpus, params), corpus_settings(params)
            print(f"corpus: {len(corpus.y)} functions loaded in {time.perf_counter() - started:.0f} s", flush=True)
        t0 = time.perf_counter()
        result = leave_one_project_out(corpus, params, lambda m: print(m, flush=True), where=str(args.corpus))
        seconds = time.perf_counter() - t0
        results[lever] = {"seconds": round(seconds, 1), **result.details()}
        if lever == "baseline" and len(results) == 1:
            baseline = result.pooled_scores
        elif baseline:
            results[lever]["versus_baseline"] = versus_baseline(corpus, result, baseline, params)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print(f"== {lever} ({seconds:.0f} s)", flush=True)
        for name, row in result.pooled.items():
            print("  " + summary_line(name, row), flush=True)
        for name, row in results[lever].get("versus_baseline", {}).items():
            print(
                f"  {name} minus baseline: {row['roc_auc_minus_baseline']:+.4f} "
                f"[{row['ci_low']:+.4f}, {row['ci_high']:+.4f}], p={row['p_value']:.3g}",
                flush=True,
            )


if __name__ == "__main__":
    main()
