"""Repository mining: security fixes in local git clones, found by commit message.

A commit whose message matches one of collect.git_patterns (CVE ids,
overflow, use-after-free, ...) is taken as a fix; every C function it changed
gives a pre-fix (vulnerable) and post-fix (fixed) record. Uses the `git` CLI.

Rules for what real histories contain, each counted per repository in the
report (details.repos.<repo>):
- merge commits are skipped (no single parent to compare with; the fix is
  mined on its own branch), and so is the root commit;
- a shallow clone is mined as far as it goes, with a warning and `shallow: true`
  in its report: a commit at the shallow boundary has a parent the clone lacks,
  so it is skipped as `shallow_boundary`, never taken for a root commit;
- a `.bundle` file is cloned into a temporary folder and mined like its repository;
- renamed files are followed (the vulnerable side keeps its old path);
- a commit touching more than HUGE_COMMIT_C_FILES C files is a sweep
  (reformatting, relicensing, an API migration), not a fix: skipped;
- only .c/.h files count; files under a vendored or test directory, and test
  or fuzzer sources by name (VENDORED_OR_TEST_DIRS, _TEST_FILE) are left out:
  their "vulnerable" side is test or third-party code;
- added or deleted files, and functions added or deleted inside a file, have
  no counterpart: counted, never paired;
- a function whose change touches only comments or whitespace is dropped.
CVE ids in the message go to each record's `cve`; the CWE comes from the
message (an explicit CWE id, else a flaw keyword).
"""

from __future__ import annotations

import re
import time
from collections import Counter
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path, PurePosixPath

from streamguard.c.suffixes import is_plain_c_file
from streamguard.data.collectors.base import Collected, CollectError, SourceSkipped
from streamguard.data.collectors.context import CollectContext
from streamguard.data.collectors.fix_pairs import FunctionChanges, diff_functions, pair_records
from streamguard.data.collectors.progress import console, parallel_map
from streamguard.data.git_bundle import cloned_bundle, is_bundle
from streamguard.data.noise import code_text, confidence_for
from streamguard.io import git

# more C files than this in one commit is a sweep, not a security fix
HUGE_COMMIT_C_FILES = 50
# a path with any of these directories (case-insensitive) is test or third-party code
VENDORED_OR_TEST_DIRS = frozenset(
    {
        "test",
        "tests",
        "testing",
        "testsuite",
        "unittest",
        "unittests",
        "regress",
        "fuzz",
        "fuzzing",
        "fuzzers",
        "ossfuzz",
        "oss-fuzz",
        "vendor",
        "vendored",
        "third_party",
        "third-party",
        "thirdparty",
        "3rdparty",
        "external",
        "extern",
    }
)
# ... and so is a file named like test_x.c, x_test.c, x-tests.c or x_fuzzer.c
_TEST_FILE = re.compile(r"^tests?[_-]|[_-](tests?|fuzzer)\.[ch]$", re.I)

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
class History:
    """The commits of one repository a log walk saw, and the fix commits among them."""

    scanned: int = 0
    merges: int = 0
    shallow: bool = False  # a shallow clone: history stops at its boundary commits
    fixes: list[FixCommit] = field(default_factory=list)
    skipped: Counter = field(default_factory=Counter)  # matching commits not mined: merge, root, shallow boundary


@dataclass
class CommitPairs:
    commit: FixCommit
    files: list[tuple[str, str, FunctionChanges]]  # (path, path before, what changed)
    skipped_files: Counter  # rule -> files left out
    huge: bool = False


def is_vendored_or_test(path: str) -> bool:
    parts = PurePosixPath(path).parts
    return any(part.lower() in VENDORED_OR_TEST_DIRS for part in parts[:-1]) or bool(_TEST_FILE.search(parts[-1]))


