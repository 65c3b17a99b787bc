"""The `download` stage: bring the source named by `data.source` into data/raw.

Output: records.jsonl (validated records) and manifest.json with the sha256 of
every input and output file.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from streamguard.data.download import SAMPLE_PATH, iter_source, repo_name, require_both_labels
from streamguard.data.records import write_records
from streamguard.io.hashing import sha256_file
from streamguard.params import Params, load_params
from streamguard.progress import console


def run_download(params: Params, out_dir: Path, sample: Path = SAMPLE_PATH) -> dict:
    """data.source's records into out_dir/records.jsonl, and manifest.json (`sample`: data.source sample's file)."""
    records_iter, inputs = iter_source(params, sample)
    with console.status(f"reading {params.data.source} records"):
        records = list(records_iter)
    require_both_labels(records, params.data)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / "records.jsonl"
    write_records(out, records)
    manifest = {
        "source": params.data.source,
        "records": len(records),
        "inputs": {repo_name(p): sha256_file(p) for p in inputs if p.exists()},
        "outputs": {out.name: sha256_file(out)},
    }
    (out_dir / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    console.print(f"download: {len(records)} records from {params.data.source} -> {out}")
    return manifest


def main(args: argparse.Namespace) -> None:
    run_download(load_params(args.params), Path(args.out), Path(args.sample) if args.sample else SAMPLE_PATH)
