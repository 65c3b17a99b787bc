"""Hostile inputs to the commands around the scan, through `streamguard.cli.main` in-process: each is refused
with a message naming what and where (exit 2), or handled and reported, never a traceback or a silent pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import commit, deadline, git, init_repo

from streamguard.cli import main

HEADER = "id,target,lexical_prob,lexical_pred\n"


def cli(tmp_path: Path, *args: str, params: dict | None = None) -> int:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params or {"seed": 42}))
    return main(["--params", str(tmp_path / "params.yaml"), *args])


def _predictions(folder: Path, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "test_predictions.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return folder


def _good(folder: Path) -> Path:
    return _predictions(folder, HEADER + "".join(f"f{i},{i % 2},0.{i % 9 + 1},{i % 2}\n" for i in range(20)))


@pytest.mark.parametrize("cell", ["nan", "7.5", "-0.1", "inf"])
def test_compare_rejects_a_probability_outside_0_1(tmp_path, monkeypatch, capsys, cell):
    monkeypatch.chdir(tmp_path)
    bad = _predictions(tmp_path / "b", HEADER + "f0,0,0.2,0\n" + f"f1,1,{cell},1\n")
    assert cli(tmp_path, "compare", str(_good(tmp_path / "a")), str(bad)) == 2
    err = capsys.readouterr().err
    assert f"b/test_predictions.csv:3: 'lexical_prob' must be a probability in [0, 1], got '{cell}'" in err


def test_compare_on_a_folder_without_predictions_names_the_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_run").mkdir()
    assert cli(tmp_path, "compare", str(_good(tmp_path / "a")), "empty_run") == 2
    err = capsys.readouterr().err
    assert "empty_run: a folder without test_predictions.csv" in err and "unknown Git revision" not in err


def test_compare_on_a_binary_csv_names_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    binary = _predictions(tmp_path / "bin", b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01")
    assert cli(tmp_path, "compare", str(_good(tmp_path / "a")), str(binary)) == 2
    err = capsys.readouterr().err
    assert f"{binary / 'test_predictions.csv'}: not valid UTF-8" in err and "UnicodeDecodeError" not in err


def test_summary_with_a_non_number_names_the_key(tmp_path, capsys):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    values = {"accuracy": "0.6x", "accuracy_ci_low": 0.5, "accuracy_ci_high": 0.7}
    details = metrics / "test_details.json"
    details.write_text(json.dumps({"n_test": 10, "n_test_vulnerable": 5, "lexical": values}))
    (metrics / "comparisons.json").write_text("{}")
    assert cli(tmp_path, "summary", "--metrics", str(metrics)) == 2
    err = capsys.readouterr().err
    assert f"{details}: lexical.accuracy is '0.6x', not a number" in err and "TypeError" not in err


def test_predict_names_an_unsupported_extension(tmp_path, capsys):
    (tmp_path / "x.py").write_text("def f():\n    return 1\n")
    assert cli(tmp_path, "predict", str(tmp_path / "x.py"), "--models", str(tmp_path / "models")) == 2
    err = capsys.readouterr().err
    assert "x.py: unsupported extension '.py'" in err and ".cpp" in err and "malformed JSON" not in err


@pytest.mark.parametrize("model", ["gnn", "transformer"])
def test_more_training_processes_than_the_machine_has_are_refused(tmp_path, capsys, model):
    import os

    cores = len(os.sched_getaffinity(0))
    params = {model: {"nproc_per_node": 1000, "device": "cpu"}}
    assert cli(tmp_path, "train", model, "--processed", str(tmp_path / "none"), params=params) == 2
    err = capsys.readouterr().err
    assert "nproc_per_node: 1000 training processes asked for" in err and "starting" not in err
    assert (f"no GPU and {cores} CPU core(s)" in err) or "GPU(s)" in err


@pytest.mark.parametrize("size, expected", [("1600", "holds only 50 records"), ("0", "1 or more"), ("-5", "1 or more")])
def test_make_sample_refuses_a_size_the_input_cannot_give(tmp_path, capsys, size, expected):
    source = tmp_path / "small.jsonl"
    rows = [{"func": f"int f{i}(void) {{ return {i}; }}", "target": i % 2, "project": "p"} for i in range(50)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "sample.jsonl.gz"
    assert cli(tmp_path, "make-sample", str(source), "--out", str(out), "--size", size) == 2
    err = capsys.readouterr().err
    assert f"--size {size}: " in err and expected in err
    assert not out.exists()


JULIET_CASE = "CWE121_Stack_Based_Buffer_Overflow__char_type_overrun_memcpy_01"


def test_a_pipe_in_the_juliet_folder_is_skipped_not_read(tmp_path, capsys):
    import os

    cases = tmp_path / "juliet" / "testcases" / "CWE121_Stack_Based_Buffer_Overflow" / "s01"
    cases.mkdir(parents=True)
    body = "{\n    char dest[10];\n    memset(dest, 'A', 10-1);\n    dest[10-1] = '\\0';\n    printLine(dest);\n}\n"
    (cases / f"{JULIET_CASE}.c").write_text(
        f"void {JULIET_CASE}_bad()\n{body.replace('10-1', '20')}\nvoid {JULIET_CASE}_good()\n{body}"
    )
    os.mkfifo(cases / "CWE121_Stack_Based_Buffer_Overflow__pipe_02.c")
    params = {"collect": {"sources": ["juliet"], "juliet_path": str(tmp_path / "juliet")}}
    with deadline(60):
        assert cli(tmp_path, "collect", "juliet", "--out", str(tmp_path / "out"), params=params) == 0
    report = json.loads((tmp_path / "out" / "juliet.report.json").read_text())
    assert report["dropped"]["not_regular_file"] == 1 and report["functions_found"] == 2


FIX_MESSAGE = "Fix buffer overflow in copy (CVE-2024-0001)"


def _fix_history(repo: Path) -> Path:
    """A repository whose fix commit is the parent of HEAD: a depth-2 clone holds the fix without its parent."""
    init_repo(repo)
    before = "int copy(char *d, const char *s)\n{\n    strcpy(d, s);\n    return 0;\n}\n"
    after = "int copy(char *d, const char *s)\n{\n    if (strlen(s) > 8)\n        return -1;\n    strcpy(d, s);\n    return 0;\n}\n"
    for message, text in (("add copy", before), (FIX_MESSAGE, after), ("docs", after + "/* docs */\n")):
        (repo / "copy.c").write_text(text)
        commit(repo, message)
    assert git(repo, "log", "--format=%s", "-1", "HEAD~1").strip() == FIX_MESSAGE
    return repo


def test_a_shallow_clone_is_mined_with_a_warning_and_says_so_in_the_report(tmp_path, capsys):
    import subprocess

    full = _fix_history(tmp_path / "full")
    shallow = tmp_path / "shallow"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{full}", str(shallow)], check=True)
    params = {"collect": {"sources": ["git"], "git_repos": [str(shallow)]}}
    assert cli(tmp_path, "collect", "git", "--out", str(tmp_path / "out"), params=params) == 0
    err = capsys.readouterr().err.replace("\n", "")
    assert "is a shallow clone" in err and "git fetch --unshallow" in err
    figures = json.loads((tmp_path / "out" / "git.report.json").read_text())["details"]["repos"][str(shallow)]
    assert figures["shallow"] is True
    assert figures["commits_dropped"] == {"shallow_boundary": 1}  # not taken for a root commit


def test_a_git_bundle_is_cloned_and_mined_like_its_repository(tmp_path, capsys):
    import subprocess

    full = _fix_history(tmp_path / "full")
    bundle = tmp_path / "full.bundle"
    subprocess.run(["git", "-C", str(full), "bundle", "create", "-q", str(bundle), "HEAD", "main"], check=True)
    reports = {}
    for name, repo in (("repo", full), ("bundle", bundle)):
        params = {"collect": {"sources": ["git"], "git_repos": [str(repo)]}}
        assert cli(tmp_path, "collect", "git", "--out", str(tmp_path / name), params=params) == 0
        reports[name] = json.loads((tmp_path / name / "git.report.json").read_text())
        assert reports[name]["details"]["repos"][str(repo)]["shallow"] is False
    assert reports["bundle"]["pairs_kept"] == reports["repo"]["pairs_kept"] == 1
    records = (tmp_path / "bundle" / "git.jsonl").read_text()
    assert f"{bundle}@" in records and '"project": "full"' in records
