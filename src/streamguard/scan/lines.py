"""Which lines of a function drive its score: occlusion, the score's drop when each line is blanked.

Every non-blank line of a function is one unit; a function with more than
`MAX_VARIANTS` non-blank lines is cut into that many blocks of consecutive
ones instead, so a finding costs at most `MAX_VARIANTS` extra scorings
whatever its length. A variant replaces the unit's characters by spaces of the
same length (newlines kept), so line numbers stay put and the trimming that
scoring applies (data.trim: a character budget) sees the same costs. A unit's
`drop` is the function's fused probability minus the variant's; its `share` is
the drop over the sum of the function's positive drops. Units whose removal
does not lower the score are not reported. Occlusion needs only scores, so it
works for every model the fusion combines, the lexical one included.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field, replace

from streamguard.data.records import Record
from streamguard.scan.findings import Finding, LineShare

MAX_VARIANTS = 40  # scorings per finding at most: longer functions are occluded in blocks
TOP_LINES = 5  # lines (or blocks) reported per finding by default

Unit = tuple[int, int]  # first and last 0-based line of the function's text blanked together


def occlusion_units(text: str, max_variants: int = MAX_VARIANTS) -> list[Unit]:
    """The non-blank lines of `text`, one unit each, or at most `max_variants` blocks of consecutive ones."""
    candidates = [i for i, line in enumerate(text.split("\n")) if line.strip()]
    n, parts = len(candidates), min(len(candidates), max_variants)
    bounds = [k * n // parts for k in range(parts + 1)]  # blocks of equal size, to within one line
    return [(candidates[bounds[k]], candidates[bounds[k + 1] - 1]) for k in range(parts)]


def blank(text: str, unit: Unit) -> str:
    """`text` with the unit's lines replaced by as many spaces as they had characters."""
    lines = text.split("\n")
    for i in range(unit[0], unit[1] + 1):
        lines[i] = " " * len(lines[i])
    return "\n".join(lines)


def rank_units(p: float, units: list[Unit], variant_p: list[float], first_line: int, top: int) -> list[LineShare]:
    """The `top` units whose blanking lowers `p` most (ties: earlier first), numbered from `first_line`."""
    drops = [p - q for q in variant_p]
    positive = sum(d for d in drops if d > 0)
    order = sorted(range(len(units)), key=lambda i: (-drops[i], units[i][0]))
    return [
        LineShare(first_line + units[i][0], first_line + units[i][1], round(drops[i], 6), round(drops[i] / positive, 4))
        for i in order[:top]
        if drops[i] > 0
    ]


@dataclass
class VariantBatch:
    """Occluded copies of findings' functions, scored together (scan/scoring.py reads `.records`)."""

    records: list[Record] = field(default_factory=list)
    units: list[tuple[str, int]] = field(default_factory=list)  # (finding's fingerprint, unit index)


def _variant_batches(findings: list[Finding], texts: dict[str, str], batch_size: int) -> Iterator[VariantBatch]:
    pending = VariantBatch()
    for f in findings:
        text = texts[f.fingerprint]
        for k, unit in enumerate(occlusion_units(text)):
            origin = f"{f.uri}:{f.start_line + unit[0]}"
            pending.records.append(
                Record(func=blank(text, unit), target=0, project="scan", source="scan", id=origin, origin=origin)
            )
            pending.units.append((f.fingerprint, k))
            if len(pending.records) >= batch_size:
                yield pending
                pending = VariantBatch()
    if pending.records:
        yield pending


def with_lines(
    findings: list[Finding],
    texts: dict[str, str],
    score_batches: Callable[[Iterable[VariantBatch]], Iterator[tuple[VariantBatch, list[dict]]]],
    top: int = TOP_LINES,
    batch_size: int = 64,
) -> tuple[list[Finding], int]:
    """`findings` (same order) with their top lines; also the number of variants scored. `texts`: by fingerprint."""
    variant_p: dict[str, list[float]] = {f.fingerprint: [] for f in findings}
    scored = 0
    for batch, rows in score_batches(_variant_batches(findings, texts, batch_size)):
        for (fingerprint, _), row in zip(batch.units, rows):
            variant_p[fingerprint].append(row["fused_probability"])  # batches keep submission order
        scored += len(rows)
    ranked = [
        replace(
            f,
            lines=tuple(
                rank_units(
                    f.fused_probability,
                    occlusion_units(texts[f.fingerprint]),
                    variant_p[f.fingerprint],
                    f.start_line,
                    top,
                )
            ),
        )
        for f in findings
    ]
    return ranked, scored
