"""Before/after pairs of the C functions a fix commit changed.

Functions are matched by name (and by occurrence, for a name defined twice
under different #ifdefs); a pair is kept when the text differs at all — the
noise rules later drop pairs that differ only in whitespace or comments.
The pre-fix function is labelled vulnerable (1), the post-fix one fixed (0).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from streamguard.c_functions import ANONYMOUS, CFunction, extract_functions
from streamguard.data.records import Record

C_SUFFIXES = (".c", ".h")


@dataclass(frozen=True)
class FunctionPair:
    before: CFunction
    after: CFunction


def changed_functions(before_src: str | bytes, after_src: str | bytes) -> list[FunctionPair]:
    """Functions present on both sides whose text changed, in post-fix file order."""
    by_name: dict[str, list[CFunction]] = defaultdict(list)
    for fn in extract_functions(before_src):
        by_name[fn.name].append(fn)
    seen: dict[str, int] = defaultdict(int)
    pairs = []
    for fn in extract_functions(after_src):
        if fn.name == ANONYMOUS:
            continue  # nothing to match it by
        k = seen[fn.name]
        seen[fn.name] += 1
        olds = by_name.get(fn.name, [])
        if k < len(olds) and olds[k].text != fn.text:
            pairs.append(FunctionPair(olds[k], fn))
    return pairs


def is_c_file(path: str) -> bool:
    return path.lower().endswith(C_SUFFIXES)


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
) -> tuple[Record, Record]:
    """The (vulnerable, fixed) records of one pair; origins get the function's first line."""
    vulnerable = Record(
        func=pair.before.text,
        target=1,
        project=project,
        source=source,
        confidence=confidence,
        cwe=cwe,
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
        commit=commit,
        origin=f"{after_origin}{pair.after.start_line}",
    )
    return vulnerable, fixed
