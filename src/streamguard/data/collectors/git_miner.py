"""Repository mining: security fixes in local git clones, found by commit message.

A commit whose message matches one of collect.git_patterns (CVE ids,
overflow, use-after-free, ...) is taken as a fix; every C function it changed
gives a pre-fix (vulnerable) and post-fix (fixed) record. Merges and root
commits are skipped (no single parent to compare with). Uses the `git` CLI.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from streamguard.data.collectors.base import Collected, CollectError, SourceSkipped
from streamguard.data.collectors.context import CollectContext
from streamguard.data.collectors.fix_pairs import FunctionPair, changed_functions, is_c_file, pair_records
from streamguard.data.collectors.progress import parallel_map
from streamguard.data.noise import confidence_for

_CVE = re.compile(r"CVE-\d{4}-\d{4,}", re.I)
_CWE = re.compile(r"CWE-(\d+)", re.I)
# a message naming the flaw, when it cites no CWE id: first match wins
_KEYWORD_CWE = [
    (re.compile(r"use[- ]after[- ]free", re.I), "CWE-416"),
    (re.compile(r"double[- ]free", re.I), "CWE-415"),
    (re.compile(r"null[- ](pointer[- ])?deref", re.I), "CWE-476"),
    (re.compile(r"format[- ]string", re.I), "CWE-134"),
    (re.compile(r"integer overflow|int(eger)? wrap", re.I), "CWE-190"),
    (re.compile(r"memory leak", re.I), "CWE-401"),
    (re.compile(r"out[- ]of[- ]bounds read|over-?read", re.I), "CWE-125"),
    (re.compile(r"stack[- ](based )?buffer overflow", re.I), "CWE-121"),
    (re.compile(r"heap[- ](based )?buffer overflow|heap overflow", re.I), "CWE-122"),
    (re.compile(r"out[- ]of[- ]bounds write|buffer overflow", re.I), "CWE-787"),
]


@dataclass
class FixCommit:
    sha: str
    parent: str
    message: str


@dataclass
class CommitPairs:
    commit: FixCommit
    files: list[tuple[str, str, list[FunctionPair]]]  # (path, path before, pairs)


def collect_git(ctx: CollectContext) -> Collected:
    collect = ctx.collect
    if not collect.git_repos:
        raise SourceSkipped("collect.git_repos is empty; list local git clones to mine for security-fix commits")
    patterns = [re.compile(p, re.I) for p in collect.git_patterns]
    out = Collected()
    per_repo: dict[str, dict[str, int]] = {}
    for i, repo_str in enumerate(collect.git_repos):
        repo = Path(repo_str)
        _check_repo(repo, f"collect.git_repos[{i}]")
        commits = find_fix_commits(repo, patterns, collect.git_max_commits)
        mined = parallel_map(lambda c: commit_pairs(repo, c), commits, collect.workers, f"git: {repo.name}")
        before = len(out.pairs)
        for item in mined:
            _add_records(out, repo, item, ctx)
        per_repo[str(repo)] = {"fix_commits": len(commits), "pairs": len(out.pairs) - before}
    out.details["repos"] = per_repo
    return out


def find_fix_commits(repo: Path, patterns: list[re.Pattern[str]], max_commits: int) -> list[FixCommit]:
    """Non-merge commits reachable from HEAD whose message matches a pattern, newest first."""
    args = ["log", "--no-merges", "--format=%H%x1f%P%x1f%B%x1e"]
    if max_commits:
        args.append(f"--max-count={max_commits}")
    found = []
    for entry in _git(repo, *args).decode("utf-8", "replace").split("\x1e"):
        entry = entry.strip("\n")
        if not entry:
            continue
        sha, parents, message = entry.split("\x1f", 2)
        if not parents.strip():
            continue  # root commit: nothing to compare with
        if any(p.search(message) for p in patterns):
            found.append(FixCommit(sha, parents.split()[0], message.strip()))
    return found


def commit_pairs(repo: Path, commit: FixCommit) -> CommitPairs:
    """Changed C functions of one commit (modified and renamed files)."""
    listing = _git(repo, "diff-tree", "-r", "-M", "--no-commit-id", "--name-status", "-z", commit.parent, commit.sha)
    fields = listing.decode("utf-8", "replace").split("\0")
    files = []
    i = 0
    while i < len(fields) - 1:
        status = fields[i]
        if status.startswith(("R", "C")):
            old, new = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old = new = fields[i + 1]
            i += 2
        if not status.startswith(("M", "R")) or not is_c_file(new):
            continue
        before = _git(repo, "cat-file", "blob", f"{commit.parent}:{old}")
        after = _git(repo, "cat-file", "blob", f"{commit.sha}:{new}")
        files.append((new, old, changed_functions(before, after)))
    return CommitPairs(commit, files)


def message_cwe(message: str) -> str | None:
    """CWE named by a commit message: an explicit CWE id, else a flaw keyword."""
    match = _CWE.search(message)
    if match:
        return f"CWE-{int(match.group(1))}"
    return next((cwe for pattern, cwe in _KEYWORD_CWE if pattern.search(message)), None)


def _add_records(out: Collected, repo: Path, item: CommitPairs, ctx: CollectContext) -> None:
    commit = item.commit
    cves = {c.upper() for c in _CVE.findall(commit.message)}
    exploited = any(c in ctx.exploit_cves for c in cves)
    confidence = confidence_for("git_exploit" if exploited else "git", ctx.collect)
    cwe = message_cwe(commit.message)
    counts: Counter = Counter()
    for path, old_path, pairs in item.files:
        counts["c_files"] += 1
        for pair in pairs:
            out.pairs.append(
                pair_records(
                    pair,
                    source="git",
                    project=repo.resolve().name,
                    commit=commit.sha,
                    cwe=cwe,
                    confidence=confidence,
                    before_origin=f"{repo}@{commit.parent[:12]}:{old_path}:",
                    after_origin=f"{repo}@{commit.sha[:12]}:{path}:",
                )
            )
    if not counts["c_files"]:
        out.dropped["fix_commit_without_c_changes"] += 1


def _check_repo(repo: Path, key: str) -> None:
    if not repo.is_dir():
        raise CollectError(f"{key}: {repo} does not exist; clone the repository there or remove it from params.yaml")
    try:
        _git(repo, "rev-parse", "--verify", "HEAD")
        bare = _git(repo, "rev-parse", "--is-bare-repository").strip() == b"true"
        top = Path(_git(repo, "rev-parse", "--absolute-git-dir" if bare else "--show-toplevel").decode().strip())
    except CollectError as exc:
        raise CollectError(f"{key}: {repo} is not a git repository with commits ({exc})") from None
    if top.resolve() != repo.resolve():
        # git would mine the enclosing repository's whole history, not what was asked for
        raise CollectError(
            f"{key}: {repo} is not the top of a git repository but a folder inside {top}; "
            f"list {top} itself, or clone the repository you meant to mine"
        )


def _git(repo: Path, *args: str) -> bytes:
    try:
        done = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=False)
    except FileNotFoundError:
        raise CollectError("the `git` command is not installed; install git to mine repositories") from None
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CollectError(f"git {' '.join(args[:3])} in {repo} failed: {err[-1] if err else done.returncode}")
    return done.stdout
