"""`streamguard triage` and the triage file: verdicts that suppress findings and survive code moving, via the CLI.

The `trained` fixture's high-scoring function is planted in a git repository; the test triages it,
moves it, edits it, and imports suppressions from a SARIF report, scanning the real files each time.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import commit, init_repo, scan_with_trained, validate_sarif

from streamguard.cli import main

TRIAGE = Path(".streamguard/triage.jsonl")


def _sarif(trained, repo: Path, out: Path, *args: str) -> dict:
    assert scan_with_trained(trained, str(repo), *args, "--format", "sarif", "-o", str(out)) == 0
    sarif = json.loads(out.read_text())
    validate_sarif(sarif)
    return sarif


def _only_result(sarif: dict) -> dict:
    (result,) = sarif["runs"][0]["results"]  # the default threshold reports only the planted high function
    return result


@pytest.fixture
def project(tmp_path, trained):
    repo = init_repo(tmp_path / "project")
    (repo / "core.c").write_text(trained["high"][0] + "\n")
    commit(repo, "base")
    return repo


def _triage(repo: Path, *args: str) -> int:
    return main(["triage", "--repo", str(repo), *args])


def test_a_false_positive_stays_suppressed_when_lines_are_inserted_above(tmp_path, trained, project, capsys):
    fingerprint = _only_result(_sarif(trained, project, tmp_path / "a.sarif"))["partialFingerprints"][
        "streamguardFunction/v1"
    ]
    gate = ["--fail-on-findings", "-o", str(tmp_path / "gate.txt")]
    assert scan_with_trained(trained, str(project), *gate) == 1
    reason = "length checked by the caller"
    assert _triage(project, fingerprint[:12], "--verdict", "false-positive", "--reason", reason, "--who", "ana") == 0
    (verdict,) = [json.loads(line) for line in (project / TRIAGE).read_text().splitlines()]
    assert verdict["fingerprint"] == fingerprint and verdict["verdict"] == "false_positive"
    assert (verdict["file"], verdict["who"], verdict["reason"]) == ("core.c", "ana", reason)
    assert verdict["when"].endswith("+00:00")

    result = _only_result(_sarif(trained, project, tmp_path / "b.sarif"))
    (suppression,) = result["suppressions"]
    assert suppression["status"] == "accepted" and reason in suppression["justification"]
    triage_location = suppression["location"]["physicalLocation"]
    assert (triage_location["artifactLocation"]["uri"], triage_location["region"]["startLine"]) == (str(TRIAGE), 1)
    assert scan_with_trained(trained, str(project), *gate) == 0  # suppressed: the gate no longer fires

    core = project / "core.c"
    core.write_text("#include <stdio.h>\n/* inserted\n   above */\n\n" + core.read_text())
    moved = _only_result(_sarif(trained, project, tmp_path / "c.sarif"))
    assert moved["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    assert moved["partialFingerprints"]["streamguardFunction/v1"] == fingerprint
    assert moved["suppressions"][0]["justification"] == suppression["justification"]
    assert scan_with_trained(trained, str(project), *gate) == 0


def test_an_edited_function_shows_its_earlier_verdict_without_suppression(tmp_path, trained, project):
    fingerprint = _only_result(_sarif(trained, project, tmp_path / "a.sarif"))["partialFingerprints"][
        "streamguardFunction/v1"
    ]
    assert _triage(project, fingerprint, "--verdict", "false-positive", "--reason", "safe") == 0
    core = project / "core.c"
    core.write_text(core.read_text().replace("{", "{ int reviewed_since = 0;", 1))
    result = _only_result(_sarif(trained, project, tmp_path / "b.sarif"))
    assert "suppressions" not in result
    assert result["properties"]["triage"]["applies_to"] == "an earlier text"
    assert "triage it again" in result["message"]["text"]
    assert scan_with_trained(trained, str(project), "--fail-on-findings", "-o", str(tmp_path / "gate.txt")) == 1


def test_a_true_positive_is_recorded_not_suppressed(tmp_path, trained, project):
    fingerprint = _only_result(_sarif(trained, project, tmp_path / "a.sarif"))["partialFingerprints"][
        "streamguardFunction/v1"
    ]
    assert _triage(project, fingerprint, "--verdict", "true-positive", "--reason", "CVE pending") == 0
    result = _only_result(_sarif(trained, project, tmp_path / "b.sarif"))
    assert "suppressions" not in result
    assert result["properties"]["triage"]["verdict"] == "true_positive"
    assert scan_with_trained(trained, str(project), "--fail-on-findings", "-o", str(tmp_path / "gate.txt")) == 1


def test_suppressions_import_from_a_sarif_report(tmp_path, trained, project):
    sarif = _sarif(trained, project, tmp_path / "a.sarif")
    _only_result(sarif)["suppressions"] = [{"kind": "external", "status": "accepted", "justification": "test code"}]
    reviewed = tmp_path / "reviewed.sarif"
    reviewed.write_text(json.dumps(sarif))
    assert _triage(project, "--import", str(reviewed)) == 0
    (verdict,) = [json.loads(line) for line in (project / TRIAGE).read_text().splitlines()]
    assert (verdict["verdict"], verdict["reason"], verdict["file"]) == ("false_positive", "test code", "core.c")
    assert "suppressions" in _only_result(_sarif(trained, project, tmp_path / "b.sarif"))
    assert _triage(project, "--import", str(reviewed)) == 0  # already suppressed: nothing added twice
    assert len((project / TRIAGE).read_text().splitlines()) == 1


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("{broken", "not a JSON object"),
        ('["a list"]', "must be a JSON object"),
        ('{"fingerprint": "x"}', "missing or not text"),
    ],
)
def test_a_damaged_triage_file_is_an_error_naming_its_line(tmp_path, trained, project, capsys, line, expected):
    (project / TRIAGE).parent.mkdir()
    (project / TRIAGE).write_text("\n" + line + "\n")
    assert scan_with_trained(trained, str(project), "-o", str(tmp_path / "out.txt")) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert f"{project / TRIAGE}:2" in err and expected in err and "Traceback" not in err


def test_triage_refuses_an_unknown_or_malformed_fingerprint(tmp_path, project, capsys):
    assert _triage(project, "0" * 64, "--verdict", "false-positive", "--reason", "x") == 2
    assert "no function in" in capsys.readouterr().err
    assert _triage(project, "xyz", "--verdict", "false-positive", "--reason", "x") == 2
    assert "64 hex digits" in capsys.readouterr().err.replace("\n", "")
    assert not (project / TRIAGE).exists()


def test_import_of_a_file_that_is_no_report_is_named(tmp_path, project, capsys):
    bad = tmp_path / "reviewed.sarif"
    bad.write_text('{"runs": [{"results": [{"ruleId": "other-tool"}]}]}')
    assert _triage(project, "--import", str(bad)) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert f"--import {bad}: runs[0].results[0]: no partialFingerprints" in err and "Traceback" not in err
    assert not (project / TRIAGE).exists()
