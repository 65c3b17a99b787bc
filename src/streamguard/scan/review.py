"""What a scan knows about its findings besides their scores: baseline states and triage verdicts.

The gate (`--fail-on-findings`) fires on the findings that still need a
person: not suppressed by a false-positive verdict and, with a baseline,
`new` (a finding the baseline already held, edited or not, was known before
this change).
"""

from __future__ import annotations

from dataclasses import dataclass

from streamguard.data.triage_file import TRIAGE_FILE, Triage, Verdict
from streamguard.scan.baseline import Comparison
from streamguard.scan.findings import Finding


@dataclass
class Review:
    comparison: Comparison | None = None
    triage: Triage | None = None

    def state(self, f: Finding) -> str | None:
        return self.comparison.states[f.fingerprint] if self.comparison else None

    def verdict(self, f: Finding) -> Verdict | None:
        return self.triage.exact(f.fingerprint) if self.triage else None

    def earlier_verdict(self, f: Finding) -> Verdict | None:
        return self.triage.earlier(f.fingerprint, f.function_key) if self.triage else None

    def suppressed(self, f: Finding) -> bool:
        return self.triage is not None and self.triage.suppresses(f.fingerprint)

    def gating(self, findings: list[Finding]) -> list[Finding]:
        """The findings --fail-on-findings fails on."""
        return [f for f in findings if not self.suppressed(f) and self.state(f) in (None, "new")]

    def summary(self, findings: list[Finding]) -> dict:
        """Figures for the report's `scan` properties and the closing line."""
        out: dict = {"suppressed": sum(self.suppressed(f) for f in findings), "gating": len(self.gating(findings))}
        if self.triage is not None and self.triage.by_fingerprint:
            out["triage_file"] = TRIAGE_FILE.as_posix()  # relative to the scan root: the report names no local path
            out["triage_verdicts"] = len(self.triage.by_fingerprint)
        if self.comparison is not None:
            out["baseline"] = {
                "file": self.comparison.file,
                **self.comparison.counts(findings),
                "not_rescanned": self.comparison.not_rescanned,
            }
        return out

    def to_dict(self, f: Finding) -> dict:
        """A finding's review fields for the JSON report."""
        out: dict = {"baseline_state": self.state(f), "suppressed": self.suppressed(f), "triage": None}
        if (v := self.verdict(f) or self.earlier_verdict(f)) is not None:
            out["triage"] = {**_fields(v), "applies_to": "this function" if v is self.verdict(f) else "an earlier text"}
        return out


def _fields(v: Verdict) -> dict:
    return {"verdict": v.verdict, "reason": v.reason, "who": v.who, "when": v.when, "line": v.line}
