"""SARIF 2.1.0 for GitHub code scanning: one result per flagged function, one rule per severity band.

GitHub code scanning reads `security-severity` from the rule (the
reportingDescriptor's `properties`), never from a result, and shows a score
above 9.0 as critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low; a rule's
`precision` (very-high, high, medium, low) orders alerts within a severity.
So each result references the rule of its band (`BANDS`), chosen from the
fused probability p relative to the fusion's threshold t:

- high: p >= t + (1 - t) / 2, the upper half of the range above the threshold;
- medium: t <= p below that;
- low: p < t, shown only when --min-probability asks for it; its message says
  the function is below the reporting threshold.

For models without a measured precision the bands are conservative: no band
is critical, and each rule's precision and help text say the band is derived
from p and t only. A detector with a card (models/detector_card.py) measured
the precision of each score band on projects it never saw; each of its
findings carries that band's precision and CI (`properties.unseen_precision`,
and in its message), and its severity follows that precision instead
(`MEASURED_BANDS`: high from 0.5, medium from 0.2, low below). A result's
`level` is its band's (error, warning, note); `rank` = 100 * p (SARIF's own
0-100 priority); its `properties` keep p, each model's probability and the band.

Locations are URIs relative to the scan root (scan/walk.py) under
`%SRCROOT%`, percent-encoded as RFC 3986 and SARIF §3.10 ask (every byte of
the UTF-8 path but unreserved characters and `/`; a name's bytes that are not
UTF-8 as themselves). A result's region is the line (or block) that drives its
score most (scan/lines.py), its contextRegion the whole function; the next
lines are `relatedLocations`, each message and `properties.lines` giving its
share and drop. A finding without ranked lines (--lines 0) has the function as
its region.
Files the scan could not use are listed, by kind, in the invocation's
`toolExecutionNotifications` and `properties.bad_files`; when no file could
be read the invocation says `executionSuccessful: false`. `partialFingerprints["streamguardFunction/v1"]`
is findings.function_fingerprint, `["streamguardFunctionName/v1"]` its
function key (the function whatever its text).

With a baseline (scan/baseline.py) each result carries its `baselineState`,
and the baseline's results that are gone follow as `absent` results (`kind`
"pass", `level` "none": nothing to fix). A finding with a false-positive
triage verdict (data/triage_file.py) carries a `suppressions` entry (external,
accepted, the verdict as justification, located at its line of the triage
file); any verdict is in the result's `properties.triage`. `runAutomationDetails.id` is
"streamguard/<model>": the registered version (detector@v0.1.0) when the
models came from one, else the content version. GitHub reads the part up to
the last "/" as the analysis category, so alerts stay tracked when the model
changes, while the run id names the model version that produced them. The
run's `properties.model` holds the full provenance (model_info.ModelInfo:
content version, commit, params file and its sha256, how the models were
chosen). GitHub accepts at most
25,000 results per run: beyond that the top-scoring are kept and the run's
properties say how many were dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote

from streamguard import __version__
from streamguard.scan.findings import Finding, top_findings
from streamguard.scan.model_info import ModelInfo
from streamguard.scan.walk import BadFiles, printable

if TYPE_CHECKING:
    from streamguard.scan.baseline import BaselineResult
    from streamguard.scan.review import Review

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
RULE_PREFIX = "streamguard/vulnerable-function"
FINGERPRINT_KEY = "streamguardFunction/v1"
FUNCTION_KEY = "streamguardFunctionName/v1"
MAX_RESULTS = 25_000  # GitHub code scanning's limit per run

_HELP = (
    "StreamGuard scores every C/C++ function with learned models (a TF-IDF lexical model, a transformer and a "
    "graph neural network over the code graph, as configured) and fuses their probabilities. A function is "
    "reported when the fused probability reaches the fusion's validated threshold (or --min-probability). "
    "It is a statistical signal learned from known vulnerable functions, not a proof: review bounds checks, "
    "lengths passed to memory and string functions, integer arithmetic on sizes, and ownership of freed memory."
)
_BAND_BASIS = (
    "The severity band comes from the fused probability relative to the fusion's threshold only; no measured "
    "precision per band exists yet, so the bands are set conservatively (none is critical)."
)
_MEASURED_BASIS = (
    "The severity band comes from the precision the detector measured, on projects it never saw, among "
    "functions scored like this one (the leave-project-out evaluation; the detector's MODEL_CARD.md): "
    "high from 0.5, medium from 0.2, low below."
)


@dataclass(frozen=True)
class Band:
    name: str  # high, medium, low: the rule id's last part
    security_severity: str  # GitHub: > 9.0 critical, 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low
    precision: str  # GitHub's very-high, high, medium, low
    level: str  # SARIF level of the band's results
    summary: str

    @property
    def rule_id(self) -> str:
        return f"{RULE_PREFIX}/{self.name}"


BANDS = (
    Band("high", "7.0", "medium", "error", "in the upper half of the range above the reporting threshold"),
    Band("medium", "5.0", "low", "warning", "at the reporting threshold or in the lower half of the range above it"),
    Band("low", "2.0", "low", "note", "below the reporting threshold (listed only on request)"),
)


# (band, lowest measured precision) for a detector's findings, best first
MEASURED_BANDS = ((BANDS[0], 0.5), (BANDS[1], 0.2), (BANDS[2], 0.0))
_MEASURED_SUMMARY = {
    "high": "in a score band where at least half the functions were vulnerable on projects the detector never saw",
    "medium": "in a score band where 20-50 % of the functions were vulnerable on projects the detector never saw",
    "low": "in a score band where under 20 % of the functions were vulnerable on projects the detector never saw",
}


def measured_band(precision: float) -> Band:
    """The severity band of a finding whose score band reached `precision` on unseen projects."""
    return next(b for b, lowest in MEASURED_BANDS if precision >= lowest)


def band(p: float, threshold: float) -> Band:
    """The severity band of fused probability p for a fusion whose reporting threshold is `threshold`."""
    if p < threshold:
        return BANDS[2]
    upper_half = round(threshold + (1 - threshold) / 2, 6)  # probabilities carry 6 decimals
    return BANDS[0] if p >= upper_half else BANDS[1]


def artifact_uri(uri: str) -> str:
    """A relative URI reference for a scan-root-relative path: its bytes percent-encoded but unreserved ones and /."""
    return quote(uri.encode("utf-8", "surrogateescape"), safe="/")


def rule(b: Band, measured: bool = False) -> dict:
    summary = _MEASURED_SUMMARY[b.name] if measured else b.summary
    basis = _MEASURED_BASIS if measured else _BAND_BASIS
    return {
        "id": b.rule_id,
        "name": f"VulnerableFunction{b.name.capitalize()}",
        "shortDescription": {"text": f"Function scored {summary}"},
        "fullDescription": {
            "text": f"The fused probability of StreamGuard's models that this C/C++ function contains a "
            f"vulnerability is {summary}."
        },
        "help": {"text": f"{_HELP} {basis}", "markdown": f"{_HELP}\n\n{basis}"},
        "defaultConfiguration": {"level": b.level},
        "properties": {
            "tags": ["security", "machine-learning"],
            "security-severity": b.security_severity,
            "precision": b.precision,
        },
    }


def _precision_text(u: dict[str, float]) -> str:
    return (
        f" On projects the detector never saw, {u['vulnerable']:.0f} of {u['functions']:.0f} functions scored in this "
        f"band (top {100 * u['top_from']:.0f}-{100 * u['top_to']:.0f} % of a tree) were vulnerable: precision "
        f"{u['precision']:.2f} [{u['precision_ci_low']:.2f}, {u['precision_ci_high']:.2f}]; a random pick "
        f"{u['base_rate']:.2f}."
    )


def result(finding: Finding, threshold: float) -> dict:
    p = finding.fused_probability
    u = finding.unseen_precision
    b = band(p, threshold) if u is None else measured_band(u["precision"])
    per_model = ", ".join(f"{m} {v:.3f}" for m, v in finding.probabilities.items())
    name = printable(finding.function)
    likely = "is likely vulnerable" if u is None or u["precision"] >= 0.5 else "is flagged for review"
    verdict = "is below the reporting threshold" if p < threshold else likely
    uri = {"uri": artifact_uri(finding.uri), "uriBaseId": "%SRCROOT%"}
    function = {"startLine": finding.start_line, "endLine": finding.end_line}
    lines = [{"startLine": s.start_line, "endLine": s.end_line} for s in finding.lines]
    driving = f" Line {finding.lines[0].label} drives the score most." if finding.lines else ""
    physical = {"artifactLocation": uri, "region": lines[0], "contextRegion": function} if lines else None
    out: dict = {
        "ruleId": b.rule_id,
        "ruleIndex": BANDS.index(b),
        "level": b.level,
        "rank": round(100 * p, 1),
        "message": {
            "text": f"Function '{name}' {verdict}: fused probability {p:.3f} (threshold {threshold:.3f}); "
            f"{per_model}.{driving}" + (_precision_text(u) if u is not None else "")
        },
        "locations": [
            {
                "physicalLocation": physical or {"artifactLocation": uri, "region": function},
                "logicalLocations": [{"name": name, "kind": "function"}],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint, FUNCTION_KEY: finding.function_key},
        "properties": {
            "band": b.name,
            "fused_probability": p,
            "probabilities": finding.probabilities,
            "lines": [s.to_dict() for s in finding.lines],
            **({"unseen_precision": u} if u is not None else {}),
        },
    }
    if len(lines) > 1:
        out["relatedLocations"] = [
            {
                "id": k,
                "physicalLocation": {"artifactLocation": uri, "region": region},
                "message": {"text": f"line {s.label} of the score's drivers: fused probability drops {s.drop:.3f}"},
            }
            for k, (s, region) in enumerate(zip(finding.lines[1:], lines[1:]), 1)
        ]
    return out


def _reviewed(res: dict, finding: Finding, review: Review) -> dict:
    """`res` with the finding's baseline state, suppression and triage verdict."""
    from streamguard.data.triage_file import TRIAGE_FILE

    if (state := review.state(finding)) is not None:
        res["baselineState"] = state
    verdict = review.verdict(finding)
    if verdict is not None and review.suppressed(finding):
        res["suppressions"] = [
            {
                "kind": "external",
                "status": "accepted",
                "justification": verdict.describe(),
                "location": {
                    "physicalLocation": {
                        "artifactLocation": {"uri": TRIAGE_FILE.as_posix(), "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": verdict.line},
                    }
                },
            }
        ]
    triage = review.to_dict(finding)["triage"]
    if triage is not None:
        res["properties"]["triage"] = triage
        if triage["applies_to"] != "this function":
            res["message"]["text"] += (
                f" Triaged {verdict_text(triage['verdict'])} for an earlier text of this function; "
                "it changed since, triage it again."
            )
    return res


