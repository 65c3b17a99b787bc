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

URIs are relative to the scan root: the git repository holding every PATH,
else the deepest folder holding them all, so none starts with `../`. The scan
reads only regular files inside that root: a symlink is resolved, and one
whose target lies outside the root is not read (`outside_tree`), nor is a
named pipe, device or socket (`not_regular`, checked on the opened file,
which is opened without blocking). The size cap holds while reading: at most
`max_file_bytes` + 1 bytes are read, whatever `stat` says.

Bad files never stop a scan; each is counted under one kind and reported:
`unreadable` (an OSError), `not_regular`, `outside_tree`, `binary` (a NUL
byte), `huge` (more than `max_file_bytes`, default MAX_FILE_BYTES) and
`parse_failure` (the extractor raised). `non_utf8` files are counted but still
scanned: bytes that are not UTF-8 are replaced in the function text, and line
numbers stay exact.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from streamguard.c.suffixes import C_SOURCE_SUFFIXES
from streamguard.errors import StreamGuardError
from streamguard.io.git import git_text, work_tree_top
from streamguard.io.input_files import MAX_FILE_BYTES, NotRegularFile, read_regular_file

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
BAD_FILE_KINDS = ("unreadable", "not_regular", "outside_tree", "binary", "huge", "non_utf8", "parse_failure")
EXAMPLES_KEPT = 20  # paths listed per kind in reports; the count is always exact


# what a terminal or a report reader must not get raw from a file name: controls, bidi overrides, lone surrogates
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def printable(text: str) -> str:
    """`text` with control, bidirectional-override and undecodable characters written as escapes (\\xNN, \\uNNNN)."""

    def escape(m: re.Match) -> str:
        ch = ord(m.group())
        if 0xDC80 <= ch <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            return f"\\x{ch - 0xDC00:02x}"
        return f"\\x{ch:02x}" if ch < 0x100 else f"\\u{ch:04x}"

    return _UNPRINTABLE.sub(escape, text)


@dataclass(frozen=True)
class SourceFile:
    path: Path  # where to read it: the resolved path, inside the scan root
    uri: str  # posix path relative to the scan root (SARIF's %SRCROOT%); may hold any character a file name can


@dataclass
class BadFiles:
    """Files not (fully) used, by kind: exact counts, a few example paths with the reason."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BAD_FILE_KINDS, 0))
    examples: dict[str, list[str]] = field(default_factory=lambda: {k: [] for k in BAD_FILE_KINDS})

    def add(self, kind: str, uri: str, reason: str = "") -> None:
        self.counts[kind] += 1
        if len(self.examples[kind]) < EXAMPLES_KEPT:
            shown = printable(uri)
            self.examples[kind].append(f"{shown}: {printable(reason[:200])}" if reason else shown)

    def summary(self) -> str:
        return ", ".join(f"{n} {kind.replace('_', '-')}" for kind, n in self.counts.items() if n) or "none"


def _located(path: Path) -> Path:
    """`path` absolute, with its folders resolved but not its last component (a symlink stays itself)."""
    return path.resolve() if path.is_dir() else path.absolute().parent.resolve() / path.name


def scan_root(paths: list[Path]) -> Path:
    """What URIs are relative to: the git repository holding every PATH, else the deepest folder holding them all."""
    where = [_located(p) for p in paths]
    folders = [w if w.is_dir() else w.parent for w in where]
    repo = work_tree_top(folders[0])
    if repo is not None and all(f.is_relative_to(repo) for f in folders):
        return repo
    return Path(os.path.commonpath(folders))


def is_skipped_dir(name: str) -> bool:
    return name in SKIPPED_DIRS or name.startswith(".") or name.startswith("cmake-build-")


def _under_skipped_dir(relative: Path) -> bool:
    return any(is_skipped_dir(part) for part in relative.parts[:-1])


def _git_listing(directory: Path, repo: Path) -> list[Path]:
    """Files git would show under `directory`: tracked + untracked-not-ignored, less those deleted on disk."""

    def ls(*flags: str) -> list[str]:
        listing = git_text(repo, "ls-files", "-z", *flags, "--", str(directory.relative_to(repo)) or ".", timeout=600)
        return [p for p in listing.split("\0") if p]

    deleted = set(ls("--deleted"))
    names = dict.fromkeys(ls("--cached", "--others", "--exclude-standard"))  # ordered, no duplicates
    return [repo / name for name in names if name not in deleted]


def _walked_listing(directory: Path) -> list[Path]:
    found: list[Path] = []
    for here, dirs, files in os.walk(directory):  # symlinked folders are listed, never entered
        dirs[:] = sorted(d for d in dirs if not is_skipped_dir(d))
        found.extend(Path(here) / f for f in sorted(files))
    return found


def _uri(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def list_sources(paths: list[Path], root: Path, bad: BadFiles | None = None) -> list[SourceFile]:
    """Every C/C++ file the PATHs name, once each, in a stable order; links leaving `root` are counted in `bad`."""
    files: dict[str, SourceFile] = {}
    for given in paths:
        if not given.exists() and not given.is_symlink():
            raise StreamGuardError(f"{given}: no such file or directory; pass C/C++ files or folders to scan")
        if not given.is_dir():
            candidates = [_located(given)]  # named on the command line: always read, whatever its folder
        else:
            tree = given.resolve()
            repo = work_tree_top(tree)
            listing = _git_listing(tree, repo) if repo else _walked_listing(tree)
            candidates = [p for p in listing if not _under_skipped_dir(p.relative_to(tree))]
        for path in candidates:
            if path.suffix not in C_SOURCE_SUFFIXES:
                continue
            uri = _uri(path, root)
            if uri in files:
                continue
            target = path.resolve()
            if not target.is_relative_to(root):
                if bad is not None:
                    bad.add("outside_tree", uri, "a symlink to a file outside the scanned tree; not read")
                continue
            files[uri] = SourceFile(path=target, uri=uri)
    return sorted(files.values(), key=lambda f: f.uri)


def read_source(source: SourceFile, bad: BadFiles, max_file_bytes: int = MAX_FILE_BYTES) -> bytes | None:
    """The file's bytes, or None when it is unusable (counted in `bad` with the reason)."""
    try:
        data = read_regular_file(source.path, max_file_bytes)
    except NotRegularFile as exc:
        bad.add("not_regular", source.uri, str(exc))
        return None
    except OSError as exc:
        bad.add("unreadable", source.uri, exc.strerror or type(exc).__name__)
        return None
    if len(data) > max_file_bytes:
        bad.add("huge", source.uri, f"more than {max_file_bytes} bytes")
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