def collect_git(ctx: CollectContext) -> Collected:
    collect = ctx.collect
    if not collect.git_repos:
        raise SourceSkipped("collect.git_repos is empty; list local git clones to mine for security-fix commits")
    patterns = [re.compile(p, re.I) for p in collect.git_patterns]
    out = Collected()
    per_repo: dict[str, dict] = {}
    for i, repo_str in enumerate(collect.git_repos):
        repo, key = Path(repo_str), f"collect.git_repos[{i}]"
        with cloned_bundle(repo, key) if is_bundle(repo) else nullcontext(repo) as clone:
            _check_repo(clone, key, shown=repo)
            started = time.perf_counter()
            history = find_fix_commits(clone, patterns, collect.git_max_commits)
            if history.shallow:
                console.print(
                    f"[yellow]warning:[/] {key}: {repo} is a shallow clone: only the {history.scanned} commits it "
                    f"holds are mined, and {history.skipped['shallow_boundary']} matching commit(s) at its boundary "
                    "have no parent in it. Mine the whole history: `git fetch --unshallow` in that clone",
                    highlight=False,
                )
            mined = parallel_map(partial(commit_pairs, clone), history.fixes, collect.workers, f"git: {repo.name}")
            counts = RepoCounts()
            for item in mined:
                _add_records(out, repo, item, ctx, counts)
            seconds = time.perf_counter() - started
        per_repo[str(repo)] = counts.report(history, seconds)
        for rule_counts in (history.skipped, counts.commits_dropped, counts.files_dropped, counts.functions_dropped):
            out.dropped.update(rule_counts)
    out.details["repos"] = per_repo
    out.details["rules"] = {
        "huge_commit_c_files": HUGE_COMMIT_C_FILES,
        "vendored_or_test_dirs": sorted(VENDORED_OR_TEST_DIRS),
        "test_file_pattern": _TEST_FILE.pattern,
    }
    return out


def find_fix_commits(repo: Path, patterns: list[re.Pattern[str]], max_commits: int) -> History:
    """Every commit reachable from HEAD (newest first, at most max_commits), and the mineable fixes among them."""
    args = ["log", "--format=%H%x1f%P%x1f%B%x1e"]
    if max_commits:
        args.append(f"--max-count={max_commits}")
    history = History(shallow=run_git(repo, "rev-parse", "--is-shallow-repository").strip() == b"true")
    boundary = _shallow_boundary(repo) if history.shallow else set()
    for entry in run_git(repo, *args).decode("utf-8", "replace").split("\x1e"):
        entry = entry.strip("\n")
        if not entry:
            continue
        sha, parents, message = entry.split("\x1f", 2)
        parent_list = parents.split()
        history.scanned += 1
        history.merges += len(parent_list) > 1
        if not any(p.search(message) for p in patterns):
            continue
        if len(parent_list) > 1:
            history.skipped["merge"] += 1  # no single parent to compare with
        elif not parent_list and sha in boundary:
            history.skipped["shallow_boundary"] += 1  # its parent exists, but not in this clone
        elif not parent_list:
            history.skipped["root_commit"] += 1  # nothing to compare with
        else:
            history.fixes.append(FixCommit(sha, parent_list[0], message.strip()))
    return history


def _shallow_boundary(repo: Path) -> set[str]:
    """The commits a shallow clone holds without their parents (git's `shallow` file)."""
    shallow = Path(run_git(repo, "rev-parse", "--git-path", "shallow").decode().strip())
    shallow = shallow if shallow.is_absolute() else repo / shallow
    return set(shallow.read_text().split()) if shallow.is_file() else set()


def commit_pairs(repo: Path, commit: FixCommit) -> CommitPairs:
    """What one commit did to the functions of its C files (modified and renamed files)."""
    listing = run_git(repo, "diff-tree", "-r", "-M", "--no-commit-id", "--name-status", "-z", commit.parent, commit.sha)
    fields = listing.decode("utf-8", "replace").split("\0")
    kept: list[tuple[str, str]] = []
    skipped: Counter = Counter()
    i = 0
    while i < len(fields) - 1:
        status = fields[i]
        if status.startswith(("R", "C")):
            old, new = fields[i + 1], fields[i + 2]
            i += 3
        else:
            old = new = fields[i + 1]
            i += 2
        if not is_plain_c_file(new):
            skipped["non_c_file"] += 1
        elif is_vendored_or_test(new) or is_vendored_or_test(old):
            skipped["vendored_or_test_file"] += 1
        elif status.startswith("A"):
            skipped["c_file_added"] += 1  # every function in it is new: no vulnerable side
        elif status.startswith("D"):
            skipped["c_file_deleted"] += 1
        elif status.startswith(("M", "R")):
            kept.append((new, old))
        else:
            skipped["c_file_other_change"] += 1  # copies, type changes
    if len(kept) > HUGE_COMMIT_C_FILES:
        return CommitPairs(commit, [], skipped, huge=True)
    files = []
    for new, old in kept:
        before = run_git(repo, "cat-file", "blob", f"{commit.parent}:{old}")
        after = run_git(repo, "cat-file", "blob", f"{commit.sha}:{new}")
        files.append((new, old, diff_functions(before, after)))
    return CommitPairs(commit, files, skipped)


