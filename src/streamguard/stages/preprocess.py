"""The `preprocess` stage: raw (and, in phase 2, collected) records -> `<out>/{train,valid,test}.jsonl` + report.json.

The rules are data/preprocess.py's (README, "Data rules"); this module reads the
inputs, applies them and writes the splits.
"""

from __future__ import annotations

import argparse
import json
from collections import Counter
from pathlib import Path

from streamguard.data.preprocess import (
    hold_out_collected,
    preprocess_records,
    require_labels_in_every_split,
    require_test_projects_present,
)
from streamguard.data.records import SPLITS, Record, read_records, write_records
from streamguard.data.split import is_held_out
from streamguard.errors import StreamGuardError
from streamguard.params import Params, load_params
from streamguard.progress import console


def load_collected(collected_dir: Path) -> list[Record]:
    if not collected_dir.is_dir():
        raise StreamGuardError(
            f"data.phase is 2 but {collected_dir} does not exist; run `dvc repro` (the collect stages) first"
        )
    records: list[Record] = []
    for path in sorted(collected_dir.glob("*.jsonl")):
        records.extend(read_records(path))
    return records


def run_preprocess(params: Params, raw_dir: Path, out_dir: Path, collected: Path | None = None) -> dict:
    with console.status("reading raw records"):
        records = list(read_records(raw_dir / "records.jsonl"))
    records, report = preprocess_records(records, params)
    by_split = {s: [r for r in records if r.split == s] for s in SPLITS}
    if params.data.phase == 2:
        from streamguard.data.noise import merge_collected

        if collected is None:
            raise StreamGuardError("data.phase is 2, but preprocess was given no --collected folder")
        collected_records = load_collected(collected)
        if params.data.split == "cross_project":
            held_out, report["held_out_collected"] = hold_out_collected(collected_records, by_split, params)
            by_split["test"].extend(held_out)
            collected_records = [r for r in collected_records if not is_held_out(r, params.data.test_projects)]
        extra, report["phase2"] = merge_collected(
            by_split["train"], by_split["valid"], by_split["test"], collected_records, params
        )
        by_split["train"].extend(extra)
    if params.data.split == "cross_project":
        require_test_projects_present(by_split["test"], records, params)
    require_labels_in_every_split(by_split, params, report)
    out_dir.mkdir(parents=True, exist_ok=True)
    report["splits"] = {}
    for split, recs in by_split.items():
        write_records(out_dir / f"{split}.jsonl", recs)
        report["splits"][split] = {
            "records": len(recs),
            "vulnerable": sum(r.target for r in recs),
            "sources": dict(Counter(r.source for r in recs)),
        }
    (out_dir / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    sizes = ", ".join(f"{s}={v['records']}" for s, v in report["splits"].items())
    console.print(f"preprocess: {sizes}; straddling duplicate groups: {report['straddling_duplicate_groups']}")
    return report


def main(args: argparse.Namespace) -> None:
    run_preprocess(load_params(args.params), Path(args.raw), Path(args.out), collected=Path(args.collected))
