"""Retro-scan through `streamguard scan`: what a user of the detector would have got on a repository it never saw.

    python benchmarks/retro_scan.py --corpus data/generalize/corpus.jsonl \\
        --details metrics/generalization_details.json --repos /tmp/repos --params params.yaml \\
        --project jq --project libssh2 ... --out benchmarks/results/retro-scan.json

For each project: a detector is trained on every other project of the corpus
(stages/detector.py, the leave-project-out configuration); the repository
(`--repos/<project>`, a git clone) is checked out at the corpus's snapshot
commit (the parent of its median security fix); `streamguard scan` scores
every function of the tree (`--min-probability 0 --lines 0 --format json`);
the scan's functions are matched to the corpus's labelled snapshot functions
by file and start line (vulnerable = a later security fix changed it;
functions the corpus dropped, e.g. too short, stay unlabelled and out of the
figures). Reported per project and pooled: ROC-AUC, PR-AUC, recall in the top
1 % and top 50, precision in the top 50, for the scan's ranking, the length
rule and random order, with bootstrap CIs, and the scan's ROC-AUC minus the
length rule's with its paired p-value. The corpus is loaded once.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from streamguard.evaluation.generalization import (
    function_level,
    length_score,
    load_corpus,
    retro_level,
    versus_length,
)
from streamguard.params import load_params
from streamguard.stages.detector import build_detector, read_details


def checkout(repo: Path, commit: str, where: Path) -> Path:
    """The tree of `repo` at `commit` in `where` (a detached worktree)."""
    if where.exists():
        subprocess.run(["git", "-C", str(repo), "worktree", "remove", "--force", str(where)], check=False)
    subprocess.run(["git", "-C", str(repo), "worktree", "add", "--detach", str(where), commit], check=True)
    return where


def scan_tree(tree: Path, detector: Path, report: Path) -> dict:
    command = [sys.executable, "-m", "streamguard.cli", "scan", str(tree), "--model-dir", str(detector)]
    command += ["--min-probability", "0", "--lines", "0", "--format", "json", "-o", str(report)]
    started = time.perf_counter()
    subprocess.run(command, check=True)
    found = json.loads(report.read_text())
    found["wall_s"] = round(time.perf_counter() - started, 1)
    return found


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True)
    ap.add_argument("--details", type=Path, required=True)
    ap.add_argument("--repos", type=Path, required=True, help="a folder of git clones, one per project")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--project", action="append", required=True)
    ap.add_argument("--work", type=Path, default=Path("/tmp/retro-scan"))
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    params = load_params(args.params)
    details = read_details(args.details)
    snapshots = json.loads((args.corpus.parent / "report.json").read_text())["snapshots"]
    started = time.perf_counter()
    corpus = load_corpus(args.corpus, params)
    print(f"corpus: {len(corpus.y)} functions in {time.perf_counter() - started:.0f} s", flush=True)
    origins = [json.loads(line).get("origin", "") for line in args.corpus.open()]
    results: dict = {"command": " ".join(sys.argv), "projects": {}}
    pooled: dict[str, list] = {"y": [], "scan": [], "length": [], "random": []}
    for project in args.project:
        commit = snapshots[project]["commit"]
        work = args.work / project
        work.mkdir(parents=True, exist_ok=True)
        card = build_detector(corpus, args.corpus, details, args.details, work / "detector", params, without=project)
        tree = checkout(args.repos / project, commit, work / "tree")
        found = scan_tree(tree, work / "detector", work / "scan.json")
        scores = {(f["file"], f["start_line"]): f["fused_probability"] for f in found["findings"]}
        rows = [
            i
            for i in np.flatnonzero((corpus.project == project) & (corpus.source == "snapshot"))
            if origins[i].startswith(f"{project}@")
        ]
        keys = [(o.split(":", 1)[1].rsplit(":", 1)[0], int(o.rsplit(":", 1)[1])) for o in (origins[i] for i in rows)]
        matched = [(i, scores[k]) for i, k in zip(rows, keys) if k in scores]
        index = np.array([i for i, _ in matched])
        y = corpus.y[index].astype(int)
        scan_score = np.array([s for _, s in matched])
        length = length_score(corpus.length[index])
        rng = np.random.default_rng([params.seed, len(index)])
        random_score = rng.random(len(index))
        row: dict = {
            "snapshot_commit": commit,
            "detector_model": card["model"],
            "detector_threshold": card["threshold"],
            "functions_scanned": found["scan"]["functions_scored"],
            "labelled_functions": len(rows),
            "matched": len(index),
            "vulnerable": int(y.sum()),
            "scan_wall_s": found["wall_s"],
        }
        for name, score in (("scan", scan_score), ("length", length), ("random", random_score)):
            figures = function_level(y, score, card["threshold"] if name == "scan" else 0.5, params)
            figures.update(retro_level(y, score, params))
            if name != "length":
                figures.update(versus_length(y, score, length, params))
            row[name] = figures
        results["projects"][project] = row
        for key, values in (("y", y), ("scan", scan_score), ("length", length), ("random", random_score)):
            pooled[key].append(values)
        print(
            f"{project}: {len(index)}/{len(rows)} labelled functions matched, {int(y.sum())} vulnerable; "
            f"scan ROC-AUC {row['scan'].get('roc_auc', float('nan')):.3f}, length "
            f"{row['length'].get('roc_auc', float('nan')):.3f}, recall top 1 % scan "
            f"{row['scan'].get('retro_recall_top1pct', float('nan')):.3f} / length "
            f"{row['length'].get('retro_recall_top1pct', float('nan')):.3f}",
            flush=True,
        )
        args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    y = np.concatenate(pooled["y"])
    length = np.concatenate(pooled["length"])
    results["pooled"] = {}
    for name in ("scan", "length", "random"):
        score = np.concatenate(pooled[name])
        figures = function_level(y, score, 0.5, params)
        figures.update(retro_level(y, score, params))
        if name != "length":
            figures.update(versus_length(y, score, length, params))
        results["pooled"][name] = figures
    args.out.write_text(json.dumps(results, indent=2, sort_keys=True) + "\n")
    print(json.dumps({k: {m: round(v, 3) for m, v in r.items()} for k, r in results["pooled"].items()}, indent=1))


if __name__ == "__main__":
    main()
