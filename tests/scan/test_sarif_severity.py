"""The severity GitHub code scanning shows for each StreamGuard alert.

GitHub reads `security-severity` from the rule a result references (the reportingDescriptor's
`properties`), never from the result, and translates the score: above 9.0 critical, 7.0-8.9 high,
4.0-6.9 medium, 0.1-3.9 low, anything else none. `github_severity` below applies that translation to
the SARIF log as GitHub would, so the tests check what a person sees in the Security tab.
"""

from __future__ import annotations

import pytest
from conftest import validate_sarif

from streamguard.scan.findings import Finding
from streamguard.scan.model_info import ModelInfo
from streamguard.scan.sarif import build_sarif
from streamguard.scan.walk import BadFiles


def github_severity(run: dict, res: dict) -> str:
    """The security severity GitHub shows for one result: its rule's score, translated as GitHub documents."""
    rule = run["tool"]["driver"]["rules"][res["ruleIndex"]]
    assert rule["id"] == res["ruleId"]
    score = float(rule["properties"]["security-severity"])
    if 9.0 < score <= 10.0:
        return "critical"
    if 7.0 <= score < 9.0:
        return "high"
    if 4.0 <= score < 7.0:
        return "medium"
    if 0.1 <= score < 4.0:
        return "low"
    return "none"


def _model(threshold: float) -> ModelInfo:
    return ModelInfo(
        models_dir="m",
        models=["lexical"],
        threshold=threshold,
        version="0" * 16,
        git_rev=None,
        params_file="params.yaml",
        params_sha256=None,
    )


def _run(threshold: float, probabilities: list[float]) -> dict:
    findings = [
        Finding("src/a.c", f"f{i}", 10 * i + 1, 10 * i + 5, f"{i:064x}", p, {"lexical": p})
        for i, p in enumerate(probabilities)
    ]
    sarif = build_sarif(findings, _model(threshold), BadFiles(), {})
    validate_sarif(sarif)
    return sarif["runs"][0]


def _by_name(run: dict) -> dict[str, dict]:
    return {r["locations"][0]["logicalLocations"][0]["name"]: r for r in run["results"]}


@pytest.mark.parametrize(
    ("threshold", "expected"),
    [
        # p relative to t: below -> low, [t, t + (1 - t) / 2) -> medium, above -> high
        (0.5, {0.1: "low", 0.499: "low", 0.5: "medium", 0.749: "medium", 0.75: "high", 1.0: "high"}),
        (0.2, {0.19: "low", 0.2: "medium", 0.59: "medium", 0.6: "high", 0.95: "high"}),
        (0.9, {0.5: "low", 0.899: "low", 0.9: "medium", 0.949: "medium", 0.95: "high"}),
    ],
)
def test_github_shows_the_band_of_p_relative_to_the_threshold(threshold, expected):
    probs = list(expected)
    run = _run(threshold, probs)
    shown = {p: github_severity(run, _by_name(run)[f"f{i}"]) for i, p in enumerate(probs)}
    assert shown == expected


def test_severity_and_precision_sit_on_the_rules_where_github_reads_them():
    run = _run(0.5, [0.3, 0.6, 0.9])
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [
        "streamguard/vulnerable-function/high",
        "streamguard/vulnerable-function/medium",
        "streamguard/vulnerable-function/low",
    ]
    for rule in rules:
        assert rule["properties"]["precision"] in ("very-high", "high", "medium", "low")
        assert "security" in rule["properties"]["tags"]
        assert "conservatively" in rule["help"]["text"] and "no measured precision" in rule["help"]["text"]
    # without measured precision no band claims critical, nor more than medium precision
    assert {github_severity(run, r) for r in run["results"]} == {"low", "medium", "high"}
    assert {r["properties"]["precision"] for r in rules} <= {"medium", "low"}
    for res in run["results"]:
        assert "security-severity" not in res["properties"]  # GitHub ignores it there


def test_levels_and_messages_follow_the_band():
    run = _run(0.5, [0.3, 0.6, 0.9])
    below, at, above = (_by_name(run)[f"f{i}"] for i in range(3))
    assert (below["level"], at["level"], above["level"]) == ("note", "warning", "error")
    assert "is below the reporting threshold" in below["message"]["text"]
    assert "likely vulnerable" not in below["message"]["text"]
    assert "0.300 (threshold 0.500)" in below["message"]["text"]
    for res in (at, above):
        assert "is likely vulnerable" in res["message"]["text"]
    assert [r["properties"]["band"] for r in (below, at, above)] == ["low", "medium", "high"]
