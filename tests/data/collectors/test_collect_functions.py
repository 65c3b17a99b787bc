"""Before/after pairing of a fix's functions, undoing patches and fix-commit URLs."""

from __future__ import annotations

import difflib
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "collect"))
from collect_loopback import FIXTURES  # noqa: E402
from conftest import TESTS  # noqa: E402

from streamguard.data.collectors.fix_pairs import changed_functions  # noqa: E402
from streamguard.data.collectors.github import commit_in_repo, is_other_commit_url, parse_commit_url  # noqa: E402
from streamguard.data.collectors.patches import PatchMismatch, reverse_apply  # noqa: E402

# C sources the extractor's own tests cut (tests/c/test_functions.py)
SOURCE = (TESTS / "fixtures" / "c" / "ifdefs.c").read_text()
MACRO_HEAVY = (TESTS / "fixtures" / "c" / "macro_heavy.c").read_text()


def test_fix_pairs_see_functions_behind_attribute_macros():
    after = MACRO_HEAVY.replace("return level;", "if (level < 0)\n        return 0;\n    return level;")
    (pair,) = changed_functions(MACRO_HEAVY, after)
    assert pair.before.name == pair.after.name == "log_it"


def test_changed_functions_pairs_by_name_and_occurrence():
    after = SOURCE.replace("fputs(m, stderr);", "fputs(m, stderr);\n    fflush(stderr);")
    (pair,) = changed_functions(SOURCE, after)
    assert pair.before.name == pair.after.name == "log_it"
    assert pair.before.start_line == 10 and "fflush" in pair.after.text
    assert changed_functions(SOURCE, SOURCE) == []
    # a function new in the fix has no "before": not a pair
    with_new = SOURCE.replace("struct point", "int brand_new(void) { return 0; }\n\nstruct point")
    assert changed_functions(SOURCE, with_new) == []


def unified(before: str, after: str) -> str:
    lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True), n=3)
    return "".join(list(lines)[2:])  # GitHub's "patch" has no ---/+++ header


def test_reverse_apply_recovers_the_parent():
    before = (FIXTURES / "chunk_before.c").read_text()
    after = (FIXTURES / "chunk_after.c").read_text()
    assert reverse_apply(after, unified(before, after)) == before
    lines = [f"line {i}\n" for i in range(50)]
    edited = lines[:3] + ["new\n"] + lines[3:20] + lines[22:40] + ["changed\n"] + lines[41:]
    assert reverse_apply("".join(edited), unified("".join(lines), "".join(edited))) == "".join(lines)


def test_reverse_apply_rejects_a_patch_of_another_revision():
    before = (FIXTURES / "chunk_before.c").read_text()
    after = (FIXTURES / "chunk_after.c").read_text()
    with pytest.raises(PatchMismatch, match="does not match"):
        reverse_apply(after.replace("memcpy(out", "memmove(out"), unified(before, after))


@pytest.mark.parametrize(
    "url, expected",
    [
        ("https://github.com/FFmpeg/FFmpeg/commit/0a1b2c3d4e5f", ("FFmpeg", "FFmpeg", "0a1b2c3d4e5f")),
        ("https://github.com/qemu/qemu/commit/ABCDEF1234567.patch", ("qemu", "qemu", "abcdef1234567")),
        ("https://github.com/a/b.c/pull/12/commits/1234567890abcdef#diff-1", ("a", "b.c", "1234567890abcdef")),
        ("https://github.com/a/b/issues/3", None),
        ("https://gitlab.com/a/b/-/commit/1234567", None),
    ],
)
def test_parse_commit_url(url, expected):
    ref = parse_commit_url(url)
    assert (ref and (ref.owner, ref.repo, ref.sha)) == expected if expected else ref is None


def test_commit_in_repo_and_other_hosts():
    assert commit_in_repo("https://github.com/a/b.git", "abcdef12").project == "a/b"
    assert commit_in_repo("https://gitlab.com/a/b", "abcdef12") is None
    assert is_other_commit_url("https://git.kernel.org/pub/scm/linux/kernel/git/torvalds/linux.git/commit/?id=abc123")
    assert not is_other_commit_url("https://github.com/a/b/commit/abcdef1")
    assert not is_other_commit_url("https://example.org/advisory")
