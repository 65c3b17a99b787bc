"""`streamguard scan` over hostile trees and options: nothing hangs, crashes, reads outside the tree or passes silently.

A repository is hostile input (scan runs in CI on pull requests from anyone): links to devices and to files
outside the tree, named pipes, file names no terminal or JSON reader should get raw, tampered model files,
and options that would empty the report or disarm the gate. Scans use the shared tiny trained detector
(conftest's `trained`); the one that could exhaust memory or block runs in a subprocess with a memory cap
and a timeout, so a regression fails instead of taking the machine down.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import commit, deadline, init_repo, validate_sarif

from streamguard.cli import main

MEMORY_CAP = 3 << 30  # bytes of address space for the subprocess scan: a read of /dev/zero hits it in seconds


def scan(trained, *args: str, models: Path | None = None) -> int:
    return main(["--params", str(trained["params"]), "scan", "--models", str(models or trained["models"]), *args])


def report(trained, out: Path, *args: str, fmt: str = "json") -> dict:
    assert scan(trained, *args, "--format", fmt, "-o", str(out)) == 0
    return json.loads(out.read_text())


def hostile_repo(root: Path, trained) -> Path:
    """A git repo: one real function, committed links to a device, to /etc/passwd and to a C file outside,
    and a tracked file replaced on disk by a named pipe."""
    repo = init_repo(root / "repo")
    (repo / "src").mkdir()
    (repo / "src/core.c").write_text(trained["high"][0] + "\n")
    (repo / "src/pipe.c").write_text("int placeholder;\n")
    outside = root / "elsewhere"
    outside.mkdir()
    (outside / "secret.c").write_text(trained["high"][0] + "\n")
    (repo / "src/zero.c").symlink_to("/dev/zero")
    (repo / "src/passwd.h").symlink_to("/etc/passwd")
    (repo / "src/outside.c").symlink_to(outside / "secret.c")
    (repo / "src/inside.c").symlink_to("core.c")  # a link that stays in the tree is read
    commit(repo, "hostile")
    (repo / "src/pipe.c").unlink()
    os.mkfifo(repo / "src/pipe.c")
    return repo


def _cap_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_CAP, MEMORY_CAP))


@pytest.mark.integration
def test_devices_pipes_and_links_leaving_the_tree_are_skipped_and_reported(tmp_path, trained):
    repo = hostile_repo(tmp_path, trained)
    out = tmp_path / "report.json"
    done = subprocess.run(
        [sys.executable, "-m", "streamguard.cli", "--params", str(trained["params"]), "scan", str(repo)]
        + ["--models", str(trained["models"]), "--format", "json", "-o", str(out), "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,  # a pipe that blocks the read ends the test here
        preexec_fn=_cap_memory,  # a read of /dev/zero ends it here
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    found = json.loads(out.read_text())
    counts, examples = found["bad_files"]["counts"], found["bad_files"]["examples"]
    assert counts["outside_tree"] == 3 and counts["not_regular"] == 1, counts
    assert {e.split(":")[0] for e in examples["outside_tree"]} == {"src/zero.c", "src/passwd.h", "src/outside.c"}
    assert examples["not_regular"] == ["src/pipe.c: a named pipe, not a regular file"]
    assert {f["file"] for f in found["findings"]} == {"src/core.c", "src/inside.c"}  # nothing from outside
    assert found["scan"]["files_read"] == 2


def test_a_pipe_in_a_folder_outside_git_does_not_block(tmp_path, trained):
    tree = tmp_path / "plain"
    tree.mkdir()
    (tree / "ok.c").write_text(trained["low"][0] + "\n")
    os.mkfifo(tree / "pipe.c")

    with deadline(60):  # a scan blocked on the pipe fails here
        found = report(trained, tmp_path / "r.sarif", str(tree), "--min-probability", "0", fmt="sarif")
    run = found["runs"][0]
    assert run["properties"]["bad_files"]["counts"]["not_regular"] == 1
    notes = {n["descriptor"]["id"]: n["message"]["text"] for n in run["invocations"][0]["toolExecutionNotifications"]}
    assert "pipe.c" in notes["SG-input/not_regular"]


def test_the_size_cap_holds_while_reading_not_from_stat(tmp_path, trained):
    """/proc files report size 0; a file read whole whatever stat said would pass any cap."""
    from streamguard.scan.walk import BadFiles, SourceFile, read_source

    bad = BadFiles()
    assert read_source(SourceFile(Path("/proc/self/maps"), "maps.c"), bad, max_file_bytes=16) is None
    assert bad.counts["huge"] == 1 and "more than 16 bytes" in bad.examples["huge"][0]


@pytest.mark.parametrize("contents", [{}, {"notes.txt": "int f(void) { return 0; }\n"}], ids=["empty", "no C"])
def test_a_scan_with_nothing_to_scan_fails(tmp_path, trained, capsys, contents):
    tree = tmp_path / "tree"
    tree.mkdir()
    for name, text in contents.items():
        (tree / name).write_text(text)
    assert scan(trained, str(tree), "-o", str(tmp_path / "out.txt")) == 2
    err = capsys.readouterr().err
    assert "no C/C++ file to scan" in err and str(tree) in err
    assert not (tmp_path / "out.txt").exists()


def test_a_scan_that_could_read_no_file_fails_and_says_so_in_the_sarif(tmp_path, trained, capsys):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "blob.c").write_bytes(b"int f(void) { return 0; }\n\0\0")
    out = tmp_path / "out.sarif"
    assert scan(trained, str(tree), "--format", "sarif", "-o", str(out)) == 2
    assert "none of the 1 C/C++ files could be read" in capsys.readouterr().err
    invocation = json.loads(out.read_text())["runs"][0]["invocations"][0]
    assert invocation["executionSuccessful"] is False
    assert any(n["level"] == "error" for n in invocation["toolExecutionNotifications"])


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--top", "0"], "--top 0"),
        (["--top", "-1"], "--top -1"),
        (["--min-probability", "2", "--fail-on-findings"], "--min-probability 2.0"),
        (["--min-probability", "-1"], "--min-probability -1.0"),
        (["--min-probability", "nan"], "--min-probability nan"),
        (["--min-probability", "inf"], "--min-probability inf"),
        (["--changed-since", ""], "--changed-since ''"),
    ],
)
def test_options_that_empty_the_report_or_disarm_the_gate_are_refused(tmp_path, trained, capsys, args, expected):
    (tmp_path / "f.c").write_text(trained["high"][0] + "\n")
    out = tmp_path / "out.json"
    assert scan(trained, str(tmp_path / "f.c"), *args, "--format", "json", "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert expected in err and "Traceback" not in err
    assert not out.exists()


def test_changed_since_outside_git_is_refused_even_from_inside_another_repository(
    tmp_path, trained, capsys, monkeypatch
):
    other = init_repo(tmp_path / "other")
    (other / "x.c").write_text("int x;\n")
    commit(other, "other")
    tree = tmp_path / "plain"
    tree.mkdir()
    (tree / "f.c").write_text(trained["high"][0] + "\n")
    monkeypatch.chdir(other)
    assert scan(trained, str(tree), "--changed-since", "HEAD", "-o", str(tmp_path / "o.txt")) == 2
    err = capsys.readouterr().err
    assert "not inside one git repository" in err and str(tree) in err


def test_changed_since_an_unknown_revision_gives_the_reason(tmp_path, trained, capsys):
    repo = init_repo(tmp_path / "repo")
    (repo / "f.c").write_text(trained["high"][0] + "\n")
    commit(repo, "one")
    assert scan(trained, str(repo), "--changed-since", "nosuchrev") == 2
    err = capsys.readouterr().err
    assert "--changed-since nosuchrev: no commit of that name" in err and "fetch" in err


def test_output_over_a_scanned_or_tracked_file_is_refused(tmp_path, trained, capsys):
    repo = init_repo(tmp_path / "repo")
    source = trained["high"][0] + "\n"
    (repo / "f.c").write_text(source)
    (repo / "README.md").write_text("readme\n")
    commit(repo, "one")
    for target in (repo / "f.c", repo / "README.md", repo / "new.h"):
        assert scan(trained, str(repo), "-o", str(target)) == 2, target
        assert "the report would overwrite it" in capsys.readouterr().err
    assert (repo / "f.c").read_text() == source and (repo / "README.md").read_text() == "readme\n"
    assert not (repo / "new.h").exists()
    assert scan(trained, str(repo / "f.c"), "-o", str(repo / "f.c")) == 2  # the file named itself
    # a new report file in the checkout, as CI writes it, is fine
    assert scan(trained, str(repo), "--format", "sarif", "-o", str(repo / "streamguard.sarif")) == 0


def test_an_unwritable_output_names_the_path(tmp_path, trained, capsys):
    (tmp_path / "f.c").write_text(trained["low"][0] + "\n")
    assert scan(trained, str(tmp_path / "f.c"), "-o", "/proc/version") == 2
    err = capsys.readouterr().err
    assert "-o /proc/version: cannot write the report" in err and "Traceback" not in err


HOSTILE_NAMES = ['q"uote<x>.c', "new\nline.c", "rtl\u202egnp.c", "50%.c", "a b#c?.c"]


def test_sarif_uris_are_percent_encoded_relative_and_hold_no_local_path(tmp_path, trained):
    tree = tmp_path / "outside git"
    (tree / "src").mkdir(parents=True)
    for name in HOSTILE_NAMES:
        (tree / "src" / name).write_text(trained["low"][0] + "\n")
    latin1 = os.fsencode(tree / "src") + b"/caf\xe9.c"
    with open(latin1, "w") as fh:
        fh.write(trained["low"][0] + "\n")
    out = tmp_path / "out.sarif"
    sarif = report(trained, out, str(tree), "--min-probability", "0", fmt="sarif")
    validate_sarif(sarif)
    uris = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in sarif["runs"][0]["results"]}
    assert uris == {
        "src/q%22uote%3Cx%3E.c",
        "src/new%0Aline.c",
        "src/rtl%E2%80%AEgnp.c",
        "src/50%25.c",
        "src/a%20b%23c%3F.c",
        "src/caf%E9.c",
    }
    text = out.read_text()
    assert str(tree) not in text and str(tmp_path) not in text.replace(str(trained["models"].parent), "")
    json.loads(text, parse_constant=lambda c: pytest.fail(f"{c} in the SARIF"))


def test_uris_of_a_folder_outside_git_scanned_from_elsewhere_do_not_climb(tmp_path, trained, monkeypatch):
    tree = tmp_path / "code"
    (tree / "lib").mkdir(parents=True)
    (tree / "lib/f.c").write_text(trained["high"][0] + "\n")
    monkeypatch.chdir(init_repo(tmp_path / "elsewhere"))
    found = report(trained, tmp_path / "r.json", str(tree))
    assert [f["file"] for f in found["findings"]] == ["lib/f.c"]
    assert "root" not in found["scan"]


def test_a_file_name_that_is_not_utf8_writes_a_table(tmp_path, trained):
    tree = tmp_path / "tree"
    tree.mkdir()
    with open(os.fsencode(tree) + b"/\xff\xfe\x1b[31m.c", "w") as fh:
        fh.write(trained["high"][0] + "\n")
    out = tmp_path / "table.txt"
    assert scan(trained, str(tree), "-o", str(out)) == 0
    table = out.read_text(encoding="utf-8")
    assert "\\xff\\xfe\\x1b[31m.c:1" in table and "\x1b" not in table


def _tampered_models(tmp_path: Path, trained) -> Path:
    models = tmp_path / "models"
    shutil.copytree(trained["models"], models)
    return models


def _with_extra_model(models: Path, name: str) -> Path:
    """The fusion made to use `name` too (weight 0), so its folder is loaded; the folder, made empty."""
    fusion = models / "fusion" / "fusion.json"
    summary = json.loads(fusion.read_text())
    summary["models"].append(name)
    summary["coefficients"][name] = 0.0
    fusion.write_text(json.dumps(summary))
    (models / name).mkdir()
    return models / name


def _object_array(models: Path) -> Path:
    arrays = dict(np.load(models / "lexical/weights.npz"))
    arrays["idf"] = np.array([{"x": 1}, None], dtype=object)
    np.savez(models / "lexical/weights.npz", **arrays)
    return models / "lexical/weights.npz"


def _missing_key(models: Path) -> Path:
    arrays = dict(np.load(models / "lexical/weights.npz"))
    del arrays["idf"]
    np.savez(models / "lexical/weights.npz", **arrays)
    return models / "lexical/weights.npz"


class _Payload:
    def __reduce__(self):
        return (print, ("unpickled code ran",))


def _pickle_in_model_pt(models: Path) -> Path:
    import pickle

    path = _with_extra_model(models, "gnn") / "model.pt"
    path.write_bytes(pickle.dumps(_Payload()))
    return path


def _truncated_safetensors(models: Path) -> Path:
    import torch
    from safetensors.torch import save_file

    path = _with_extra_model(models, "transformer") / "hf" / "model.safetensors"
    path.parent.mkdir()
    save_file({"w": torch.zeros(4096)}, str(path))
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path


@pytest.mark.parametrize("tamper", [_object_array, _missing_key, _pickle_in_model_pt, _truncated_safetensors])
def test_a_tampered_model_file_is_named_not_a_traceback(tmp_path, trained, capsys, tamper):
    models = _tampered_models(tmp_path, trained)
    damaged = tamper(models)
    (tmp_path / "f.c").write_text(trained["high"][0] + "\n")
    assert scan(trained, str(tmp_path / "f.c"), "-o", str(tmp_path / "o.txt"), models=models) == 2
    captured = capsys.readouterr()
    assert f"{damaged}: cannot be loaded" in captured.err and "corrupt or tampered with" in captured.err
    assert "Traceback" not in captured.err and "unpickled code ran" not in captured.out + captured.err


def test_a_model_that_scores_nan_stops_the_scan_instead_of_passing_it(tmp_path, trained, capsys):
    """NaN compares below every bar: without a check the gate would pass and the report read 'no findings'."""
    models = _tampered_models(tmp_path, trained)
    arrays = dict(np.load(models / "lexical/weights.npz"))
    arrays["coef"] = np.full_like(arrays["coef"], np.nan)
    np.savez(models / "lexical/weights.npz", **arrays)
    (tmp_path / "f.c").write_text(trained["high"][0] + "\n")
    out = tmp_path / "out.json"
    code = scan(trained, str(tmp_path / "f.c"), "--fail-on-findings", "--format", "json", "-o", str(out), models=models)
    assert code == 2
    err = capsys.readouterr().err
    assert f"{models / 'lexical'}: scored 1 of 1 functions as not a number (first: f.c:1)" in err
    assert "tampered" in err and "Traceback" not in err
    assert not out.exists()
