"""Which files `scan` reads, and the files it could not use, counted instead of failing.

Files: C/C++ sources and headers (`.c .h .cc .cpp .cxx .hpp`). Inside a git
repository the list is git's: tracked files plus untracked files that
`.gitignore` does not exclude (`git ls-files --cached --others
--exclude-standard`), minus files deleted from the working tree. Elsewhere the
directory is walked.

Vendored and build folders are skipped: a file is skipped when a folder on
its path *below the PATH given on the command line* is named one of
SKIPPED_DIRS, or starts with `cmake-build-`, or starts with a dot (`.git`,
`.venv`, ...). So `scan .` skips `third_party/zlib/`, while `scan
third_party/zlib` scans it; a file named on the command line is always read.

Bad files never stop a scan; each is counted under one kind and reported:
`unreadable` (an OSError), `binary` (a NUL byte), `huge` (more than
`max_file_bytes`, default MAX_FILE_BYTES) and `parse_failure` (the extractor
raised). `non_utf8` files are counted but still scanned: bytes that are not
UTF-8 are replaced in the function text, and line numbers stay exact.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from streamguard.errors import StreamGuardError

C_SOURCE_SUFFIXES = frozenset({".c", ".h", ".cc", ".cpp", ".cxx", ".hpp"})
SKIPPED_DIRS = frozenset(
    {
        "vendor",
        "vendors",
        "third_party",
        "third-party",
        "thirdparty",
        "external",
        "extern",
        "build",
        "_build",
        "builds",
        "node_modules",
        "bower_components",
    }
)
MAX_FILE_BYTES = 10 * 1024 * 1024  # a 9 MB amalgamation (sqlite3.c) still scans; generated blobs do not
BAD_FILE_KINDS = ("unreadable", "binary", "huge", "non_utf8", "parse_failure")
EXAMPLES_KEPT = 20  # paths listed per kind in reports; the count is always exact


@dataclass(frozen=True)
class SourceFile:
    path: Path  # where to read it
    uri: str  # posix path relative to the scan root (SARIF's %SRCROOT%)


@dataclass
class BadFiles:
    """Files not (fully) used, by kind: exact counts, a few example paths with the reason."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_FILE_KINDS, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in BAD_FILE_KINDS})

    def add(self, kind: str, uri: str, reason: str = "") -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < EXAMPLES_KEPT:
            self.examples[kind].append(f"{uri}: {reason[:200]}" if reason else uri)

    def summary(self) -> str:
        return ", ".join(f"{n} {kind.replace('_', '-')}" for kind, n in self.counts.items() if n) or "none"


def git_root(path: Path) -> Path | None:
    """The top of the git working tree holding `path`, or None outside one."""
    where = path if path.is_dir() else path.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "--show-toplevel"], capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return Path(out.stdout.strip()).resolve() if out.returncode == 0 and out.stdout.strip() else None


def scan_root(paths: list[Path]) -> Path:
    """What URIs are relative to: the git repository of the first PATH, else the current directory."""
    return git_root(paths[0].resolve()) or Path.cwd().resolve()


def is_skipped_dir(name: str) -> bool:
    return name in SKIPPED_DIRS or name.startswith(".") or name.startswith("cmake-build-")


def _under_skipped_dir(relative: Path) -> bool:
    return any(is_skipped_dir(part) for part in relative.parts[:-1])


def _git_listing(directory: Path, repo: Path) -> list[Path]:
    """Files git would show under `directory`: tracked + untracked-not-ignored, less those deleted on disk."""

    def ls(*flags: str) -> list[str]:
        cmd = ["git", "-C", str(repo), "ls-files", "-z", *flags, "--", str(directory.relative_to(repo)) or "."]
        out = subprocess.run(cmd, capture_output=True, timeout=600)
        if out.returncode != 0:
            raise StreamGuardError(f"{directory}: `git ls-files` failed ({out.stderr.decode(errors='replace')[:300]})")
        return [p for p in out.stdout.decode("utf-8", "surrogateescape").split("\0") if p]

    deleted = set(ls("--deleted"))
    names = dict.fromkeys(ls("--cached", "--others", "--exclude-standard"))  # ordered, no duplicates
    return [repo / name for name in names if name not in deleted]


def _walked_listing(directory: Path) -> list[Path]:
    found: list[Path] = []
    for here, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if not is_skipped_dir(d))
        found.extend(Path(here) / f for f in sorted(files))
    return found


def _uri(path: Path, root: Path) -> str:
    return Path(os.path.relpath(path.absolute(), root)).as_posix()


def list_sources(paths: list[Path], root: Path) -> list[SourceFile]:
    """Every C/C++ file the PATHs name, once each, in a stable order."""
    files: dict[str, SourceFile] = {}
    for given in paths:
        if not given.exists():
            raise StreamGuardError(f"{given}: no such file or directory; pass C/C++ files or folders to scan")
        if given.is_file():
            candidates = [given]  # named on the command line: always read, whatever its folder
        else:
            repo = git_root(given.resolve())
            listing = _git_listing(given.resolve(), repo) if repo else _walked_listing(given)
            candidates = [
                p
                for p in listing
                if not _under_skipped_dir(p.relative_to(given.resolve()) if repo else p.relative_to(given))
            ]
        for path in candidates:
            if path.suffix in C_SOURCE_SUFFIXES:
                uri = _uri(path, root)
                files.setdefault(uri, SourceFile(path=path, uri=uri))
    return sorted(files.values(), key=lambda f: f.uri)


def read_source(source: SourceFile, bad: BadFiles, max_file_bytes: int = MAX_FILE_BYTES) -> bytes | None:
    """The file's bytes, or None when it is unusable (counted in `bad` with the reason)."""
    try:
        size = source.path.stat().st_size
        if size > max_file_bytes:
            bad.add("huge", source.uri, f"{size} bytes > {max_file_bytes}")
            return None
        data = source.path.read_bytes()
    except OSError as exc:
        bad.add("unreadable", source.uri, exc.strerror or type(exc).__name__)
        return None
    nul = data.find(b"\0")
    if nul >= 0:
        bad.add("binary", source.uri, f"NUL byte at offset {nul}")
        return None
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        bad.add("non_utf8", source.uri, f"line {line}: byte {data[exc.start]:#04x} is not UTF-8; scanned with U+FFFD")
    return data
