"""Running git: one command runner whose errors say what failed where, and the few questions asked of it.

`run_git` raises a GitError (git missing, timed out, or a non-zero exit with
git's last stderr line); the question helpers (`git_value`, `head_commit`,
`work_tree_top`) answer None instead, for callers where no answer is an answer.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from streamguard.errors import StreamGuardError

# a question to git (rev-parse, config) answers at once; a hang is a broken repository or filesystem
QUESTION_TIMEOUT_S = 30


class GitError(StreamGuardError):
    """A git command that could not run or failed; `reason` is git's own (or why it did not run)."""

    def __init__(self, message: str, reason: str, *, installed: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.installed = installed


def run_git(where: Path, *args: str, stdin: bytes | None = None, timeout: float | None = None) -> bytes:
    """The output of `git -C where ARGS`; a GitError naming the command, the folder and git's reason."""
    shown = f"git {' '.join(args)}"[:200]
    try:
        done = subprocess.run(
            ["git", "-C", str(where), *args], input=stdin, capture_output=True, timeout=timeout, check=False
        )
    except FileNotFoundError:
        raise GitError(
            "the `git` command is not installed; install git", "git is not installed", installed=False
        ) from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise GitError(f"{where}: could not run `{shown}` ({exc})", str(exc)) from None
    if done.returncode != 0:
        lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
        reason = lines[-1] if lines else f"exit code {done.returncode}"
        raise GitError(f"{where}: `{shown}` failed: {reason}", reason)
    return done.stdout


def git_text(where: Path, *args: str, timeout: float | None = None) -> str:
    """`run_git`'s output as text; bytes that are not UTF-8 (a file name) survive as surrogates."""
    return run_git(where, *args, timeout=timeout).decode("utf-8", "surrogateescape")


def git_value(where: Path, *args: str) -> str | None:
    """The one-line answer of `git -C where ARGS`, or None when git is missing, fails or prints nothing."""
    try:
        return git_text(where, *args, timeout=QUESTION_TIMEOUT_S).strip() or None
    except GitError:
        return None


def head_commit(where: Path) -> str | None:
    """The commit checked out in the repository holding `where`, or None outside one."""
    return git_value(where, "rev-parse", "HEAD")


def work_tree_top(path: Path) -> Path | None:
    """The top folder of the git working tree holding `path` (a file or a folder), or None outside one."""
    top = git_value(path if path.is_dir() else path.parent, "rev-parse", "--show-toplevel")
    return Path(top).resolve() if top else None
