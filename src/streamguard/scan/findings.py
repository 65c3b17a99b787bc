"""One scored function of a scan, and its fingerprint.

The fingerprint hashes the repo-relative path, the function's name and its
whitespace-normalised text (plus an ordinal when one file holds identical
copies), so it survives re-runs, edits elsewhere in the file and reformatting
that only moves the function; it changes when the function itself changes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from streamguard.data.records import normalise_whitespace
from streamguard.scan.walk import printable


@dataclass(frozen=True)
class LineShare:
    """Lines of a finding's function and how much they drive its score (scan/lines.py: occlusion)."""

    start_line: int
    end_line: int  # the same line, or the last of a block of a long function
    drop: float  # fused probability of the function minus that with these lines blanked
    share: float  # drop / the sum of the function's positive drops

    def to_dict(self) -> dict:
        return {"start_line": self.start_line, "end_line": self.end_line, "drop": self.drop, "share": self.share}

    @property
    def label(self) -> str:
        where = str(self.start_line) if self.end_line == self.start_line else f"{self.start_line}-{self.end_line}"
        return f"{where} ({100 * self.share:.0f}%)"


@dataclass(frozen=True)
class Finding:
    uri: str
    function: str
    start_line: int
    end_line: int
    fingerprint: str
    fused_probability: float
    probabilities: dict[str, float]  # per base model
    lines: tuple[LineShare, ...] = field(default=())  # the lines driving the score, most first

    def to_dict(self) -> dict:
        return {
            "file": printable(self.uri),
            "function": printable(self.function),
            "start_line": self.start_line,
            "end_line": self.end_line,
            "fused_probability": self.fused_probability,
            "probabilities": self.probabilities,
            "fingerprint": self.fingerprint,
            "lines": [line.to_dict() for line in self.lines],
        }


def function_fingerprint(uri: str, name: str, text: str, ordinal: int = 0) -> str:
    """sha256 of path, name and normalised text; `ordinal` tells identical copies in one file apart."""
    key = "\0".join([uri, name, normalise_whitespace(text), str(ordinal)])
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def top_findings(findings: list[Finding], k: int | None) -> list[Finding]:
    """Highest fused probability first (ties by location, for a stable order); at most `k`."""
    ranked = sorted(findings, key=lambda f: (-f.fused_probability, f.uri, f.start_line))
    return ranked if k is None else ranked[:k]
