"""SARIF 2.1.0 for GitHub code scanning: one rule, one result per flagged function.

Mapping from the fused probability p (documented here because code scanning
shows it to people):

- `security-severity` = 10 * p, rounded to one decimal and kept in [0.1, 10.0];
  GitHub's bands then read p >= 0.9 critical, >= 0.7 high, >= 0.4 medium, else low.
- `precision`: p >= 0.9 "very-high", >= 0.75 "high", >= 0.5 "medium", else "low".
- `level`: p >= 0.9 "error", p >= the fusion's threshold "warning", else "note"
  (below-threshold results appear only when --min-probability asks for them).
- `rank` = 100 * p (SARIF's own 0-100 priority).

The rule carries the values for p at the fusion's threshold, the least a
default finding scores; each result carries its own in `properties`.

Locations are URIs relative to the scan root (scan/walk.py) under
`%SRCROOT%`, percent-encoded as RFC 3986 and SARIF §3.10 ask (every byte of
the UTF-8 path but unreserved characters and `/`; a name's bytes that are not
UTF-8 as themselves), with a region from the function's first to last line.
Files the scan could not use are listed, by kind, in the invocation's
`toolExecutionNotifications` and `properties.bad_files`; when no file could
be read the invocation says `executionSuccessful: false`. `partialFingerprints["streamguardFunction/v1"]`
is findings.function_fingerprint. `runAutomationDetails.id` is
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

from urllib.parse import quote

from streamguard import __version__
from streamguard.scan.findings import Finding, top_findings
from streamguard.scan.model_info import ModelInfo
from streamguard.scan.walk import BadFiles, printable

SCHEMA_URI = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
RULE_ID = "SG001/vulnerable-function"
FINGERPRINT_KEY = "streamguardFunction/v1"
MAX_RESULTS = 25_000  # GitHub code scanning's limit per run

_HELP = (
    "StreamGuard scores every C/C++ function with learned models (a TF-IDF lexical model, a transformer and a "
    "graph neural network over the code graph, as configured) and fuses their probabilities. A function is "
    "reported when the fused probability reaches the fusion's validated threshold (or --min-probability). "
    "It is a statistical signal learned from known vulnerable functions, not a proof: review bounds checks, "
    "lengths passed to memory and string functions, integer arithmetic on sizes, and ownership of freed memory."
)


def security_severity(p: float) -> str:
    return f"{min(10.0, max(0.1, round(10 * p, 1))):.1f}"


def precision(p: float) -> str:
    return "very-high" if p >= 0.9 else "high" if p >= 0.75 else "medium" if p >= 0.5 else "low"


def level(p: float, threshold: float) -> str:
    return "error" if p >= 0.9 else "warning" if p >= threshold else "note"


def artifact_uri(uri: str) -> str:
    """A relative URI reference for a scan-root-relative path: its bytes percent-encoded but unreserved ones and /."""
    return quote(uri.encode("utf-8", "surrogateescape"), safe="/")


def rule(model: ModelInfo) -> dict:
    return {
        "id": RULE_ID,
        "name": "VulnerableFunction",
        "shortDescription": {"text": "Function likely to be vulnerable"},
        "fullDescription": {
            "text": "The fused probability of StreamGuard's models that this C/C++ function "
            "contains a vulnerability reaches the reporting threshold."
        },
        "help": {"text": _HELP, "markdown": _HELP},
        "defaultConfiguration": {"level": "warning"},
        "properties": {
            "tags": ["security", "machine-learning"],
            "security-severity": security_severity(model.threshold),
            "precision": precision(model.threshold),
        },
    }


def result(finding: Finding, threshold: float) -> dict:
    p = finding.fused_probability
    per_model = ", ".join(f"{m} {v:.3f}" for m, v in finding.probabilities.items())
    name = printable(finding.function)
    return {
        "ruleId": RULE_ID,
        "ruleIndex": 0,
        "level": level(p, threshold),
        "rank": round(100 * p, 1),
        "message": {
            "text": f"Function '{name}' is likely vulnerable: fused probability {p:.3f} "
            f"(threshold {threshold:.3f}); {per_model}."
        },
        "locations": [
            {
                "physicalLocation": {
                    "artifactLocation": {"uri": artifact_uri(finding.uri), "uriBaseId": "%SRCROOT%"},
                    "region": {"startLine": finding.start_line, "endLine": finding.end_line},
                },
                "logicalLocations": [{"name": name, "kind": "function"}],
            }
        ],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {
            "security-severity": security_severity(p),
            "precision": precision(p),
            "fused_probability": p,
            "probabilities": finding.probabilities,
        },
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
    findings: list[Finding], model: ModelInfo, bad: BadFiles, scan: dict, information_uri: str | None = None
) -> dict:
    """The SARIF log of one scan; `scan` holds the run's figures (files, functions, options) for its properties."""
    kept = top_findings(findings, MAX_RESULTS)
    driver: dict = {
        "name": "StreamGuard",
        "version": __version__,
        "semanticVersion": __version__,
        "rules": [rule(model)],
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
                "results": [result(f, model.threshold) for f in kept],
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
