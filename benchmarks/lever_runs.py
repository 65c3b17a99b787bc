"""Run the leave-project-out protocol on a baseline corpus and on each lever's variant of it.

Shared by the lever benchmarks that change what the models read (callee_context.py,
history_context.py): each variant is the same records in the same order, so every model's pooled
scores pair up with the baseline's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from streamguard.evaluation.generalization import (
    Corpus,
    Generalization,
    leave_one_project_out,
    summary_line,
    versus_baseline,
)
from streamguard.params import Params


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


def lever_runs(
    corpus_of: Callable[[str], Corpus], variants: list[str], params: Params, where: str
) -> Iterator[LeverRun]:
    """The protocol on corpus_of("baseline"), then on corpus_of(variant) for each other variant."""
    baseline = None
    for variant in ["baseline", *[v for v in variants if v != "baseline"]]:
        corpus = corpus_of(variant)
        started = time.perf_counter()
        result = leave_one_project_out(corpus, params, lambda m: print(m, flush=True), where=where)
        seconds = time.perf_counter() - started
        versus, snapshot_roc_auc = versus_baseline(corpus, result, baseline, params)
        if baseline is None:
            baseline = result.pooled_scores
        yield LeverRun(variant, result, seconds, versus, snapshot_roc_auc)
