"""`scan --changed-since REV`: the lines changed since a revision, to scan only the functions a change touches.

Changed lines come from `git diff -U0 REV` (working tree against REV, so
uncommitted edits count). A hunk that only deletes lines marks the two lines
around the deletion, so the function that lost them is rescanned. Untracked
files that `.gitignore` does not exclude are new: every line counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from streamguard.errors import StreamGuardError
from streamguard.io.git import git_text

_HUNK = re.compile(r"^@@ -\d+(?:,\d+)? \+(\d+)(?:,(\d+))? @@")
WHOLE_FILE = (1, 2**31)
_TIMEOUT_S = 600  # a diff across a large repository takes a while; a hung git does not take forever


@dataclass
class ChangedLines:
    """Per repo-relative path, the changed line ranges (1-based, inclusive)."""

    ranges: dict[str, list[tuple[int, int]]] = field(default_factory=dict)

    def touches_file(self, uri: str) -> bool:
        return uri in self.ranges

    def touches(self, uri: str, start: int, end: int) -> bool:
        return any(a <= end and start <= b for a, b in self.ranges.get(uri, ()))


def parse_unified_diff(diff: str) -> dict[str, list[tuple[int, int]]]:
    """Changed line ranges of the new side of a `-U0` diff, per new path."""
    ranges: dict[str, list[tuple[int, int]]] = {}
    current: list[tuple[int, int]] | None = None
    for line in diff.splitlines():
        if line.startswith("+++ "):
            target = line[4:]
            current = None if target == "/dev/null" else ranges.setdefault(target.removeprefix("b/"), [])
        elif current is not None and (hunk := _HUNK.match(line)):
            start, count = int(hunk.group(1)), int(hunk.group(2) or 1)
            # a pure deletion after line `start`: the lines on both sides belong to the touched function
            current.append((start, start + count - 1) if count else (max(start, 1), start + 1))
    return ranges


def changed_since(root: Path, rev: str) -> ChangedLines:
    """Lines changed in the working tree at `root` since `rev`, plus untracked files whole."""
    if rev.startswith("-"):
        raise StreamGuardError(f"--changed-since {rev!r}: a revision cannot start with '-'")
    try:
        git_text(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", timeout=_TIMEOUT_S)
    except StreamGuardError:
        raise StreamGuardError(
            f"--changed-since {rev}: no commit of that name in the git repository at {root} "
            "(not a branch, tag or commit there); check the spelling, and in a shallow CI checkout fetch it first "
            f"(git fetch origin {rev.removeprefix('origin/')}, or actions/checkout with fetch-depth: 0)"
        ) from None
    # core.quotePath=false: a non-ASCII path appears as itself, not as an octal-escaped string
    diff = git_text(
        root,
        "-c",
        "core.quotePath=false",
        "diff",
        "-U0",
        "--no-color",
        "--no-ext-diff",
        "--no-renames",
        rev,
        "--",
        timeout=_TIMEOUT_S,
    )
    ranges = parse_unified_diff(diff)
    for name in git_text(root, "ls-files", "-z", "--others", "--exclude-standard", timeout=_TIMEOUT_S).split("\0"):
        if name:
            ranges[name] = [WHOLE_FILE]
    return ChangedLines(ranges)
