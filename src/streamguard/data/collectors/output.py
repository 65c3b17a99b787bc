"""Write a source's records and report so that a failed run leaves nothing half-written."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from streamguard.data.records import Record, write_records


def records_path(out_dir: Path, source: str) -> Path:
    return out_dir / f"{source}.jsonl"


def report_path(out_dir: Path, source: str) -> Path:
    return out_dir / f"{source}.report.json"


def write_outputs(out_dir: Path, source: str, records: Iterable[Record], report: dict[str, Any]) -> None:
    """Write both files under temporary names, then rename them into place.

    The temporary names do not end in .jsonl, so a reader globbing
    `out_dir/*.jsonl` never sees a partial file.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    final = [records_path(out_dir, source), report_path(out_dir, source)]
    temps = [p.with_name(f".{p.name}.tmp") for p in final]
    try:
        write_records(temps[0], records)
        if temps[0].stat().st_size == 0:
            # no records: one blank line (readers skip it), so DVC does not warn "'<file>' is empty"
            # three times a run for every skipped source; the collect stage already said why once
            temps[0].write_text("\n", encoding="utf-8")
        temps[1].write_text(json.dumps(report, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        for tmp, path in zip(temps, final):
            os.replace(tmp, path)
    finally:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
