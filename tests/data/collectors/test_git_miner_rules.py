"""The git miner's rules for real histories, on a repository built here with real git.

Merges, renames, huge commits, non-C and vendored/test files, comment-only
changes and added/deleted functions, each counted per repository.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "collect"))
from collect_loopback import collect_params  # noqa: E402
from conftest import git  # noqa: E402

from streamguard.data.collectors.git_miner import HUGE_COMMIT_C_FILES, is_vendored_or_test  # noqa: E402
from streamguard.data.records import read_records  # noqa: E402
from streamguard.stages.collect import run_collect  # noqa: E402

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


def func(name: str, body: str) -> str:
    return f"int {name}(const char *src, char *dst, int n)\n{{\n{body}    return n + (int)strlen(src) + dst[0];\n}}\n"


SAFE = "    if (n > 16 || n < 0)\n        return -1;\n    memcpy(dst, src, (size_t)n);\n"
UNSAFE = "    memcpy(dst, src, (size_t)n);\n"


def write(repo: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text(text)
        git(repo, "add", path)


def commit(repo: Path, message: str, files: dict[str, str] | None = None) -> str:
    if files:
        write(repo, files)
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> dict:
    repo = tmp_path_factory.mktemp("miner") / "realistic"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    many = {
        f"src/mod{i:02d}.c": "#include <string.h>\n" + func(f"mod{i:02d}", UNSAFE)
        for i in range(HUGE_COMMIT_C_FILES + 1)
    }
    commit(
        repo,
        "Initial import",
        {
            "src/parse.c": "#include <string.h>\n"
            + func("parse_name", UNSAFE)
            + func("parse_tag", UNSAFE)
            + func("parse_old", UNSAFE),
            "src/print.c": "#include <string.h>\n" + func("print_hdr", UNSAFE),
            "tests/test_parse.c": func("test_parse", UNSAFE),
            "third_party/zlib/inflate.c": func("inflate_fast", UNSAFE),
            **many,
        },
    )
    shas = {}
    # a fix that also adds one helper and deletes another; cites two CVEs
    shas["fix"] = commit(
        repo,
        "Fix buffer overflow in parse_name (CVE-2024-1001, cve-2024-1000)",
        {
            "src/parse.c": "#include <string.h>\n"
            + func("parse_name", SAFE)
            + func("parse_tag", UNSAFE)
            + func("parse_new", SAFE),
        },
    )
    # only a comment and indentation change: not a code change
    commit(
        repo,
        "Document the overflow check",
        {
            "src/parse.c": "#include <string.h>\n"
            + func("parse_name", SAFE.replace("    if", "    /* bound */\n      if"))
            + func("parse_tag", UNSAFE)
            + func("parse_new", SAFE),
        },
    )
    # test and vendored code, and a non-C file, only
    commit(
        repo,
        "Fix overflow in tests and bundled zlib",
        {
            "tests/test_parse.c": func("test_parse", SAFE),
            "third_party/zlib/inflate.c": func("inflate_fast", SAFE),
            "NEWS": "overflow fixed\n",
        },
    )
    # a sweep over more than HUGE_COMMIT_C_FILES files
    commit(
        repo,
        "Fix integer overflow warnings everywhere",
        {path: text.replace(UNSAFE, SAFE) for path, text in many.items()},
    )
    # a rename with a fix, on a branch merged back with a matching message
    git(repo, "checkout", "-q", "-b", "topic")
    git(repo, "mv", "src/print.c", "src/printer.c")
    shas["rename"] = commit(
        repo,
        "Fix out-of-bounds write in print_hdr, rename file",
        {"src/printer.c": "#include <string.h>\n" + func("print_hdr", SAFE)},
    )
    git(repo, "checkout", "-q", "main")
    commit(repo, "Unrelated tweak", {"README": "realistic\n"})
    git(
        repo,
        "-c",
        "user.name=T",
        "-c",
        "user.email=t@example.org",
        "merge",
        "-q",
        "--no-ff",
        "-m",
        "Merge branch 'topic': out-of-bounds fix",
        "topic",
    )
    out = tmp_path_factory.mktemp("collected")
    report = run_collect("git", collect_params(out, git_repos=[str(repo)]), out)
    return {"repo": repo, "shas": shas, "report": report, "records": list(read_records(out / "git.jsonl"))}


def test_per_repository_report_counts_every_rule(history):
    figures = history["report"]["details"]["repos"][str(history["repo"])]
    assert figures["commits_scanned"] == 8 and figures["merges_scanned"] == 1
    assert figures["commits_matched"] == 6 and figures["commits_mined"] == 5
    assert figures["commits_dropped"] == {
        "merge": 1,
        "huge_commit": 1,
        "no_modified_c_file": 1,
        "no_changed_function": 1,
    }
    assert figures["files_dropped"] == {"non_c_file": 1, "vendored_or_test_file": 2}
    assert figures["functions_dropped"] == {"comment_or_whitespace_only": 1, "function_added": 1, "function_deleted": 1}
    assert figures["commits_with_pairs"] == 2 and figures["pairs"] == 2
    assert figures["commits_per_s"] > 0 and figures["seconds"] >= 0
    assert history["report"]["pairs_kept"] == 2  # both sides of both pairs survive the noise rules


def test_pairs_come_from_the_fix_and_the_renamed_file_only(history):
    records = history["records"]
    names = {(r.func.split("(")[0].split()[-1], r.target, r.commit) for r in records}
    fix, rename = history["shas"]["fix"], history["shas"]["rename"]
    assert names == {("parse_name", 1, fix), ("parse_name", 0, fix), ("print_hdr", 1, rename), ("print_hdr", 0, rename)}
    for rec in records:
        assert rec.pair is not None and sum(r.pair == rec.pair for r in records) == 2
    print_vul = next(r for r in records if r.commit == rename and r.target == 1)
    assert ":src/print.c:" in print_vul.origin  # the vulnerable side keeps its path before the rename
    assert {r.cve for r in records if r.commit == fix} == {"CVE-2024-1000,CVE-2024-1001"}
    assert {r.cve for r in records if r.commit == rename} == {None}
    assert {r.cwe for r in records if r.commit == fix} == {"CWE-787"}


@pytest.mark.parametrize(
    "path, skipped",
    [
        ("tests/test_parse.c", True),
        ("third_party/zlib/inflate.c", True),
        ("fuzz/fuzz_x.c", True),
        ("src/foo_test.c", True),
        ("lib/test-util.c", True),
        ("src/x_fuzzer.c", True),
        ("src/parse.c", False),
        ("print-tcp.c", False),
        ("src/attest.c", False),
        ("latest/contest.c", False),
    ],
)
def test_vendored_or_test_path_rule(path, skipped):
    assert is_vendored_or_test(path) is skipped


def test_pairs_kept_counts_only_pairs_with_both_sides():
    from streamguard.data.collectors import complete_pairs
    from streamguard.data.records import Record, link_pair

    def pair(name: str) -> tuple[Record, Record]:
        return link_pair(
            Record(func=f"int {name}(void) {{ return 1; }}", target=1),
            Record(func=f"int {name}(void) {{ return 0; }}", target=0),
        )

    first, second = pair("a"), pair("b")
    assert complete_pairs([*first, *second]) == 2
    assert complete_pairs([*first, second[0]]) == 1  # the other side lost to a noise rule
