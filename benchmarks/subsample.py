"""A fixed-seed stratified subsample of a Devign corpus for benchmarks: its command line, params and splits.

`data.limit` draws the subsample (preprocess's stratified sample, seeded by
`seed`), then preprocess's duplicate-aware split; the splits are written as
the `preprocess` stage writes them, so branches load them as in a real run.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
from training import override

from streamguard.data.preprocess import preprocess_records
from streamguard.data.records import Record, read_records, write_records
from streamguard.params import Params


def add_arguments(ap: argparse.ArgumentParser, limit: int) -> None:
    ap.add_argument("--data", required=True, help="Devign JSONL(.gz) or function.json")
    ap.add_argument("--limit", type=int, default=limit, help="stratified fixed-seed subsample (data.limit)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads (the converged run used 1 per branch)")
    ap.add_argument("--params", default="params.yaml")
    ap.add_argument("-S", dest="sets", action="append", default=[], help="override a param (after the converged ones)")
    ap.add_argument("--out", required=True, help="writes OUT.json and OUT.md")


def params_for(args: argparse.Namespace, converged: list[str]) -> tuple[list[str], Params]:
    """The overrides applied (subsample, then `converged`, then -S) and the params they give; sets torch's threads."""
    torch.set_num_threads(args.threads)
    sets = ["data.source=devign", f"data.path={args.data}", f"data.limit={args.limit}", *converged, *args.sets]
    return sets, override(Path(args.params), sets)


def write_splits(data: str, params: Params, folder: Path) -> tuple[Path, list[Record]]:
    """Preprocess the corpus in memory and write folder/processed/{train,valid,test}.jsonl."""
    records, _ = preprocess_records(list(read_records(data, defaults={"source": "devign"})), params)
    processed = folder / "processed"
    for split in ("train", "valid", "test"):
        write_records(processed / f"{split}.jsonl", [r for r in records if r.split == split])
    return processed, records
