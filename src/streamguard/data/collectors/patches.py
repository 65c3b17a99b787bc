"""Undo a unified diff: the file before a commit, from the file after it and its patch.

GitHub's commit API returns each file's patch; with the post-fix file that
gives the pre-fix file without a second download. Every context and added
line is checked, so a patch that does not match raises PatchMismatch and the
caller falls back to fetching the parent's file.
"""

from __future__ import annotations

import re

_HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


class PatchMismatch(ValueError):
    """The patch does not describe `after` (truncated, or a different revision)."""


def reverse_apply(after: str, patch: str) -> str:
    new_lines = after.splitlines(keepends=True)
    old: list[str] = []
    pos = 0  # next unread index into new_lines
    lines = patch.splitlines()
    i = 0
    while i < len(lines):
        match = _HUNK.match(lines[i])
        if not match:
            i += 1
            continue
        new_start = int(match.group(3))
        # "+0,0" marks an empty new side; otherwise start is 1-based
        start_index = new_start - 1 if new_start > 0 else 0
        if start_index < pos or start_index > len(new_lines):
            raise PatchMismatch(f"hunk '{lines[i]}' starts outside the file")
        old.extend(new_lines[pos:start_index])
        pos = start_index
        i += 1
        while i < len(lines) and not lines[i].startswith("@@"):
            line = lines[i]
            tag, body = line[:1], line[1:]
            if tag in (" ", "+"):
                if pos >= len(new_lines) or new_lines[pos].rstrip("\r\n") != body:
                    raise PatchMismatch(f"patch line {i + 1} ({line[:60]!r}) does not match the file")
                if tag == " ":
                    old.append(new_lines[pos])
                pos += 1
            elif tag == "-":
                old.append(body + "\n")
            elif tag == "\\":  # "\ No newline at end of file"
                if old and lines[i - 1].startswith("-"):
                    old[-1] = old[-1].rstrip("\n")
            elif line == "":
                # some tools strip the space of an empty context line
                if pos < len(new_lines) and new_lines[pos].strip() == "":
                    old.append(new_lines[pos])
                    pos += 1
            i += 1
    old.extend(new_lines[pos:])
    return "".join(old)