def verdict_text(verdict: str) -> str:
    return verdict.replace("_", " ")


def absent_result(b: BaselineResult, baseline_file: str) -> dict:
    """A baseline result this scan no longer finds: listed as `absent`, nothing to fix."""
    known = {x.rule_id: i for i, x in enumerate(BANDS)}
    index = known.get(b.rule_id, 1)
    name = printable(b.function)
    return {
        "ruleId": BANDS[index].rule_id,
        "ruleIndex": index,
        "kind": "pass",
        "level": "none",
        "baselineState": "absent",
        "message": {
            "text": f"Function '{name}', reported in the baseline {printable(baseline_file)}, is no longer found "
            "at or above the reporting threshold."
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(b.uri), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": b.start_line, "endLine": max(b.start_line, b.end_line)},
                },
                "logicalLocations": [{"name": name, "kind": "function"}],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: b.fingerprint, FUNCTION_KEY: b.function_key},
    }


def _notifications(bad: BadFiles, scan: dict) -> list[dict]:
    nothing = (
        [
            {
                "level": "error",
                "descriptor": {"id": "SG-input/nothing-read"},
                "message": {"text": scan["checked_nothing"]},
            }
        ]
        if scan.get("checked_nothing")
        else []
    )
    if scan.get("sample_trained"):
        nothing.append(
            {
                "level": "warning",
                "descriptor": {"id": "SG-model/sample-trained"},
                "message": {"text": scan["sample_trained"]},
            }
        )
    return nothing + [
        {
            "level": "warning",
            "descriptor": {"id": f"SG-input/{kind}"},
            "message": {
                "text": f"{count} {kind.replace('_', '-')} file(s)"
                + (f", e.g. {'; '.join(bad.examples[kind][:5])}" if bad.examples[kind] else "")
            },
        }
        for kind, count in bad.counts.items()
        if count
    ]


