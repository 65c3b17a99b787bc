"""`scan --baseline`: new / unchanged / updated / absent results, and the gate on new ones, through the real CLI.

A real tiny model (the session's `trained` fixture) scans a git repository the test writes and edits;
every function is reported (--min-probability 0), so each edit's effect on the baseline state is exact.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import commit, git, init_repo, scan_with_trained, validate_sarif

BODY = "int {name}(int n) {{\n  int k = n;\n  k = k * 2;\n  return k + {v};\n}}\n\n"


def _sarif(trained, out: Path, *args: str, code: int = 0) -> dict:
    assert scan_with_trained(trained, *args, "--min-probability", "0", "--format", "sarif", "-o", str(out)) == code
    sarif = json.loads(out.read_text())
    validate_sarif(sarif)
    return sarif


def _states(sarif: dict) -> dict[str, str]:
    return {
        r["locations"][0]["logicalLocations"][0]["name"]: r.get("baselineState", "-")
        for r in sarif["runs"][0]["results"]
    }


def _functions(*names: str, edited: str = "") -> str:
    return "".join(BODY.format(name=n, v=9 if n == edited else 1) for n in names)


@pytest.fixture
def project(tmp_path):
    repo = init_repo(tmp_path / "project")
    (repo / "a.c").write_text(_functions("moved", "edited", "deleted"))
    (repo / "b.c").write_text(_functions("untouched"))
    (repo / "gone.c").write_text(_functions("in_deleted_file"))
    commit(repo, "base")
    return repo


def _edit(repo: Path) -> None:
    """Lines inserted above `moved`, `edited` changed, `deleted` removed, `added` new, gone.c deleted."""
    (repo / "a.c").write_text(
        "/* a comment\n   moves everything down */\n" + _functions("moved", "edited", edited="edited")
    )
    (repo / "c.c").write_text(_functions("added"))
    (repo / "gone.c").unlink()


def test_baseline_marks_each_result_and_validates(tmp_path, trained, project):
    base = _sarif(trained, tmp_path / "base.sarif", str(project))
    assert set(_states(base).values()) == {"-"}  # no baseline, no state
    _edit(project)
    sarif = _sarif(trained, tmp_path / "head.sarif", str(project), "--baseline", str(tmp_path / "base.sarif"))
    assert _states(sarif) == {
        "moved": "unchanged",
        "edited": "updated",
        "untouched": "unchanged",
        "added": "new",
        "deleted": "absent",
        "in_deleted_file": "absent",
    }
    results = {r["locations"][0]["logicalLocations"][0]["name"]: r for r in sarif["runs"][0]["results"]}
    assert results["moved"]["locations"][0]["physicalLocation"]["contextRegion"]["startLine"] == 3  # two lines down
    assert results["deleted"]["kind"] == "pass" and results["deleted"]["level"] == "none"
    summary = sarif["runs"][0]["properties"]["scan"]["baseline"]
    assert summary == {
        "file": "base.sarif",
        "new": 1,
        "unchanged": 2,
        "updated": 1,
        "absent": 2,
        "not_rescanned": 0,
    }
    # a report made with a baseline serves as the next baseline: its absent results are not carried on
    again = _sarif(trained, tmp_path / "again.sarif", str(project), "--baseline", str(tmp_path / "head.sarif"))
    assert set(_states(again).values()) == {"unchanged"}


def test_table_and_json_show_the_baseline_state(tmp_path, trained, project, capsys):
    _sarif(trained, tmp_path / "base.sarif", str(project))
    _edit(project)
    capsys.readouterr()
    assert (
        scan_with_trained(trained, str(project), "--min-probability", "0", "--baseline", str(tmp_path / "base.sarif"))
        == 0
    )
    out, err = capsys.readouterr()
    # columns: location, function, fused, each model, baseline, lines
    rows = {line.split("│")[2].strip(): line.split("│")[-3].strip() for line in out.splitlines() if line.count("│") > 4}
    assert {k: rows[k] for k in ("moved", "edited", "added")} == {
        "moved": "unchanged",
        "edited": "updated",
        "added": "new",
    }
    assert "(1 new, 1 updated, 2 unchanged, 2 absent)" in err.replace("\n", "")
    report = tmp_path / "head.json"
    scan_with_trained(
        trained,
        str(project),
        "--min-probability",
        "0",
        "--baseline",
        str(tmp_path / "base.sarif"),
        "--format",
        "json",
        "-o",
        str(report),
    )
    data = json.loads(report.read_text())
    assert {f["function"]: f["baseline_state"] for f in data["findings"]}["edited"] == "updated"
    assert {a["function"] for a in data["absent"]} == {"deleted", "in_deleted_file"}


def test_fail_on_findings_gates_on_new_results_only(tmp_path, trained, project):
    _sarif(trained, tmp_path / "base.sarif", str(project))
    baseline = ["--baseline", str(tmp_path / "base.sarif")]
    gate = ["--min-probability", "0", "--fail-on-findings", "-o", str(tmp_path / "gate.txt")]
    (project / "a.c").write_text("\n\n" + _functions("moved", "edited", "deleted", edited="edited"))
    assert scan_with_trained(trained, str(project), *gate, *baseline) == 0  # moved and updated: known before
    assert scan_with_trained(trained, str(project), *gate) == 1  # without a baseline every finding counts
    (project / "c.c").write_text(_functions("added"))
    assert scan_with_trained(trained, str(project), *gate, *baseline) == 1


def test_baseline_with_changed_since_marks_only_what_it_rescanned(tmp_path, trained, project, monkeypatch):
    _sarif(trained, tmp_path / "base.sarif", str(project))
    base_rev = git(project, "rev-parse", "HEAD").strip()
    _edit(project)
    monkeypatch.chdir(project)
    sarif = _sarif(
        trained, tmp_path / "pr.sarif", ".", "--changed-since", base_rev, "--baseline", str(tmp_path / "base.sarif")
    )
    # `moved` only moved (the inserted lines lie above it) and b.c is untouched: neither is rescanned, so
    # neither is absent; the edited function is updated, the deleted function and file are absent
    assert _states(sarif) == {
        "edited": "updated",
        "added": "new",
        "deleted": "absent",
        "in_deleted_file": "absent",
    }
    assert sarif["runs"][0]["properties"]["scan"]["baseline"]["not_rescanned"] == 2


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (b"{not json", "line 1 column 2"),
        (b"\xff\xfe garbage", "not UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"version": "2.1.0"}', "no `runs` list"),
        (b'{"runs": [{"results": [{"ruleId": "x"}]}]}', "runs[0].results[0]: no partialFingerprints"),
        (
            json.dumps(
                {"runs": [{"results": [{"partialFingerprints": {"streamguardFunction/v1": "a" * 64}, "locations": 5}]}]}
            ).encode(),
            "runs[0].results[0]: no location",
        ),
        (
            json.dumps(
                {
                    "runs": [
                        {
                            "results": [
                                {
                                    "partialFingerprints": {"streamguardFunction/v1": "a" * 64},
                                    "locations": [
                                        {
                                            "physicalLocation": {
                                                "artifactLocation": {"uri": "a.c"},
                                                "region": {"startLine": "1"},
                                            },
                                            "logicalLocations": [{"name": "f"}],
                                        }
                                    ],
                                }
                            ]
                        }
                    ]
                }
            ).encode(),
            "are not line numbers",
        ),
    ],
    ids=["not-json", "not-utf8", "deep", "not-sarif", "other-tool", "bad-location", "bad-line"],
)
def test_hostile_baseline_is_an_error_naming_the_file(tmp_path, trained, project, capsys, content, expected):
    bad = tmp_path / "bad.sarif"
    bad.write_bytes(content)
    assert scan_with_trained(trained, str(project), "--baseline", str(bad), "-o", str(tmp_path / "out.txt")) == 2
    err = capsys.readouterr().err
    assert str(bad) in err.replace("\n", "") and expected in err.replace("\n", "") and "Traceback" not in err
    assert not (tmp_path / "out.txt").exists()  # refused before scoring, no report


@pytest.mark.parametrize("kind", ["missing", "directory"])
def test_unreadable_baseline_is_an_error_naming_the_file(tmp_path, trained, project, capsys, kind):
    where = tmp_path / "base.sarif"
    if kind == "directory":
        where.mkdir()
    assert scan_with_trained(trained, str(project), "--baseline", str(where)) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert f"--baseline {where}" in err and "Traceback" not in err
