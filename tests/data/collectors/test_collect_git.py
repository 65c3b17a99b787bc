"""Repository mining on a real git repository built in tmp_path."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "collect"))
from collect_loopback import FIXTURES, collect_params  # noqa: E402
from conftest import git  # noqa: E402

from streamguard.data.collectors.base import CollectError  # noqa: E402
from streamguard.data.collectors.git_miner import message_cwe  # noqa: E402
from streamguard.data.records import read_records  # noqa: E402
from streamguard.stages.collect import run_collect  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")

VULNERABLE = """#include <string.h>

int copy_name(char *dst, const char *src)
{
    char buf[16];
    strcpy(buf, src);
    strcpy(dst, buf);
    return (int)strlen(dst);
}

int unrelated(int x)
{
    return x * 2 + 1;
}
"""

FIXED = """#include <string.h>

int copy_name(char *dst, const char *src)
{
    char buf[16];
    if (strlen(src) >= sizeof(buf))
        return -1;
    strcpy(buf, src);
    strcpy(dst, buf);
    return (int)strlen(dst);
}

int unrelated(int x)
{
    return x * 2 + 1;
}
"""


def commit_file(repo: Path, path: str, text: str, message: str) -> str:
    (repo / path).parent.mkdir(parents=True, exist_ok=True)
    (repo / path).write_text(text)
    git(repo, "add", path)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "tinylib"
    repo.mkdir()
    git(repo, "init", "-q")
    commit_file(repo, "src/name.c", VULNERABLE, "Add copy_name")
    commit_file(repo, "README", "tiny\n", "Document the overflow-free API")  # matches, but no C change
    commit_file(repo, "src/name.c", FIXED, "Fix buffer overflow (CVE-2024-0001)")
    commit_file(repo, "src/name.c", FIXED.replace("x * 2 + 1", "x * 3"), "Tune unrelated")  # no pattern: not mined
    return repo


def test_fix_commit_gives_before_and_after_records(tmp_path, repo):
    fix_sha = git(repo, "rev-parse", "HEAD~1").strip()
    parent_sha = git(repo, "rev-parse", "HEAD~2").strip()
    report = run_collect("git", collect_params(tmp_path, git_repos=[str(repo)]), tmp_path / "out")
    records = list(read_records(tmp_path / "out" / "git.jsonl"))
    assert len(records) == 2
    vulnerable, fixed = sorted(records, key=lambda r: -r.target)
    assert vulnerable.target == 1 and "strlen(src) >= sizeof(buf)" not in vulnerable.func
    assert fixed.target == 0 and "strlen(src) >= sizeof(buf)" in fixed.func
    assert vulnerable.func.startswith("int copy_name(") and fixed.func.rstrip().endswith("}")
    for rec in records:
        assert rec.source == "git" and rec.project == "tinylib" and rec.commit == fix_sha
        assert rec.cwe == "CWE-787"  # "buffer overflow"
        assert rec.confidence == 0.3
    assert vulnerable.origin == f"{repo}@{parent_sha[:12]}:src/name.c:3"
    assert fixed.origin == f"{repo}@{fix_sha[:12]}:src/name.c:3"
    figures = report["details"]["repos"][str(repo)]
    assert {k: figures[k] for k in ("commits_scanned", "commits_matched", "commits_with_pairs", "pairs")} == {
        "commits_scanned": 4,
        "commits_matched": 2,
        "commits_with_pairs": 1,
        "pairs": 1,
    }
    assert figures["commits_dropped"] == {"no_modified_c_file": 1} and figures["files_dropped"] == {"non_c_file": 1}
    assert figures["commits_matched_citing_cve"] == 1 and vulnerable.cve == fixed.cve == "CVE-2024-0001"
    assert report["dropped"] == {"no_modified_c_file": 1, "non_c_file": 1}


def test_cited_cve_with_exploit_gets_top_confidence(tmp_path, repo):
    csv = tmp_path / "files_exploits.csv"
    csv.write_text(
        (FIXTURES / "exploitdb" / "files_exploits.csv").read_text().replace("CVE-2024-1111", "CVE-2024-0001")
    )
    params = collect_params(tmp_path, git_repos=[str(repo)], exploitdb_csv=str(csv))
    run_collect("git", params, tmp_path / "out")
    assert {r.confidence for r in read_records(tmp_path / "out" / "git.jsonl")} == {1.0}


def test_renamed_file_and_max_commits(tmp_path, repo):
    git(repo, "mv", "src/name.c", "src/names.c")
    (repo / "src/names.c").write_text(FIXED.replace("sizeof(buf))", "sizeof(buf) - 1)"))
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "Fix off-by-one out-of-bounds write, rename file")
    rename_sha = git(repo, "rev-parse", "HEAD").strip()
    run_collect("git", collect_params(tmp_path, git_repos=[str(repo)], git_max_commits=1), tmp_path / "out")
    records = list(read_records(tmp_path / "out" / "git.jsonl"))
    assert {r.commit for r in records} == {rename_sha}  # only the newest commit was looked at
    vulnerable = next(r for r in records if r.target == 1)
    assert ":src/name.c:" in vulnerable.origin  # the pre-fix side keeps its old path


def test_not_a_repository(tmp_path):
    (tmp_path / "plain").mkdir()
    params = collect_params(tmp_path, git_repos=[str(tmp_path / "plain")])
    with pytest.raises(CollectError, match=r"collect.git_repos\[0\]: .*plain is not a git repository"):
        run_collect("git", params, tmp_path / "out")
    with pytest.raises(CollectError, match="does not exist"):
        run_collect("git", collect_params(tmp_path, git_repos=[str(tmp_path / "nope")]), tmp_path / "out")


def test_folder_inside_a_repository_is_an_error_not_the_parent_mined(tmp_path, repo):
    params = collect_params(tmp_path, sources=["git"], git_repos=[str(repo / "src")])
    with pytest.raises(CollectError, match=r"collect.git_repos\[0\]: .*src is not the top of a git repository"):
        run_collect("git", params, tmp_path / "out")
    assert not (tmp_path / "out" / "git.jsonl").exists()
    top = run_collect("git", collect_params(tmp_path, sources=["git"], git_repos=[str(repo)]), tmp_path / "top")
    assert top["status"] == "ok" and top["by_target"]["1"] >= 1  # positive control: the top itself is mined


def test_no_repos_is_skipped(tmp_path):
    report = run_collect("git", collect_params(tmp_path), tmp_path / "out")
    assert report["status"] == "skipped" and "git_repos" in report["reason"]


@pytest.mark.parametrize(
    "message, cwe",
    [
        ("Fix use-after-free in parser", "CWE-416"),
        ("fix double free on error path", "CWE-415"),
        ("Avoid NULL pointer dereference", "CWE-476"),
        ("CWE-190: integer overflow in size calc", "CWE-190"),
        ("Fix heap buffer overflow", "CWE-122"),
        ("Fix stack-based buffer overflow", "CWE-121"),
        ("Fix buffer overflow in parser", "CWE-787"),
        ("Fix out-of-bounds read", "CWE-125"),
        ("security: tighten checks", None),
    ],
)
def test_message_cwe(message, cwe):
    assert message_cwe(message) == cwe
