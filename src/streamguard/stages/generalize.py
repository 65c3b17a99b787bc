"""The `generalize` stage: leave-one-project-out evaluation against the length rule and random order.

The method is evaluation/generalization.py's; this module loads the corpus,
runs it and writes the headline metrics (one JSON per model), the per-project
details and the plot data.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

from streamguard.evaluation.curves import roc_rows, write_csv
from streamguard.evaluation.generalization import (
    Corpus,
    Generalization,
    leave_one_project_out,
    load_corpus,
    summary_line,
)
from streamguard.params import Params, load_params


def run_generalize(
    params: Params,
    corpus_path: Path,
    metrics_dir: Path,
    details_path: Path,
    plots_dir: Path,
    progress: Callable[[str], None] | None = None,
    code_metrics: Path | None = None,
) -> Generalization:
    progress = progress or _say
    started = time.perf_counter()
    corpus = load_corpus(corpus_path, params, code_metrics)
    progress(
        f"generalize: {len(corpus.y)} functions, features and n-gram counts in {time.perf_counter() - started:.0f} s"
    )
    result = leave_one_project_out(corpus, params, progress, where=str(corpus_path))
    metrics_dir.mkdir(parents=True, exist_ok=True)
    for stale in metrics_dir.glob("*.json"):
        stale.unlink()  # a model measured earlier, absent now
    for name, row in result.headline().items():
        (metrics_dir / f"{name}.json").write_text(json.dumps(row, indent=2, sort_keys=True) + "\n")
    details_path.parent.mkdir(parents=True, exist_ok=True)
    details_path.write_text(json.dumps(result.details(), indent=2, sort_keys=True) + "\n")
    _write_plots(plots_dir, corpus, result)
    progress(f"generalize: leave-one-project-out over {len(result.projects)} projects (pooled, 95% CIs)")
    for name, row in result.pooled.items():
        progress("  " + summary_line(name, row))
    return result


def _say(message: str) -> None:
    print(message, flush=True)  # a line per project, also when stdout is a log file


def _write_plots(plots_dir: Path, corpus: Corpus, result: Generalization) -> None:
    functions = corpus.function_set[result.pooled_index]
    y = corpus.y[result.pooled_index][functions]
    for name, scores in result.pooled_scores.items():
        write_csv(plots_dir / "roc" / f"{name}.csv", ("fpr", "tpr"), roc_rows(y, scores[functions]))
    by_project = [
        {
            "project": project,
            "model": name,
            "roc_auc": row.get("roc_auc", ""),
            "pairwise_accuracy": row.get("pairwise_accuracy", ""),
        }
        for project in result.projects
        for name, row in result.per_project[project]["models"].items()
    ]
    write_csv(plots_dir / "by_project.csv", ("project", "model", "roc_auc", "pairwise_accuracy"), by_project)


def main(args: argparse.Namespace) -> None:
    run_generalize(
        load_params(args.params),
        Path(args.corpus),
        Path(args.metrics),
        Path(args.details),
        Path(args.plots),
        code_metrics=args.code_metrics,
    )