def build_sarif(
    findings: list[Finding],
    model: ModelInfo,
    bad: BadFiles,
    scan: dict,
    information_uri: str | None = None,
    review: Review | None = None,
) -> dict:
    """The SARIF log of one scan; `scan` holds the run's figures (files, functions, options) for its properties."""
    kept = top_findings(findings, MAX_RESULTS)
    results = [result(f, model.threshold) for f in kept]
    if review is not None:
        results = [_reviewed(r, f, review) for r, f in zip(results, kept)]
        if review.comparison is not None:
            gone = review.comparison.absent[: MAX_RESULTS - len(results)]
            results += [absent_result(b, review.comparison.file) for b in gone]
    driver: dict = {
        "name": "StreamGuard",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [rule(b, measured=any(f.unseen_precision is not None for f in kept)) for b in BANDS],
    }
    if information_uri:
        driver["informationUri"] = information_uri
    return {
        "$schema": SCHEMA_URI,
        "version": "2.1.0",
        "runs": [
            {
                "tool": {"driver": driver},
                "automationDetails": {"id": model.run_id},
                "columnKind": "utf16CodeUnits",
                "invocations": [
                    {
                        "executionSuccessful": not scan.get("checked_nothing"),
                        "toolExecutionNotifications": _notifications(bad, scan),
                    }
                ],
                "results": results,
                "properties": {
                    "model": model.to_dict(),
                    "scan": {
                        **scan,
                        "results": len(kept),
                        "results_dropped_over_cap": len(findings) - len(kept),
                        "results_cap": MAX_RESULTS,
                    },
                    "bad_files": {"counts": bad.counts, "examples": bad.examples},
                },
            }
        ],
    }
