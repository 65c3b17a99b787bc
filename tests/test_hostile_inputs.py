"""Hostile inputs through the real CLI: each ends in exit 2 with a message naming what and where.

Every case runs `streamguard.cli.main` in this process (bounded by a deadline, so a hang fails) inside its
own folder, with its own params file and no API tokens in the environment; one case also runs as
`python -m streamguard.cli` in a subprocess, the way a user starts it. None may print a traceback or
raise; none may exit 0 having lost data silently (the one case meant to succeed checks that nothing was lost).
"""

from __future__ import annotations

import gzip
import io
import json
import random
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from conftest import cli_in_process, command_env, function_records_jsonl

DEEP = b"[" * 200_000 + b"]" * 200_000  # json.loads recurses once per level: RecursionError unless caught


def noise(n: int) -> bytes:
    """Bytes gzip cannot shrink, so cutting the compressed file really cuts the data."""
    return random.Random(n).randbytes(n)


def padded_records(n: int) -> bytes:
    """n records, then one whose incompressible comment makes up most of the gzip stream."""
    last = {"func": f"int pad(void) {{ /* {noise(20_000).hex()} */ return 0; }}", "target": 1}
    return function_records_jsonl(n) + json.dumps(last).encode() + b"\n"


def truncated_gzip(data: bytes) -> bytes:
    packed = gzip.compress(data)
    return packed[: len(packed) // 2]


def nvd_feed() -> bytes:
    items = [
        {"cve": {"id": f"CVE-2020-{i:04d}", "references": [], "descriptions": [{"value": noise(64).hex()}]}}
        for i in range(400)
    ]
    return json.dumps({"vulnerabilities": items}).encode()


def juliet_tar_gz() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for i in range(4):
            data = b"void CWE121_x_01_bad(void) { char b[2]; b[3] = 1; }\n/* " + noise(50_000).hex().encode() + b" */\n"
            member = tarfile.TarInfo(f"juliet/testcases/CWE121_x/CWE121_x_0{i}.c")
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data))
    return buf.getvalue()


def git_repo(root: Path) -> Path:
    git = ["git", "-c", "user.name=T", "-c", "user.email=t@example.org", "-c", "commit.gpgsign=false"]
    root.mkdir()
    (root / "src").mkdir()
    (root / "src" / "a.c").write_text("int a(void) { return 1; }\n")
    subprocess.run([*git, "init", "-q"], cwd=root, check=True)
    subprocess.run([*git, "add", "."], cwd=root, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "Fix overflow"], cwd=root, check=True)
    return root


@dataclass
class Case:
    """`setup(folder)` writes the inputs and returns (params, CLI arguments after --params)."""

    name: str
    setup: Callable[[Path], tuple[dict, list[str]]]
    expected: tuple[str, ...]  # every fragment must appear in the error message


def download(path: str, data: bytes | None = None) -> Callable[[Path], tuple[dict, list[str]]]:
    def setup(folder: Path) -> tuple[dict, list[str]]:
        if data is not None:
            (folder / path).write_bytes(data)
        else:
            (folder / path).mkdir()
        return {"data": {"source": "devign", "path": path}}, ["download", "--out", "raw"]

    return setup


def preprocess(raw: bytes) -> Callable[[Path], tuple[dict, list[str]]]:
    def setup(folder: Path) -> tuple[dict, list[str]]:
        (folder / "raw").mkdir()
        (folder / "raw" / "records.jsonl").write_bytes(raw)
        return {"data": {"source": "devign", "path": "small.jsonl"}}, [
            "preprocess",
            "--raw",
            "raw",
            "--out",
            "processed",
        ]

    return setup


def collect(source: str, key: str, name: str, data: bytes | None) -> Callable[[Path], tuple[dict, list[str]]]:
    def setup(folder: Path) -> tuple[dict, list[str]]:
        if data is not None:
            (folder / name).write_bytes(data)
        elif name.endswith("/"):
            (folder / name).mkdir()
        value = [name] if key == "nvd_feeds" else name
        return {"collect": {"sources": [source], key: value}}, ["collect", source, "--out", "collected"]

    return setup


