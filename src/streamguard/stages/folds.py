"""The `folds` stage: the OOF fold of every training record, computed once for every model's oof stage.

K folds (oof.folds), stratified by label and grouped by linked records (duplicates
and pairs, data/split.assign_folds), seeded by `seed`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from streamguard.data.folds import write_folds
from streamguard.data.records import read_split
from streamguard.data.split import assign_folds
from streamguard.params import Params, load_params
from streamguard.progress import console


def run_folds(params: Params, processed_dir: Path, out: Path) -> dict[str, int]:
    k = params.oof.folds
    fold_of = assign_folds(read_split(processed_dir, "train"), k, params.seed)
    write_folds(out, fold_of, k, params.seed)
    console.print(f"folds: {len(fold_of)} training functions in {k} folds (seed {params.seed}) -> {out}")
    return fold_of


def main(args: argparse.Namespace) -> None:
    run_folds(load_params(args.params), Path(args.processed), Path(args.out))
