"""`streamguard scan`: a real tiny model (lexical + fusion) over a git repo the test writes, reported as SARIF.

The repo holds planted functions (real sample functions whose fused probability the pipeline itself
computed) at known lines, vendored/build folders, an ignored file, a binary, a non-UTF-8 and a huge file
and a dangling symlink.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest
from conftest import commit, git, init_repo, scan_with_trained, validate_sarif

from streamguard.scan.findings import Finding
from streamguard.scan.model_info import ModelInfo
from streamguard.scan.sarif import FINGERPRINT_KEY, MAX_RESULTS, band, build_sarif
from streamguard.scan.walk import MAX_FILE_BYTES, BadFiles


def _lines(text: str) -> int:
    return text.count("\n") + 1


def _sarif(trained, out: Path, *args: str) -> dict:
    assert scan_with_trained(trained, *args, "--format", "sarif", "-o", str(out)) == 0
    return json.loads(out.read_text())


def _regions(sarif: dict) -> dict[tuple[str, int, int], dict]:
    found = {}
    for res in sarif["runs"][0]["results"]:
        loc = res["locations"][0]["physicalLocation"]
        function = loc.get("contextRegion", loc["region"])  # the region is the line driving the score
        found[(loc["artifactLocation"]["uri"], function["startLine"], function["endLine"])] = res
    return found


@pytest.fixture
def planted_repo(tmp_path, trained):
    """A git repo with planted functions at known lines and every kind of file scan must skip or count."""
    repo = init_repo(tmp_path / "project")
    high, low = trained["high"][0], trained["low"][0]
    header = "/* planted */\n#include <string.h>\n\n"
    (repo / "src").mkdir()
    (repo / "src/core.c").write_text(header + high + "\n\n" + low + "\n")
    # a Latin-1 comment: counted as non-UTF-8, still scanned, lines exact
    (repo / "src/latin1.c").write_bytes(b"/* caf\xe9 */\n" + low.encode() + b"\n")
    for skipped in ("vendor/zlib/inflate.c", "third_party/x/x.h", "build/gen.c", "node_modules/m/m.c"):
        (repo / skipped).parent.mkdir(parents=True)
        (repo / skipped).write_text(high)
    (repo / "src/blob.c").write_bytes(b"int f(void) { return 0; }\n\0\0\0")
    (repo / "src/huge.c").write_bytes(b"/*" + b"x" * MAX_FILE_BYTES + b"*/\n")
    (repo / "src/gone.c").symlink_to(repo / "nowhere.c")  # tracked, but cannot be read
    (repo / "README.txt").write_text(high)  # not C
    (repo / ".gitignore").write_text("ignored.c\n")
    (repo / "ignored.c").write_text(high)
    (repo / "src/removed.c").write_text(high)
    commit(repo, "initial")
    (repo / "src/removed.c").unlink()  # deleted from the working tree: not scanned, not "unreadable"
    (repo / "src/untracked.cpp").write_text(low + "\n")  # untracked but not ignored: scanned
    return repo


def test_sarif_is_valid_and_locates_planted_functions(tmp_path, trained, planted_repo):
    sarif = _sarif(trained, tmp_path / "out.sarif", str(planted_repo), "--min-probability", "0")
    validate_sarif(sarif)
    run = sarif["runs"][0]
    high, low = trained["high"][0], trained["low"][0]
    high_start = 4
    low_start = high_start + _lines(high) + 1
    expected = {
        ("src/core.c", high_start, high_start + _lines(high) - 1),
        ("src/core.c", low_start, low_start + _lines(low) - 1),
        ("src/latin1.c", 2, 1 + _lines(low)),
        ("src/untracked.cpp", 1, _lines(low)),
    }
    found = _regions(sarif)
    assert set(found) == expected  # nothing from vendor/, build/, third_party/, node_modules/, ignored, .txt
    res = found[("src/core.c", high_start, high_start + _lines(high) - 1)]
    rules = run["tool"]["driver"]["rules"]
    assert res["ruleId"] == band(trained["high"][1], run["properties"]["model"]["threshold"]).rule_id
    assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
    assert res["properties"]["fused_probability"] == pytest.approx(trained["high"][1], abs=1e-6)
    assert f"{trained['high'][1]:.3f}" in res["message"]["text"] and "lexical" in res["message"]["text"]
    assert res["level"] in ("warning", "error")
    below = found[("src/core.c", low_start, low_start + _lines(low) - 1)]
    assert below["level"] == "note" and "below the reporting threshold" in below["message"]["text"]
    assert res["locations"][0]["physicalLocation"]["artifactLocation"]["uriBaseId"] == "%SRCROOT%"
    rule = rules[res["ruleIndex"]]
    assert "security" in rule["properties"]["tags"] and rule["help"]["text"] and rule["fullDescription"]["text"]
    model = run["properties"]["model"]
    assert run["automationDetails"]["id"] == f"streamguard/{model['version']}" == f"streamguard/{model['label']}"
    assert model["source"] == {"kind": "model-dir", "reference": str(trained["models"])}
    assert model["params_sha256"] == hashlib.sha256(trained["params"].read_bytes()).hexdigest()
    assert run["properties"]["bad_files"]["counts"] == {
        "unreadable": 1,
        "not_regular": 0,
        "outside_tree": 0,
        "binary": 1,
        "huge": 1,
        "non_utf8": 1,
        "parse_failure": 0,
    }
    assert run["properties"]["scan"]["functions_scored"] == 4


def test_default_threshold_and_table(tmp_path, trained, planted_repo, capsys):
    sarif = _sarif(trained, tmp_path / "out.sarif", str(planted_repo))
    assert [r["properties"]["fused_probability"] for r in sarif["runs"][0]["results"]] == [
        pytest.approx(trained["high"][1], abs=1e-6)
    ]  # only the function at or above the fusion's threshold
    capsys.readouterr()
    assert scan_with_trained(trained, str(planted_repo), "--min-probability", "0", "--top", "2") == 0
    table = capsys.readouterr().out
    assert "src/core.c:4" in table and f"{trained['high'][1]:.3f}" in table
    assert table.count("│ src/") == 2  # --top 2: two rows


def test_fingerprints_are_stable_across_runs_and_moves_but_not_edits(tmp_path, trained, planted_repo):
    def fingerprints(name: str) -> dict[tuple[str, int], str]:
        sarif = _sarif(trained, tmp_path / name, str(planted_repo), "--min-probability", "0")
        return {
            (uri, start): r["partialFingerprints"][FINGERPRINT_KEY] for (uri, start, _), r in _regions(sarif).items()
        }

    first, again = fingerprints("a.sarif"), fingerprints("b.sarif")
    assert first == again and len(set(first.values())) == len(first)  # stable, and distinct per function
    core = planted_repo / "src/core.c"
    core.write_text("// a new comment\n\n" + core.read_text())  # moves both functions down two lines
    moved = fingerprints("c.sarif")
    assert moved[("src/core.c", 6)] == first[("src/core.c", 4)]
    core.write_text(core.read_text().replace("{", "{ int planted_edit = 1;", 1))
    edited = fingerprints("d.sarif")
    assert edited[("src/core.c", 6)] != first[("src/core.c", 4)]


def test_worker_processes_and_batch_size_do_not_change_the_report(tmp_path, trained, planted_repo):
    """Batches of one function over two forked workers: the same findings, each on its own function."""
    from streamguard.scan.run import ScanOptions, run_scan

    def findings(**kw) -> tuple[list[tuple], dict]:
        opts = ScanOptions(
            [planted_repo], models_dir=trained["models"], params_file=trained["params"], min_probability=0.0, **kw
        )
        result = run_scan(opts)
        return [
            (f.uri, f.start_line, f.end_line, f.fingerprint, f.probabilities) for f in result.findings
        ], result.stats

    alone, alone_stats = findings(workers=1)
    forked, forked_stats = findings(workers=2, batch_size=1)
    assert forked == alone and len(alone) == alone_stats["functions_scored"] == 4
    assert (forked_stats["workers"], alone_stats["workers"]) == (2, 1)
    assert forked_stats["cpu_s"] > 0


def test_a_dead_scoring_worker_ends_the_scan_with_one_line(tmp_path, trained, planted_repo, monkeypatch, capsys):
    """A worker killed mid-scan (as by the out-of-memory killer) is an error, not a scan that waits forever."""
    from streamguard.models.scorer import Scorer

    monkeypatch.setattr(Scorer, "score", lambda self, records: os._exit(9))  # forked workers inherit it
    assert scan_with_trained(trained, str(planted_repo), "--workers", "2", "-o", str(tmp_path / "out.txt")) == 2
    err = capsys.readouterr().err
    assert "scoring worker process died" in err and "--workers 2" in err and "Traceback" not in err


def test_fail_on_findings_exit_codes(tmp_path, trained):
    for name, (func, _) in (("high", trained["high"]), ("low", trained["low"])):
        repo = init_repo(tmp_path / name)
        (repo / "f.c").write_text(func + "\n")
        commit(repo, name)
        code = scan_with_trained(trained, str(repo), "--fail-on-findings", "-o", str(tmp_path / f"{name}.txt"))
        assert code == (1 if name == "high" else 0), name
        assert scan_with_trained(trained, str(repo), "-o", str(tmp_path / f"{name}.txt")) == 0  # only with the flag


def test_changed_since_scans_only_touched_functions(tmp_path, trained, monkeypatch):
    repo = init_repo(tmp_path / "twocommits")
    body = "int {name}(int n) {{\n  int k = n;\n  k = k * 2;\n  return k + {v};\n}}\n\n"
    (repo / "a.c").write_text("".join(body.format(name=n, v=1) for n in ("keep", "edit", "trimmed")))
    (repo / "b.c").write_text(body.format(name="other", v=1))
    commit(repo, "one")
    base = git(repo, "rev-parse", "HEAD").strip()
    a = (repo / "a.c").read_text().replace("return k + 1;\n}\n\nint trimmed", "return k + 7;\n}\n\nint trimmed")
    (repo / "a.c").write_text(a)
    commit(repo, "two")
    # working tree: a deletion-only hunk inside `trimmed`, and a new untracked file
    head, tail = a.split("int trimmed")
    (repo / "a.c").write_text(head + "int trimmed" + tail.replace("  k = k * 2;\n", "", 1))
    assert (repo / "a.c").read_text().count("k * 2") == 2
    (repo / "new.c").write_text(body.format(name="fresh", v=3))
    monkeypatch.chdir(repo)
    out = tmp_path / "changed.json"
    assert (
        scan_with_trained(
            trained, ".", "--changed-since", base, "--min-probability", "0", "--format", "json", "-o", str(out)
        )
        == 0
    )
    report = json.loads(out.read_text())
    assert {(f["file"], f["function"]) for f in report["findings"]} == {
        ("a.c", "edit"),
        ("a.c", "trimmed"),
        ("new.c", "fresh"),
    }
    assert report["scan"]["changed_since"] == base


def test_bad_revision_is_a_one_line_error(tmp_path, trained, planted_repo, capsys):
    assert scan_with_trained(trained, str(planted_repo), "--changed-since", "no-such-rev") == 2
    err = capsys.readouterr().err
    assert "no-such-rev" in err and "Traceback" not in err


def test_sarif_keeps_the_top_25000_results_and_says_so():
    model = ModelInfo(
        models_dir="m",
        models=["lexical"],
        threshold=0.5,
        version="0" * 16,
        git_rev=None,
        params_file="params.yaml",
        params_sha256=None,
    )
    findings = [
        Finding("a.c", f"f{i}", i + 1, i + 1, f"{i:064x}", round(0.5 + i / (4 * MAX_RESULTS), 6), {"lexical": 0.5})
        for i in range(MAX_RESULTS + 3)
    ]
    run = build_sarif(findings, model, BadFiles(), {})["runs"][0]
    assert len(run["results"]) == MAX_RESULTS
    assert run["properties"]["scan"]["results_dropped_over_cap"] == 3
    kept = {r["locations"][0]["logicalLocations"][0]["name"] for r in run["results"]}
    assert {"f0", "f1", "f2"}.isdisjoint(kept) and f"f{MAX_RESULTS + 2}" in kept  # the lowest three went