def predict(name: str, data: bytes | None) -> Callable[[Path], tuple[dict, list[str]]]:
    def setup(folder: Path) -> tuple[dict, list[str]]:
        if data is None:
            (folder / name).mkdir()
        else:
            (folder / name).write_bytes(data)
        return {"seed": 42}, ["predict", name, "--models", "models"]

    return setup


def out_under_a_file(folder: Path) -> tuple[dict, list[str]]:
    (folder / "blocker").write_text("a file where a folder should go\n")
    return {"data": {"source": "sample"}}, ["download", "--out", "blocker/raw"]


def git_subfolder(folder: Path) -> tuple[dict, list[str]]:
    git_repo(folder / "lib")
    return {"collect": {"sources": ["git"], "git_repos": ["lib/src"]}}, ["collect", "git", "--out", "collected"]


CASES = [
    Case(
        "download: truncated .jsonl.gz",
        download("d.jsonl.gz", truncated_gzip(padded_records(400))),
        ("d.jsonl.gz", "truncated or corrupt", "after line"),
    ),
    Case(
        "download: .gz that is not gzip",
        download("d.jsonl.gz", function_records_jsonl(20)),
        ("d.jsonl.gz", "not gzip-compressed"),
    ),
    Case("download: data.path is a directory", download("d.jsonl", None), ("data.path: d.jsonl", "is a directory")),
    Case(
        "download: JSONL nested 200k deep",
        download("d.jsonl", function_records_jsonl(3) + DEEP + b"\n"),
        ("d.jsonl:4", "nested too deeply"),
    ),
    Case(
        "download: function.json nested 200k deep",
        download("function.json", DEEP),
        ("function.json", "nested too deeply"),
    ),
    Case(
        "download: truncated function.json",
        download("function.json", b'[{"func": "int f(void) {}",\n "target'),
        ("function.json:2", "malformed JSON"),
    ),
    Case(
        "download: function.json not UTF-8",
        download("function.json", b'[\n{"func": "int \xff;", "target": 1}]'),
        ("function.json", "line 2", "not valid UTF-8"),
    ),
    Case("download: empty file", download("d.jsonl", b""), ("data.path=d.jsonl", "0 records")),
    Case(
        "download: one label only",
        download("d.jsonl", function_records_jsonl(40).replace(b'"target": 1', b'"target": 0')),
        ("data.path=d.jsonl", "0 vulnerable", "larger file"),
    ),
    Case(
        "preprocess: a split without one label",
        preprocess(function_records_jsonl(12)),
        ("preprocess", "test", "data.path=small.jsonl", "larger file"),
    ),
    Case(
        "preprocess: one id on two functions",
        preprocess(function_records_jsonl(40, ids=39)),
        ("records.jsonl:40", "records.jsonl:1 ", "shared-0"),
    ),
    Case(
        "collect: truncated Juliet .tar.gz",
        collect("juliet", "juliet_path", "j.tar.gz", juliet_tar_gz()[:60_000]),
        ("collect.juliet_path", "j.tar.gz", "truncated or corrupt tar archive"),
    ),
    Case(
        "collect: juliet_path set but missing",
        collect("juliet", "juliet_path", "absent.tar.gz", None),
        ("collect.juliet_path", "absent.tar.gz", "does not exist"),
    ),
    Case(
        "collect: truncated NVD feed .json",
        collect("nvd", "nvd_feeds", "feed.json", nvd_feed()[:5000]),
        ("feed.json:1", "malformed JSON"),
    ),
    Case(
        "collect: truncated NVD feed .json.gz",
        collect("nvd", "nvd_feeds", "feed.json.gz", truncated_gzip(nvd_feed())),
        ("feed.json.gz", "truncated or corrupt gzip"),
    ),
    Case(
        "collect: NVD feed .gz that is not gzip",
        collect("nvd", "nvd_feeds", "feed.json.gz", nvd_feed()),
        ("feed.json.gz", "not gzip-compressed"),
    ),
    Case(
        "collect: NVD feed nested 200k deep",
        collect("nvd", "nvd_feeds", "feed.json", DEEP),
        ("feed.json", "nested too deeply"),
    ),
    Case(
        "collect: NVD feed is a directory",
        collect("nvd", "nvd_feeds", "feeds/", None),
        ("collect.nvd_feeds", "feeds", "is a directory"),
    ),
    Case("predict: a directory named .c", predict("code.c", None), ("code.c", "is a directory")),
    Case("predict: a directory of records", predict("records", None), ("records", "is a directory")),
    Case(
        "predict: truncated .jsonl.gz",
        predict("new.jsonl.gz", truncated_gzip(padded_records(300))),
        ("new.jsonl.gz", "truncated or corrupt"),
    ),
]
CASES.append(Case("download: --out under a file (cli's last-line OSError)", out_under_a_file, ("blocker",)))
if shutil.which("git"):
    CASES.append(
        Case(
            "collect: a folder inside a git repository",
            git_subfolder,
            ("collect.git_repos[0]", "lib/src", "not the top of a git repository"),
        )
    )


