"""Before/after pairs of the C functions a fix commit changed.

Functions are matched by name (and by occurrence, for a name defined twice
under different #ifdefs); a pair is kept when the text differs at all — the
noise rules later drop pairs that differ only in whitespace or comments.
The pre-fix function is labelled vulnerable (1), the post-fix one fixed (0).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from streamguard.c.functions import ANONYMOUS, CFunction, extract_functions
from streamguard.data.records import Record


@dataclass(frozen=True)
class FunctionPair:
    before: CFunction
    after: CFunction


@dataclass(frozen=True)
class FunctionChanges:
    """What a change did to one file's functions: changed ones pair up; added or deleted ones cannot."""

    pairs: list[FunctionPair]
    added: int  # defined after the change only: no vulnerable side
    deleted: int  # defined before the change only: no fixed side


def diff_functions(before_src: str | bytes, after_src: str | bytes) -> FunctionChanges:
    """Functions on both sides whose text changed (in post-fix file order), and counts of the unmatched."""
    by_name: dict[str, list[CFunction]] = defaultdict(list)
    for fn in extract_functions(before_src):
        if fn.name != ANONYMOUS:
            by_name[fn.name].append(fn)
    seen: dict[str, int] = defaultdict(int)
    pairs = []
    added = 0
    for fn in extract_functions(after_src):
        if fn.name == ANONYMOUS:
            continue  # nothing to match it by
        k = seen[fn.name]
        seen[fn.name] += 1
        olds = by_name.get(fn.name, [])
        if k >= len(olds):
            added += 1
        elif olds[k].text != fn.text:
            pairs.append(FunctionPair(olds[k], fn))
    deleted = sum(max(0, len(olds) - seen[name]) for name, olds in by_name.items())
    return FunctionChanges(pairs, added, deleted)


def changed_functions(before_src: str | bytes, after_src: str | bytes) -> list[FunctionPair]:
    """Functions present on both sides whose text changed, in post-fix file order."""
    return diff_functions(before_src, after_src).pairs


def pair_records(
    pair: FunctionPair,
    *,
    source: str,
    project: str,
    commit: str,
    cwe: str | None,
    confidence: float,
    before_origin: str,
    after_origin: str,
    cve: str | None = None,
) -> tuple[Record, Record]:
    """The (vulnerable, fixed) records of one pair; origins get the function's first line."""
    vulnerable = Record(
        func=pair.before.text,
        target=1,
        project=project,
        source=source,
        confidence=confidence,
        cwe=cwe,
        cve=cve,
        commit=commit,
        origin=f"{before_origin}{pair.before.start_line}",
    )
    fixed = Record(
        func=pair.after.text,
        target=0,
        project=project,
        source=source,
        confidence=confidence,
        cwe=cwe,
        cve=cve,
        commit=commit,
        origin=f"{after_origin}{pair.after.start_line}",
    )
    return vulnerable, fixed
