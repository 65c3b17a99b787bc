"""Write a source's records and report so that a failed run leaves nothing half-written."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from streamguard.data.records import Record, write_records
from streamguard.io.atomic import atomic_path


def records_path(out_dir: Path, source: str) -> Path:
    return out_dir / f"{source}.jsonl"


def report_path(out_dir: Path, source: str) -> Path:
    return out_dir / f"{source}.report.json"


def write_outputs(out_dir: Path, source: str, records: Iterable[Record], report: dict[str, Any]) -> None:
    """Write both files under temporary names (`atomic_path`), then rename them into place."""
    with (
        atomic_path(records_path(out_dir, source)) as records_tmp,
        atomic_path(report_path(out_dir, source)) as report_tmp,
    ):
        write_records(records_tmp, records)
        if records_tmp.stat().st_size == 0:
            # no records: one blank line (readers skip it), so DVC does not warn "'<file>' is empty"
            # three times a run for every skipped source; the collect stage already said why once
            records_tmp.write_text("\n", encoding="utf-8")
        report_tmp.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
