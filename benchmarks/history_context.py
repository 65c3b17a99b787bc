"""A repository's history as a lever on leave-one-project-out generalization: do process metrics help?

`scan` of a git checkout could read more than the code: how often each file changed, by how many
people, how long ago, and how often earlier security fixes touched it or the function itself. Defect
prediction has long found such process metrics stronger than code metrics. This benchmark measures
them on the leave-project-out protocol, for the functions that have a history: each mined
repository's snapshot tree (the retro-scan set). Every figure is read from the history *before* the
snapshot commit, the history a user scanning that commit would have had; the labels come from fixes
after it.

Per snapshot function (`git log SNAPSHOT -- FILE`, merges left out):
- the file's commits, distinct authors, age and days since its last change at the snapshot;
- earlier security fixes of the file: its commits whose message matches `collect.git_patterns`, the
  miner's own rule;
- earlier security fixes of the function: mined fix pairs (the corpus's `git` rows) from commits
  before the snapshot whose vulnerable side has this function's file and name.
Rows without a history (mined pair sides, PairVul, Devign) get zeros and `has_history` 0.

Variants, each through the same protocol as the baseline, in one process:
- history: the code metrics gain the history columns (code_metrics and lexical_metrics change);
- history_only: the code metrics are replaced by log(length) and the history columns.

    python benchmarks/history_context.py --corpus CORPUS.jsonl --repos /tmp/repos --params PARAMS.yaml \
        --out benchmarks/results/generalization-levers-history.json
"""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from lever_runs import lever_runs, protocol_arguments

from streamguard.data.collectors.git_miner import run_git
from streamguard.data.generalization_corpus import function_name, origin_path
from streamguard.data.records import Record, read_records
from streamguard.evaluation.generalization import Corpus, load_corpus, versus_length
from streamguard.metrics import roc_auc_rows
from streamguard.params import Params, load_params

HISTORY_COLUMNS = (
    "has_history",
    "log_file_commits",
    "log_file_authors",
    "log_file_age_days",
    "log_days_since_file_change",
    "log_file_prior_fixes",
    "log_function_prior_fixes",
)
VARIANTS = ("baseline", "history", "history_only")
DAY = 86400.0


@dataclass
class FileHistory:
    commits: int = 0
    authors: set[str] = field(default_factory=set)
    first: float = float("inf")
    last: float = 0.0
    fixes: int = 0


def file_histories(repo: Path, snapshot: str, patterns: list[re.Pattern[str]]) -> tuple[dict[str, FileHistory], float]:
    """Every file's history up to and including `snapshot` (non-merge commits), and the snapshot's date."""
    log = run_git(repo, "log", "--no-merges", "--format=%x1e%H%x1f%ae%x1f%ct%x1f%B%x1d", "--name-only", snapshot)
    files: dict[str, FileHistory] = defaultdict(FileHistory)
    for entry in log.decode("utf-8", "replace").split("\x1e"):
        if "\x1d" not in entry:
            continue
        header, names = entry.split("\x1d", 1)
        _sha, author, stamp, message = header.split("\x1f", 3)
        when = float(stamp)
        is_fix = any(p.search(message) for p in patterns)
        for path in filter(None, (line.strip() for line in names.splitlines())):
            h = files[path]
            h.commits += 1
            h.authors.add(author.lower())
            h.first, h.last = min(h.first, when), max(h.last, when)
            h.fixes += is_fix
    date = float(run_git(repo, "log", "-1", "--format=%ct", snapshot).decode().strip())
    return files, date


def history_matrix(records: list[Record], repos: Path, params: Params) -> tuple[np.ndarray, dict]:
    """HISTORY_COLUMNS per record; zeros where a record has no history (not a snapshot row)."""
    patterns = [re.compile(p, re.I) for p in params.collect.git_patterns]
    out = np.zeros((len(records), len(HISTORY_COLUMNS)))
    report: dict[str, dict] = {}
    by_project: dict[str, list[int]] = defaultdict(list)
    for i, r in enumerate(records):
        if r.source == "snapshot":
            by_project[r.project].append(i)
    for project, rows in sorted(by_project.items()):
        repo = repos / project
        snapshot = str(records[rows[0]].commit)
        earlier = set(run_git(repo, "rev-list", snapshot).decode().split())
        files, date = file_histories(repo, snapshot, patterns)
        fixed_functions: dict[tuple[str, str], set[str]] = defaultdict(set)
        for r in records:
            if r.project == project and r.source == "git" and r.target == 1 and r.commit in earlier:
                path = origin_path(r.origin)
                name = function_name(r.func)
                if path and name:
                    fixed_functions[(path, name)].add(str(r.commit))
        found = 0
        for i in rows:
            path = origin_path(records[i].origin)
            if path is None or path not in files:
                continue
            h = files[path]
            found += 1
            name = function_name(records[i].func) or ""
            out[i] = [
                1.0,
                np.log1p(h.commits),
                np.log1p(len(h.authors)),
                np.log1p(max(0.0, date - h.first) / DAY),
                np.log1p(max(0.0, date - h.last) / DAY),
                np.log1p(h.fixes),
                np.log1p(len(fixed_functions.get((path, name), ()))),
            ]
        y = np.array([records[i].target for i in rows])
        with_history = out[rows]
        report[project] = {
            "snapshot": snapshot,
            "functions": len(rows),
            "with_history": found,
            "earlier_fixed_functions": len(fixed_functions),
            "vulnerable_with_prior_function_fix": int(((with_history[:, 6] > 0) & (y == 1)).sum()),
            "benign_with_prior_function_fix": int(((with_history[:, 6] > 0) & (y == 0)).sum()),
            "vulnerable": int(y.sum()),
        }
        print(f"history: {project} {json.dumps(report[project])}", flush=True)
    return out, report


