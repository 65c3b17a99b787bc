"""The `collect@<source>` stages: one Phase 2 source into `<out>/<source>.jsonl` and `<source>.report.json`.

`run_collect(source, params, out_dir)` runs the source's collector, applies the
noise rules (streamguard.data.noise) and writes the records plus a report,
atomically. A source that is disabled in collect.sources or lacks its input
(API key, feed file, export, local path) writes an empty file and a report
saying why, so every collect stage succeeds offline; a real failure (server
down after retries, malformed payload) raises a StreamGuardError and writes
nothing.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from streamguard.data.collectors import SOURCES, CollectError, collector, complete_pairs
from streamguard.data.collectors.base import SourceSkipped
from streamguard.data.collectors.output import write_outputs
from streamguard.data.collectors.progress import console
from streamguard.data.noise import dedupe, screen_functions, screen_pairs, summarise
from streamguard.data.records import link_pair
from streamguard.params import Params, load_params


def run_collect(source: str, params: Params, out_dir: Path) -> dict[str, Any]:
    """Collect `source` into out_dir/<source>.jsonl and out_dir/<source>.report.json; returns the report."""
    if source not in SOURCES:
        raise CollectError(f"unknown collect source {source!r}; use one of: {', '.join(SOURCES)}")
    out_dir = Path(out_dir)
    if source not in params.collect.sources:
        enabled = ", ".join(params.collect.sources) or "none"
        return _skip(
            source, out_dir, f"'{source}' is not in collect.sources (enabled: {enabled}); add it there to collect it"
        )

    from streamguard.data.collectors.context import CollectContext  # builds the HTTP client

    harvest_source = collector(source)
    try:
        harvest = harvest_source(CollectContext.from_params(params))
    except SourceSkipped as skip:
        return _skip(source, out_dir, skip.reason)

    for vulnerable, fixed in harvest.pairs:
        link_pair(vulnerable, fixed)  # every record from a fix names its counterpart
    records, dropped = screen_pairs(harvest.pairs, params.collect)
    singles, dropped_singles = screen_functions(harvest.singles, params.collect)
    records, dropped_dupes = dedupe(records + singles)
    dropped = harvest.dropped + dropped + dropped_singles + dropped_dupes
    report = {
        "source": source,
        "status": "ok",
        "reason": None,
        "pairs_found": len(harvest.pairs),
        "functions_found": 2 * len(harvest.pairs) + len(harvest.singles),
        "pairs_kept": complete_pairs(records),
        **summarise(records),
        "dropped": dict(sorted(dropped.items())),
        "details": harvest.details,
    }
    write_outputs(out_dir, source, records, report)
    console.print(
        f"collect {source}: {len(records)} records "
        f"({report['by_target'].get('1', 0)} vulnerable, {report['by_target'].get('0', 0)} fixed), "
        f"dropped {sum(dropped.values())} — {out_dir / (source + '.report.json')}",
        highlight=False,
    )
    return report


def _skip(source: str, out_dir: Path, reason: str) -> dict[str, Any]:
    report = {
        "source": source,
        "status": "skipped",
        "reason": reason,
        "pairs_found": 0,
        "functions_found": 0,
        "pairs_kept": 0,
        **summarise([]),
        "dropped": {},
        "details": {},
    }
    write_outputs(out_dir, source, [], report)
    console.print(f"collect {source}: skipped — {reason}", highlight=False)
    return report


def main(args: argparse.Namespace) -> None:
    run_collect(args.source, load_params(args.params), Path(args.out))
