"""Does triage teach? Retrain a held-out project's detector on a team's verdicts, re-rank what nobody triaged.

    nice -n 5 python benchmarks/triage_retraining.py --corpus data/generalize/corpus.jsonl --repos /tmp/repos \\
        --params params.yaml --project libxml2 --project libssh2 --project tcpdump \\
        --out benchmarks/results/triage-retraining.json

For each --project (a mined repository of the corpus, its clone at --repos/NAME), under the
leave-one-project-out protocol of evaluation/generalization.py, model `lexical_metrics`:

1. before: trained on every other project, the model ranks the project's snapshot functions (the retro-scan);
2. triage: a simulated team reads --triaged functions and gives each its truth label: the top of that
   ranking (`top`), or a random draw of the snapshot (`random`, the control: as many in-project labels,
   chosen without the model). The verdicts are written to `.streamguard/triage.jsonl` of a checkout of
   the snapshot commit, fingerprinted as `scan` fingerprints, and the `triage` collector
   (data/collectors/triage.py) turns them into records;
3. after: the same training plus those records, as one more training project `<project>-triage`
   (the protocol weighs every training project the same, each class half of it), ranks again;
4. before vs after on the snapshot functions that condition did not triage: ROC-AUC, PR-AUC, recall in
   the top 1 % and the top 50, each with its bootstrap CI, and the paired bootstrap CI and p-value of
   after - before. `top` and each draw of the control (`random`, `random-2`, ...) are also compared after
   retraining, on the functions neither triaged.

The protocol weighs rows by project and class only, so a record's confidence tier plays no part here.
The corpus is loaded once; --out is rewritten after each project, so a stopped run keeps what it did.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from streamguard.c.functions import extract_functions
from streamguard.c.tokens import code_tokens
from streamguard.data.collectors.base import Collected
from streamguard.data.collectors.context import CollectContext
from streamguard.data.collectors.git_miner import run_git
from streamguard.data.collectors.triage import collect_triage
from streamguard.data.fingerprints import fingerprinted
from streamguard.data.records import Record, read_records
from streamguard.data.triage_file import Verdict, append_verdicts, now, triage_path
from streamguard.data.trim import trim_to_budget
from streamguard.evaluation.bootstrap import bootstrap_p_value, paired_percentile_bootstrap
from streamguard.evaluation.generalization import (
    Corpus,
    function_set_mask,
    held_out_scores,
    lexical_config,
    load_corpus,
    retro_rows,
)
from streamguard.metrics import METRIC_NAMES, metric_rows, roc_auc_rows
from streamguard.models.code_metrics import metrics_matrix
from streamguard.models.hashed_lexical import hashed_counts
from streamguard.params import Params, load_params, params_from_dict

MODEL = "lexical_metrics"
TRIAGE_SOURCE = "triage"
RANKING = ("roc_auc", "pr_auc", "retro_recall_top1pct", "retro_recall_top50")
_PR_AUC = METRIC_NAMES.index("pr_auc")
WHO = "triage-simulation"
REASON = "simulated triage: the corpus's truth label (changed by a later security fix or not)"


# --- the team's verdicts, through the triage file and the collector ---------------------------------------


def snapshot_place(origin: str) -> tuple[str, int]:
    """(path, start line) of a snapshot record, from its origin `REPO@SHA:PATH:LINE`."""
    path, line = origin.split(":", 1)[1].rsplit(":", 1)
    return path, int(line)


def check_out(repo: Path, commit: str, paths: list[str], root: Path) -> None:
    """The files `paths` of `repo` at `commit`, written under `root` as a checkout holds them."""
    for path in sorted(set(paths)):
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(run_git(repo, "show", f"{commit}:{path}"))


def simulated_verdicts(root: Path, chosen: list[tuple[str, int, str, int]]) -> list[Verdict]:
    """A verdict per (path, start line, text, truth) of the checkout at `root`, fingerprinted as `scan` does."""
    by_path: dict[str, list[tuple[int, str, int]]] = {}
    for path, line, text, truth in chosen:
        by_path.setdefault(path, []).append((line, text, truth))
    when = now()
    verdicts = []
    for path, wanted in sorted(by_path.items()):
        found = {
            fn.start_line: (fn, fp, key)
            for fn, fp, key in fingerprinted(path, extract_functions((root / path).read_bytes()))
        }
        for line, text, truth in wanted:
            if line not in found or found[line][0].text != text:
                raise SystemExit(f"{root / path}:{line}: no function with the corpus record's text starts there")
            fn, fingerprint, key = found[line]
            verdict = "true_positive" if truth else "false_positive"
            verdicts.append(Verdict(fingerprint, key, path, fn.name, verdict, REASON, WHO, when))
    return verdicts


def collect_verdicts(root: Path, params: Params) -> Collected:
    """What the `triage` collector makes of the checkout `root` (collect.triage_files = [root])."""
    raw = dataclasses.asdict(params)
    raw["collect"]["triage_files"] = [str(root)]
    return collect_triage(CollectContext.from_params(params_from_dict(raw)))


def triage_records(
    repo: Path, commit: str, chosen: list[tuple[str, int, str, int]], root: Path, params: Params
) -> tuple[list[Record], Collected]:
    """Check out the triaged files at `commit` under `root`, write the verdicts to its triage file, collect them."""
    check_out(repo, commit, [path for path, *_ in chosen], root)
    append_verdicts(triage_path(root), simulated_verdicts(root, chosen))
    collected = collect_verdicts(root, params)
    return collected.singles, collected


# --- the training set with the team's records ---------------------------------------------------------------


def with_records(corpus: Corpus, records: list[Record], params: Params) -> Corpus:
    """`corpus` plus `records` as rows of their own (features computed as load_corpus computes them)."""
    texts = [trim_to_budget(r.func, params.data.max_chars).text for r in records]
    project = np.concatenate([corpus.project, [r.project for r in records]])
    source = np.concatenate([corpus.source, [r.source for r in records]])
    return Corpus(
        texts=corpus.texts + texts,
        y=np.concatenate([corpus.y, np.array([r.target for r in records], dtype=np.int8)]),
        project=project,
        source=source,
        pair=corpus.pair + [None] * len(records),
        metrics=np.vstack([corpus.metrics, metrics_matrix(texts)]),
        length=np.concatenate([corpus.length, [float(code_tokens(r.func)) for r in records]]),
        counts=sparse.vstack([corpus.counts, hashed_counts(texts, lexical_config(params))]).tocsr(),
        function_set=function_set_mask(project, source),
    )


def training_on_triage(params: Params) -> Params:
    """`params` whose models also train on `triage` rows (generalize.train_sources names corpus sources only)."""
    out = params_from_dict(dataclasses.asdict(params))
    out.generalize.train_sources = [*out.generalize.train_sources, TRIAGE_SOURCE]
    return out


# --- before vs after ----------------------------------------------------------------------------------------


def ranking_rows(y: np.ndarray, score: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    """ROC-AUC, PR-AUC, recall in the top 1 % and in the top 50 (rows), along the last axis."""
    return np.stack([roc_auc_rows(y, score), metric_rows(y, score, 0.5)[_PR_AUC], *retro_rows(y, score, tiebreak)[:2]])


def _paired_rows(y: np.ndarray, before: np.ndarray, after: np.ndarray, tiebreak: np.ndarray) -> np.ndarray:
    b, a = ranking_rows(y, before, tiebreak), ranking_rows(y, after, tiebreak)
    return np.concatenate([b, a, a - b])


def before_after(y: np.ndarray, before: np.ndarray, after: np.ndarray, params: Params) -> dict[str, Any]:
    """Each RANKING metric before and after with its CI, and the paired CI and p-value of after - before."""
    ev = params.evaluate
    tiebreak = np.random.default_rng(params.seed).random(len(y))
    point = _paired_rows(y, before, after, tiebreak)
    interval = paired_percentile_bootstrap(
        (y, before, after, tiebreak),
        _paired_rows,
        resamples=ev.bootstrap_resamples,
        confidence_level=ev.confidence_level,
        seed=ev.seed,
    )
    k = len(RANKING)
    out: dict[str, Any] = {"n_functions": len(y), "n_vulnerable": int(y.sum())}
    for i, name in enumerate(RANKING):
        row = {}
        for j, part in enumerate(("before", "after", "difference")):
            row[part] = float(point[j * k + i])
            row[f"{part}_ci"] = [float(interval.low[j * k + i]), float(interval.high[j * k + i])]
        row["p_value"] = bootstrap_p_value(interval.distribution[2 * k + i])
        out[name] = row
    return out


# --- one held-out project -----------------------------------------------------------------------------------


def triaged_positions(score: np.ndarray, condition: str, count: int, seed: int) -> np.ndarray:
    """Positions (in the snapshot) the team triages: the top `count` by score, or random draw `random[-K]`."""
    if condition == "top":
        tiebreak = np.random.default_rng(seed).random(len(score))
        return np.lexsort((tiebreak, -score))[:count]
    draw = [] if condition == "random" else [int(condition.removeprefix("random-"))]
    return np.random.default_rng([seed, len(score), *draw]).choice(len(score), size=count, replace=False)


def condition_name(value: str) -> str:
    """--condition: `top`, `random` (the control's first draw) or `random-K` (its draw K >= 2)."""
    if value in ("top", "random") or (value.startswith("random-") and value[7:].isdigit() and int(value[7:]) >= 2):
        return value
    raise argparse.ArgumentTypeError(f"{value!r}: give top, random or random-K (K >= 2, another draw of the control)")


def held_out_project(
    corpus: Corpus, records: list[Record], project: str, args: argparse.Namespace, params: Params, log: Callable
) -> dict[str, Any]:
    started = time.perf_counter()
    before = held_out_scores(corpus, project, params)
    snap = before.index[corpus.source[before.index] == "snapshot"]
    snap_score = before.scores[MODEL][corpus.source[before.index] == "snapshot"]
    y = corpus.y[snap]
    commits = {records[i].commit for i in snap}
    if len(commits) != 1:
        raise SystemExit(f"{project}: its snapshot records name {len(commits)} commits; expected one")
    commit = str(commits.pop())
    log(
        f"{project}: before ranked {len(snap)} snapshot functions ({y.sum()} vulnerable), {time.perf_counter() - started:.0f} s"
    )
    out: dict[str, Any] = {
        "snapshot_commit": commit,
        "snapshot_functions": len(snap),
        "snapshot_vulnerable": int(y.sum()),
        "before_whole_snapshot": before_after(y, snap_score, snap_score, params),
        "conditions": {},
    }
    retrained = training_on_triage(params)
    after_scores: dict[str, np.ndarray] = {}
    untriaged: dict[str, np.ndarray] = {}
    for condition in args.condition:
        t0 = time.perf_counter()
        chosen_pos = triaged_positions(snap_score, condition, args.triaged, params.seed)
        chosen = []
        for i in snap[chosen_pos]:
            path, line = snapshot_place(records[i].origin or "")
            chosen.append((path, line, records[i].func, int(records[i].target)))
        root = args.workdir / condition / f"{project}-triage"
        team, collected = triage_records(args.repos / project, commit, chosen, root, params)
        if sorted((r.func, r.target) for r in team) != sorted((text, truth) for _, _, text, truth in chosen):
            raise SystemExit(
                f"{project} {condition}: the collector's {len(team)} records are not the {len(chosen)} triaged "
                f"functions with their verdicts (dropped: {dict(collected.dropped)})"
            )
        extended = with_records(corpus, team, params)
        after = held_out_scores(extended, project, retrained)
        after_snap = after.scores[MODEL][extended.source[after.index] == "snapshot"]
        keep = np.ones(len(snap), dtype=bool)
        keep[chosen_pos] = False
        after_scores[condition], untriaged[condition] = after_snap, keep
        out["conditions"][condition] = {
            "triaged": len(chosen),
            "triaged_vulnerable": int(y[chosen_pos].sum()),
            "collector": {"records": len(team), "dropped": dict(collected.dropped), **collected.details},
            "untriaged": before_after(y[keep], snap_score[keep], after_snap[keep], params),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        log(f"{project} {condition}: {summary(out['conditions'][condition]['untriaged'])}")
    for draw in [name for name in after_scores if name.startswith("random") and "top" in after_scores]:
        common = untriaged["top"] & untriaged[draw]
        key = f"top_vs_{draw}_after"
        out[key] = before_after(y[common], after_scores[draw][common], after_scores["top"][common], params)
        log(f"{project} top vs {draw} (after): {summary(out[key])}")
    out["seconds"] = round(time.perf_counter() - started, 1)
    return out


def summary(row: dict[str, Any]) -> str:
    return "  ".join(
        f"{name} {row[name]['before']:.3f}->{row[name]['after']:.3f} (p={row[name]['p_value']:.3g})" for name in RANKING
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="the generalization corpus (generalize.corpus: build)")
    ap.add_argument("--repos", type=Path, required=True, help="folder of the mined clones, one per project name")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("--project", action="append", required=True, help="held-out project (repeat)")
    ap.add_argument(
        "--condition", action="append", type=condition_name, help="top, random, random-K; default: top random"
    )
    ap.add_argument("--triaged", type=int, default=50, help="functions the team triages")
    ap.add_argument("--workdir", type=Path, default=Path("/tmp/triage-retraining"), help="checkouts go here")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    args.condition = args.condition or ["top", "random"]
    if args.workdir.exists() and any(args.workdir.iterdir()):
        raise SystemExit(
            f"--workdir {args.workdir} is not empty; give a fresh folder (the checkouts are written there)"
        )
    raw = dataclasses.asdict(load_params(args.params))
    raw["generalize"]["models"] = [MODEL]
    params = params_from_dict(raw)

    def log(message: str) -> None:
        print(message, flush=True)

    started = time.perf_counter()
    records = list(read_records(args.corpus))
    corpus = load_corpus(args.corpus, params)
    log(f"corpus: {len(corpus.y)} functions loaded in {time.perf_counter() - started:.0f} s")
    results: dict[str, Any] = {
        "corpus": str(args.corpus),
        "model": MODEL,
        "triaged": args.triaged,
        "bootstrap_resamples": params.evaluate.bootstrap_resamples,
        "projects": {},
    }
    for project in args.project:
        results["projects"][project] = held_out_project(corpus, records, project, args, params, log)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
    log(f"done in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
