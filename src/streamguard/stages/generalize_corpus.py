"""The `generalize_corpus` stage: the leave-project-out corpus -> `<out>/corpus.jsonl`, report.json
and code_metrics.npz.

Mined pairs, repository snapshots, PairVul, Devign and Juliet, as data/generalization_corpus.py builds them.
The code metrics of every function are computed here once (lizard is the slow part of the protocol)
and read by the generalize and detector stages.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from streamguard.data.generalization_corpus import (
    SAMPLE_CORPUS,
    SAMPLE_DEVIGN,
    CorpusError,
    build_corpus,
    corpus_texts,
)
from streamguard.data.records import write_records
from streamguard.io.hashing import sha256_file
from streamguard.models.code_metrics import metrics_matrix, write_metrics_table
from streamguard.params import Params, load_params

CODE_METRICS_FILE = "code_metrics.npz"


def run_generalize_corpus(
    params: Params,
    mined_path: Path | None,
    out_dir: Path,
    sample_corpus: Path = SAMPLE_CORPUS,
    sample_devign: Path = SAMPLE_DEVIGN,
) -> dict:
    records, report = build_corpus(params, mined_path, sample_corpus, sample_devign)
    if len({r.project for r in records}) < 2:
        raise CorpusError(
            f"the leave-project-out corpus holds {len({r.project for r in records})} project(s); it needs at least 2 "
            "(generalize.corpus: build needs collect.git_repos, generalize.pairvul_path or generalize.devign_path)"
        )
    out_dir.mkdir(parents=True, exist_ok=True)
    write_records(out_dir / "corpus.jsonl", records)
    write_metrics_table(
        out_dir / CODE_METRICS_FILE,
        metrics_matrix(corpus_texts(records, params)),
        texts_of=sha256_file(out_dir / "corpus.jsonl"),
        max_chars=params.data.max_chars,
    )
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    print(f"generalize corpus: {len(records)} functions from {len(report['projects'])} projects -> {out_dir}")
    for project, counts in report["projects"].items():
        print(f"  {project}: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    return report


def main(args: argparse.Namespace) -> None:
    run_generalize_corpus(
        load_params(args.params),
        Path(args.mined),
        Path(args.out),
        Path(args.sample) if args.sample else SAMPLE_CORPUS,
        Path(args.devign_sample) if args.devign_sample else SAMPLE_DEVIGN,
    )
