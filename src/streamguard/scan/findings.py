"""One scored function of a scan (its fingerprints: data/fingerprints.py)."""

from __future__ import annotations

from dataclasses import dataclass, field

from streamguard.data.fingerprints import fingerprinted, function_fingerprint, function_key
from streamguard.scan.walk import printable

__all__ = ["Finding", "fingerprinted", "function_fingerprint", "function_key", "top_findings"]


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
    function_key: str = ""  # function_key(): path, name and ordinal, not the text
    lines: tuple[LineShare, ...] = field(default=())  # the lines driving the score, most first
    # the score band this finding falls in and the precision measured there on unseen projects
    # (models/detector_card.py); None for models without that measurement
    unseen_precision: dict[str, float] | None = None

    def to_dict(self) -> dict:
        return {
            "file": printable(self.uri),
            "function": printable(self.function),
            "start_line": self.start_line,
            "end_line": self.end_line,
            "fused_probability": self.fused_probability,
            "probabilities": self.probabilities,
            "fingerprint": self.fingerprint,
            "function_key": self.function_key,
            "lines": [line.to_dict() for line in self.lines],
            "unseen_precision": self.unseen_precision,
        }


def top_findings(findings: list[Finding], k: int | None) -> list[Finding]:
    """Highest fused probability first (ties by location, for a stable order); at most `k`."""
    ranked = sorted(findings, key=lambda f: (-f.fused_probability, f.uri, f.start_line))
    return ranked if k is None else ranked[:k]
