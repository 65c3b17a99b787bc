"""The `triage` collector: a repository's scan verdicts become Phase 2 training records, through the real CLI.

A git repository gets three functions and three verdicts written by `streamguard triage`; one function is
edited afterwards. `streamguard collect triage` and `streamguard preprocess` (data.phase 2) then run on real
files, and the training split must hold the two unchanged functions with their verdicts as labels.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import commit, init_repo

from streamguard.cli import main
from streamguard.data.fingerprints import function_fingerprint
from streamguard.data.records import read_records, read_split, write_records

FUNCTIONS = {
    "checked": "int checked(char *dst, const char *src, int n) {\n  if (n > 16) return -1;\n"
    "  memcpy(dst, src, n);\n  dst[n] = 0;\n  return n + 0;\n}\n",
    "unchecked": "int unchecked(char *dst, const char *src, int n) {\n  memcpy(dst, src, n);\n"
    "  dst[n] = 0;\n  return n + dst[0] + src[1];\n}\n",
    "edited": "int edited(char *dst, const char *src, int n) {\n  strcpy(dst, src);\n"
    "  dst[n - 1] = 0;\n  return n * 2 + dst[0];\n}\n",
}
VERDICTS = {"checked": "false-positive", "unchecked": "true-positive", "edited": "false-positive"}


@pytest.fixture
def triaged(tmp_path) -> Path:
    repo = init_repo(tmp_path / "libdemo")
    (repo / "src").mkdir()
    (repo / "src/copy.c").write_text("#include <string.h>\n\n" + "\n".join(FUNCTIONS.values()))
    commit(repo, "base")
    for name, verdict in VERDICTS.items():
        fingerprint = function_fingerprint("src/copy.c", name, FUNCTIONS[name])
        assert main(["triage", fingerprint, "--verdict", verdict, "--reason", "reviewed", "--repo", str(repo)]) == 0
    copy = repo / "src/copy.c"
    copy.write_text(copy.read_text().replace("strcpy(dst, src);", "strncpy(dst, src, n);"))  # after its verdict
    return repo


def _params(tmp_path: Path, **collect) -> Path:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"seed": 1, "data": {"phase": 2}, "collect": {"sources": ["triage"], **collect}}))
    return path


def test_triage_verdicts_reach_preprocess_as_phase2_records(tmp_path, triaged, sample_records):
    params = _params(tmp_path, triage_files=[str(triaged)])
    collected = tmp_path / "collected"
    assert main(["--params", str(params), "collect", "triage", "--out", str(collected)]) == 0
    report = json.loads((collected / "triage.report.json").read_text())
    assert report["status"] == "ok" and report["dropped"] == {"triage_function_changed": 1}
    records = list(read_records(collected / "triage.jsonl"))
    assert {r.func for r in records} == {FUNCTIONS["checked"].rstrip("\n"), FUNCTIONS["unchecked"].rstrip("\n")}
    assert {r.origin for r in records} == {"libdemo/src/copy.c:3", "libdemo/src/copy.c:10"}

    write_records(tmp_path / "raw" / "records.jsonl", sample_records[:400])
    processed = tmp_path / "processed"
    assert (
        main(
            [
                "--params",
                str(params),
                "preprocess",
                "--raw",
                str(tmp_path / "raw"),
                "--collected",
                str(collected),
                "--out",
                str(processed),
            ]
        )
        == 0
    )
    train = {r.func: r for r in read_split(processed, "train") if r.source == "triage"}
    labels = {r.func.split("(")[0].split()[-1]: (r.target, r.confidence, r.project) for r in train.values()}
    assert labels == {"checked": (0, 1.0, "libdemo"), "unchecked": (1, 1.0, "libdemo")}


def test_a_triage_file_outside_a_checkout_is_named(tmp_path, capsys):
    stray = tmp_path / "verdicts.jsonl"
    stray.write_text("")
    params = _params(tmp_path, triage_files=[str(stray)])
    assert main(["--params", str(params), "collect", "triage", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err.replace("\n", "")
    assert f"collect.triage_files: {stray}" in err and "Traceback" not in err


def test_a_verdict_pointing_outside_its_checkout_is_not_read(tmp_path, triaged):
    (tmp_path / "secret.c").write_text(FUNCTIONS["checked"])
    verdict = json.loads((triaged / ".streamguard/triage.jsonl").read_text().splitlines()[0])
    verdict["file"] = "../secret.c"
    (triaged / ".streamguard/triage.jsonl").write_text(json.dumps(verdict) + "\n")
    params = _params(tmp_path, triage_files=[str(triaged / ".streamguard/triage.jsonl")])
    assert main(["--params", str(params), "collect", "triage", "--out", str(tmp_path / "c")]) == 0
    report = json.loads((tmp_path / "c/triage.report.json").read_text())
    assert report["records"] == 0 and report["dropped"] == {"triage_outside_checkout": 1}
