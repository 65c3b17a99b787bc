"""What the generalization lever benchmarks share: their command line, the protocol run on a
baseline and on each variant of it, and the held-out pairs.

Each variant scores the same records in the same order, so every model's pooled scores pair up
with the baseline's.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from streamguard.data.pairs import find_pairs
from streamguard.evaluation.generalization import (
    PAIR_SOURCES,
    REFERENCE_RULES,
    Corpus,
    Generalization,
    leave_one_project_out,
    summary_line,
    versus_length,
)
from streamguard.metrics import roc_auc_rows
from streamguard.params import Params


def protocol_arguments(description: str) -> argparse.ArgumentParser:
    """A parser with the arguments every lever benchmark takes; add a script's own to it."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--code-metrics", type=Path, help="the generalize_corpus stage's code_metrics.npz")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--out", type=Path, required=True)
    return ap


def held_out_pairs(corpus: Corpus, result: Generalization) -> tuple[np.ndarray, np.ndarray]:
    """Positions in result.pooled_index of each held-out pair's vulnerable and fixed side."""
    index = result.pooled_index
    in_pairs = np.flatnonzero(np.isin(corpus.source[index], PAIR_SOURCES))
    found = find_pairs([corpus.pair[index[i]] for i in in_pairs], corpus.y[index][in_pairs])
    return in_pairs[found.vulnerable], in_pairs[found.fixed]


def versus_baseline(
    corpus: Corpus, result: Generalization, baseline: dict[str, np.ndarray] | None, params: Params
) -> tuple[dict[str, dict[str, dict[str, float]]], dict[str, float]]:
    """A lever's run against the same models' `baseline` scores (same records, same order): pooled
    ROC-AUC minus the baseline's, paired, over the headline's functions and over the snapshots alone
    (whole trees, what `scan` sees); and every model's ROC-AUC on the snapshots alone."""
    pools = {
        "functions": corpus.function_set[result.pooled_index],
        "snapshots": corpus.source[result.pooled_index] == "snapshot",
    }
    versus: dict[str, dict[str, dict[str, float]]] = {}
    snapshot_roc_auc: dict[str, float] = {}
    for pool, mask in pools.items():
        y = corpus.y[result.pooled_index][mask]
        for name, score in result.pooled_scores.items():
            if pool == "snapshots":
                snapshot_roc_auc[name] = float(roc_auc_rows(y, score[mask]))
            if baseline is not None and name in baseline and name not in REFERENCE_RULES:
                versus.setdefault(pool, {})[name] = versus_length(y, score[mask], baseline[name][mask], params)
    return versus, snapshot_roc_auc


@dataclass
class LeverRun:
    variant: str
    result: Generalization
    seconds: float
    versus: dict[str, dict[str, dict[str, float]]]  # pool -> model -> ROC-AUC minus the baseline's, paired
    snapshot_roc_auc: dict[str, float]

    def record(self) -> dict:
        """What the benchmark's JSON keeps of this variant."""
        return {
            "seconds": round(self.seconds, 1),
            "versus_baseline": self.versus,
            "snapshot_roc_auc": self.snapshot_roc_auc,
            **self.result.details(),
        }

    def lines(self) -> list[str]:
        """A person's summary: pooled figures, the snapshots alone, and every paired difference."""
        out = [f"== {self.variant} ({self.seconds:.0f} s)"]
        out += ["  " + summary_line(name, row) for name, row in self.result.pooled.items()]
        out.append("  snapshots only: " + "  ".join(f"{n} {v:.3f}" for n, v in self.snapshot_roc_auc.items()))
        for pool, rows in self.versus.items():
            for name, row in rows.items():
                out.append(
                    f"  {pool}: {name} minus baseline: {row['roc_auc_minus_length']:+.3f} "
                    f"[{row['ci_low']:+.3f}, {row['ci_high']:+.3f}], p={row['p_value']:.3f}"
                )
        return out


def lever_runs(prepare: Callable[[str], Corpus], variants: list[str], params: Params, where: str) -> Iterator[LeverRun]:
    """The protocol for "baseline", then for each other variant; prepare(variant) sets the variant
    up and returns the corpus its models read."""
    baseline = None
    for variant in ["baseline", *[v for v in variants if v != "baseline"]]:
        corpus = prepare(variant)
        started = time.perf_counter()
        result = leave_one_project_out(corpus, params, lambda m: print(m, flush=True), where=where)
        seconds = time.perf_counter() - started
        versus, snapshot_roc_auc = versus_baseline(corpus, result, baseline, params)
        if baseline is None:
            baseline = result.pooled_scores
        yield LeverRun(variant, result, seconds, versus, snapshot_roc_auc)