@dataclass
class RepoCounts:
    """Per-repository tallies for the report."""

    matched_citing_cve: int = 0
    commits_with_pairs: int = 0
    pairs: int = 0
    commits_dropped: Counter = field(default_factory=Counter)
    files_dropped: Counter = field(default_factory=Counter)
    functions_dropped: Counter = field(default_factory=Counter)

    def report(self, history: History, seconds: float) -> dict:
        return {
            "shallow": history.shallow,
            "commits_scanned": history.scanned,
            "merges_scanned": history.merges,
            "commits_matched": len(history.fixes) + sum(history.skipped.values()),
            "commits_mined": len(history.fixes),
            "commits_matched_citing_cve": self.matched_citing_cve,
            "commits_with_pairs": self.commits_with_pairs,
            "pairs": self.pairs,
            "commits_dropped": dict(sorted((history.skipped + self.commits_dropped).items())),
            "files_dropped": dict(sorted(self.files_dropped.items())),
            "functions_dropped": {k: n for k, n in sorted(self.functions_dropped.items()) if n},
            "seconds": round(seconds, 2),
            "commits_per_s": round(history.scanned / seconds, 1) if seconds > 0 else None,
        }


def message_cwe(message: str) -> str | None:
    """CWE named by a commit message: an explicit CWE id, else a flaw keyword."""
    match = _CWE.search(message)
    if match:
        return f"CWE-{int(match.group(1))}"
    return next((cwe for pattern, cwe in _KEYWORD_CWE if pattern.search(message)), None)


def _add_records(out: Collected, repo: Path, item: CommitPairs, ctx: CollectContext, counts: RepoCounts) -> None:
    commit = item.commit
    cves = sorted({c.upper() for c in _CVE.findall(commit.message)})
    counts.matched_citing_cve += bool(cves)
    counts.files_dropped.update(item.skipped_files)
    if item.huge:
        counts.commits_dropped["huge_commit"] += 1
        return
    if not item.files:
        counts.commits_dropped["no_modified_c_file"] += 1
        return
    exploited = any(c in ctx.exploit_cves for c in cves)
    confidence = confidence_for("git_exploit" if exploited else "git", ctx.collect)
    cwe = message_cwe(commit.message)
    before = counts.pairs
    for path, old_path, changes in item.files:
        counts.functions_dropped.update(function_added=changes.added, function_deleted=changes.deleted)
        for pair in changes.pairs:
            if code_text(pair.before.text) == code_text(pair.after.text):
                counts.functions_dropped["comment_or_whitespace_only"] += 1
                continue
            counts.pairs += 1
            out.pairs.append(
                pair_records(
                    pair,
                    source="git",
                    project=repo.resolve().name.removesuffix(".bundle"),
                    commit=commit.sha,
                    cwe=cwe,
                    cve=",".join(cves) or None,
                    confidence=confidence,
                    before_origin=f"{repo}@{commit.parent[:12]}:{old_path}:",
                    after_origin=f"{repo}@{commit.sha[:12]}:{path}:",
                )
            )
    if counts.pairs > before:
        counts.commits_with_pairs += 1
    else:
        counts.commits_dropped["no_changed_function"] += 1


def _check_repo(repo: Path, key: str, shown: Path) -> None:
    """`repo` (the clone of `shown` when that is a bundle) is the top of a git repository with commits."""
    if not repo.is_dir():
        kind = "is a file, neither a git clone nor a .bundle" if repo.exists() else "does not exist"
        raise CollectError(
            f"{key}: {shown} {kind}; list a git clone (or a `git bundle create` .bundle file), or remove it "
            "from params.yaml"
        )
    try:
        run_git(repo, "rev-parse", "--verify", "HEAD")
        bare = run_git(repo, "rev-parse", "--is-bare-repository").strip() == b"true"
        top = Path(run_git(repo, "rev-parse", "--absolute-git-dir" if bare else "--show-toplevel").decode().strip())
    except CollectError as exc:
        raise CollectError(f"{key}: {shown} is not a git repository with commits ({exc})") from None
    if top.resolve() != repo.resolve():
        # git would mine the enclosing repository's whole history, not what was asked for
        raise CollectError(
            f"{key}: {shown} is not the top of a git repository but a folder inside {top}; "
            f"list {top} itself, or clone the repository you meant to mine"
        )


def run_git(repo: Path, *args: str, stdin: bytes | None = None) -> bytes:
    """`git -C repo ARGS` output; a failure is a CollectError with git's own reason."""
    try:
        return git.run_git(repo, *args, stdin=stdin)
    except git.GitError as exc:
        raise CollectError(f"{exc}{'' if exc.installed else ' to mine repositories'}") from None