def with_history(corpus: Corpus, history: np.ndarray, variant: str) -> Corpus:
    if variant == "baseline":
        return corpus
    if variant == "history":
        return dataclasses.replace(corpus, metrics=np.column_stack([corpus.metrics, history]))
    return dataclasses.replace(corpus, metrics=np.column_stack([np.log1p(corpus.length), history]))


def univariate(corpus: Corpus, history: np.ndarray) -> dict[str, dict[str, float]]:
    """Per snapshot project, the ROC-AUC of each history column alone (ties broken by length), and of length."""
    out: dict[str, dict[str, float]] = {}
    for project in sorted(set(corpus.project[corpus.source == "snapshot"].tolist())):
        rows = (corpus.project == project) & (corpus.source == "snapshot")
        y, length = corpus.y[rows], corpus.length[rows]
        tiebreak = 1e-9 * length / max(float(length.max()), 1.0)
        out[project] = {
            column: float(roc_auc_rows(y, history[rows, j] + tiebreak))
            for j, column in enumerate(HISTORY_COLUMNS)
            if j > 0
        }
        out[project]["length"] = float(roc_auc_rows(y, length))
    names = list(next(iter(out.values()))) if out else []
    out["mean"] = {name: float(np.mean([row[name] for row in out.values()])) for name in names}
    return out


def main() -> None:
    ap = protocol_arguments(__doc__.splitlines()[0])
    ap.add_argument("--repos", type=Path, required=True, help="a folder of clones named as the corpus's projects")
    ap.add_argument("--variant", action="append", choices=VARIANTS, default=[])
    args = ap.parse_args()
    params = load_params(args.params)
    started = time.perf_counter()
    corpus = load_corpus(args.corpus, params, args.code_metrics)
    records = list(read_records(args.corpus))
    history, coverage = history_matrix(records, args.repos, params)
    print(f"corpus: {len(records)} functions, histories read in {time.perf_counter() - started:.0f} s", flush=True)
    results: dict = {
        "coverage": coverage,
        "columns": list(HISTORY_COLUMNS),
        "univariate_roc_auc": univariate(corpus, history),
    }
    for project, row in results["univariate_roc_auc"].items():
        print(f"  {project:12s} " + "  ".join(f"{c} {v:.2f}" for c, v in row.items()), flush=True)
    variants = args.variant or list(VARIANTS)
    for run in lever_runs(lambda v: with_history(corpus, history, v), variants, params, where=str(args.corpus)):
        # on the snapshots (the trees with a history), every model against the length rule too
        snapshots = corpus.source[run.result.pooled_index] == "snapshot"
        y = corpus.y[run.result.pooled_index][snapshots]
        length = run.result.pooled_scores["length"][snapshots]
        run.versus["snapshots_minus_length"] = {
            name: versus_length(y, score[snapshots], length, params)
            for name, score in run.result.pooled_scores.items()
            if name != "length"
        }
        details = run.result.details()
        retro = {
            name: float(
                np.mean(
                    [
                        details["per_project"][p]["models"][name]["retro_recall_top1pct"]
                        for p in coverage
                        if p in details["per_project"]
                        and "retro_recall_top1pct" in (details["per_project"][p]["models"][name] or {})
                    ]
                )
            )
            for name in run.result.pooled_scores
        }
        results[run.variant] = {**run.record(), "mean_retro_recall_top1pct_over_repositories": retro}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print("\n".join(run.lines()), flush=True)
        print("  retro top 1 %, mean of repositories: " + "  ".join(f"{n} {v:.3f}" for n, v in retro.items()))


if __name__ == "__main__":
    main()
