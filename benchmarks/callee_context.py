"""Calling context as a lever on leave-one-project-out generalization: do a function's callees help?

A function's callees are the functions it calls that its own project defines (the tree `scan`
sees). They are found by name among the corpus records of the same project: a mined project's
snapshot holds its whole tree, Devign and PairVul hold what they hold. One definition per name,
preferring snapshot, then Devign, PairVul and mined pair sides. No label crosses: a callee lends
its text or its metrics, never its target.

Variants, each evaluated with the same protocol and corpus as the baseline:
- callee_text: the lexical model sees the callees' hashed n-grams in columns of their own;
- callee_metrics: code metrics gain the number of callees and their mean metrics;
- both.

    python benchmarks/callee_context.py --corpus CORPUS.jsonl --params PARAMS.yaml \
        --out benchmarks/results/generalization-levers-callees.json
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import Counter

import numpy as np
from lever_runs import lever_runs, protocol_arguments
from scipy import sparse

from streamguard.data.records import read_records
from streamguard.evaluation.generalization import Corpus, load_corpus
from streamguard.params import load_params

KEYWORDS = frozenset(
    "if for while switch return sizeof do else case goto typeof __typeof__ defined alignof _Alignof "
    "__attribute__ __builtin_expect".split()
)
CALL = re.compile(r"\b([A-Za-z_]\w*)\s*\(")
SOURCE_PREFERENCE = {"snapshot": 0, "devign": 1, "pairvul": 2, "git": 3}
VARIANTS = ("baseline", "callee_text", "callee_metrics", "both")


def defined_name(func: str) -> str | None:
    """The name a function definition defines: the first call-like name of its header."""
    header = func.split("{", 1)[0]
    return next((name for name in CALL.findall(header) if name not in KEYWORDS), None)


def called_names(func: str) -> set[str]:
    body = func.split("{", 1)[1] if "{" in func else ""
    return {name for name in CALL.findall(body) if name not in KEYWORDS}


def callee_matrix(funcs: list[str], project: np.ndarray, source: np.ndarray) -> sparse.csr_matrix:
    """(n, n) 0/1: row i marks the records that define the functions record i calls, in its project."""
    names = [defined_name(f) for f in funcs]
    definition: dict[tuple[str, str], int] = {}
    for i in sorted(range(len(funcs)), key=lambda i: (SOURCE_PREFERENCE.get(str(source[i]), 9), i)):
        if names[i] is not None:
            definition.setdefault((str(project[i]), names[i]), i)
    rows, cols = [], []
    for i, func in enumerate(funcs):
        for name in sorted(called_names(func) - {names[i]}):
            j = definition.get((str(project[i]), name))
            if j is not None and j != i:
                rows.append(i)
                cols.append(j)
    data = np.ones(len(rows), dtype=np.float32)
    return sparse.csr_matrix((data, (rows, cols)), shape=(len(funcs), len(funcs)))


def with_callees(corpus: Corpus, callees: sparse.csr_matrix, variant: str) -> Corpus:
    if variant == "baseline":
        return corpus
    counts, metrics = corpus.counts, corpus.metrics
    if variant in ("callee_text", "both"):
        # the callees' n-grams in columns of their own, so a function's own tokens keep their weights
        counts = sparse.hstack([counts, (callees @ counts).astype(np.float32)]).tocsr()
    if variant in ("callee_metrics", "both"):
        n = np.asarray(callees.sum(axis=1)).ravel()
        mean = (callees @ corpus.metrics) / np.maximum(n, 1)[:, None]
        metrics = np.column_stack([metrics, np.log1p(n), mean])
    return dataclasses.replace(corpus, counts=counts, metrics=metrics)


def main() -> None:
    ap = protocol_arguments(__doc__.splitlines()[0])
    ap.add_argument("--variant", action="append", choices=VARIANTS, default=[])
    args = ap.parse_args()
    params = load_params(args.params)
    started = time.perf_counter()
    corpus = load_corpus(args.corpus, params, args.code_metrics)
    funcs = [r.func for r in read_records(args.corpus)]
    callees = callee_matrix(funcs, corpus.project, corpus.source)
    print(f"corpus: {len(funcs)} functions, callees found in {time.perf_counter() - started:.0f} s", flush=True)
    has = np.asarray(callees.sum(axis=1)).ravel() > 0
    coverage = {
        str(s): {"records": int((corpus.source == s).sum()), "with_callees": int((has & (corpus.source == s)).sum())}
        for s in np.unique(corpus.source)
    }
    per_record = Counter(np.asarray(callees.sum(axis=1)).ravel().astype(int).tolist())
    results: dict = {"coverage": coverage, "callees_per_record": dict(sorted(per_record.items())[:20])}
    print(json.dumps(coverage), flush=True)
    variants = args.variant or list(VARIANTS)
    for run in lever_runs(lambda v: with_callees(corpus, callees, v), variants, params, where=str(args.corpus)):
        results[run.variant] = run.record()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print("\n".join(run.lines()), flush=True)


if __name__ == "__main__":
    main()
