"""Phase 2 sources: one collector per source, each harvesting vulnerable/fixed functions.

`collector(source)` is the function that harvests one source (imported on use, so
one source's dependencies never slow another); the collect stage
(streamguard.stages.collect) runs it, applies the noise rules and writes
`data/collected/<source>.jsonl` plus a report.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from streamguard.data.collectors.base import Collected, CollectError
from streamguard.data.records import Record
from streamguard.params import CollectParams

__all__ = ["SOURCES", "COLLECTORS", "collector", "complete_pairs", "CollectError"]

SOURCES: tuple[str, ...] = CollectParams.SOURCES

# source -> "module:function" under this package
COLLECTORS = {
    "nvd": "nvd:collect_nvd",
    "ghsa": "ghsa:collect_ghsa",
    "osv": "osv:collect_osv",
    "git": "git_miner:collect_git",
    "exploitdb": "exploitdb:collect_exploitdb",
    "synthetic": "synthetic:collect_synthetic",
    "juliet": "juliet:collect_juliet",
    "triage": "triage:collect_triage",
}


def collector(source: str) -> Callable[[Any], Collected]:
    """The harvest function of `source` (a name in SOURCES)."""
    if source not in SOURCES:
        raise CollectError(f"unknown collect source {source!r}; use one of: {', '.join(SOURCES)}")
    module_name, func_name = COLLECTORS[source].split(":")
    function: Callable[[Any], Collected] = getattr(importlib.import_module(f"{__name__}.{module_name}"), func_name)
    return function


def complete_pairs(records: list[Record]) -> int:
    """Pair ids whose vulnerable and fixed sides both survived the noise rules."""
    sides: dict[str, set[int]] = {}
    for rec in records:
        if rec.pair is not None:
            sides.setdefault(rec.pair, set()).add(rec.target)
    return sum(1 for targets in sides.values() if targets == {0, 1})