@pytest.fixture
def case_folder(tmp_path, monkeypatch) -> Path:
    """tmp_path as the working directory and HOME, without the tokens and caches the collectors read."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "400")
    for key in ("NVD_API_KEY", "GITHUB_TOKEN", "STREAMGUARD_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path


def run_cli(capfd, folder: Path, params: dict, args: list[str]) -> tuple[int, str]:
    """The CLI on `args` with `params` as its params file, in this process: exit status, output on one line."""
    (folder / "params.yaml").write_text(yaml.safe_dump(params))
    status, output = cli_in_process(capfd, ["--params", "params.yaml", *args])
    return status, output.replace("\n", "")


def assert_clear_error(case: Case, folder: Path, status: int, output: str) -> None:
    assert "Traceback" not in output, output[-2000:]
    assert status == 2, output[-2000:]
    for fragment in case.expected:
        assert fragment in output, f"{fragment!r} not in: {output[-1000:]}"
    assert not any(p.suffix == ".jsonl" for p in (folder / "collected").glob("*")), "collect wrote output"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_input_is_a_clear_error(case_folder, capfd, case):
    params, args = case.setup(case_folder)
    assert_clear_error(case, case_folder, *run_cli(capfd, case_folder, params, args))


@pytest.mark.integration
def test_a_hostile_input_is_a_clear_error_from_the_command_line(case_folder):
    """The entry point a user starts: exit status 2 and the message on stderr, from a fresh interpreter."""
    case = CASES[0]
    params, args = case.setup(case_folder)
    (case_folder / "params.yaml").write_text(yaml.safe_dump(params))
    env = {key: value for key, value in command_env().items() if key in ("PATH", "PYTHONPATH")}
    done = subprocess.run(
        [sys.executable, "-m", "streamguard.cli", "--params", "params.yaml", *args],
        cwd=case_folder,
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "HOME": str(case_folder), "COLUMNS": "400"},  # no NVD_API_KEY / GITHUB_TOKEN
    )
    assert_clear_error(case, case_folder, done.returncode, (done.stdout + done.stderr).replace("\n", ""))


def test_records_sharing_ids_all_survive_the_cli(case_folder, capfd):
    """The one hostile input that must succeed: 1,600 functions under 10 ids are 1,600 records."""
    (case_folder / "d.jsonl").write_bytes(function_records_jsonl(1600, ids=10))
    params = {"data": {"source": "devign", "path": "d.jsonl"}}
    status, output = run_cli(capfd, case_folder, params, ["download", "--out", "raw"])
    assert status == 0, output[-2000:]
    status, output = run_cli(capfd, case_folder, params, ["preprocess", "--raw", "raw", "--out", "processed"])
    assert status == 0, output[-2000:]
    report = json.loads((case_folder / "processed" / "report.json").read_text())
    assert sum(split["records"] for split in report["splits"].values()) == 1600
