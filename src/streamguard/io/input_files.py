"""Opening the files people hand us, with errors that name the file (and line) instead of tracebacks.

What goes wrong with real inputs: a missing path, a directory where a file is
expected, a `.gz` that was cut short or is not gzip at all, bytes that are not
UTF-8, and JSON nested deeper than Python's parser can recurse. Each becomes an
InputFileError saying what, where and what to do.
"""

from __future__ import annotations

import gzip
import json
import os
import stat
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from streamguard.errors import StreamGuardError

MAX_FILE_BYTES = 10 * 1024 * 1024  # a 9 MB amalgamation (sqlite3.c) still scans; generated blobs do not

_GZIP_MAGIC = b"\x1f\x8b"
# what gzip/zlib raise on damaged data: EOFError (cut short), BadGzipFile (an OSError), zlib.error
DAMAGED = (EOFError, OSError, zlib.error)


class InputFileError(StreamGuardError, ValueError):
    """An input file that cannot be read; the message names the file (and line) and what to do."""


class NotRegularFile(OSError):
    """A path that names a pipe, device, socket or directory where a file's bytes are wanted."""


_SPECIAL_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a directory"),
)


def read_regular_file(path: Path, max_bytes: int) -> bytes:
    """At most `max_bytes` + 1 bytes of `path`, which must be a regular file (else NotRegularFile).

    Opened without blocking and checked on the open descriptor, so a named pipe
    or a device never stalls or floods the read; the cap holds while reading,
    whatever `stat` claimed. A result longer than `max_bytes` means the file is.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            kind = next((name for test, name in _SPECIAL_KINDS if test(mode)), "not a regular file")
            raise NotRegularFile(f"{kind}, not a regular file")
        chunks, left = [], max_bytes + 1
        while left > 0 and (chunk := os.read(fd, min(left, 1 << 20))):
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def require_file(path: Path, key: str | None = None) -> Path:
    """`path` if it is a regular file; else an error naming the params key that pointed at it."""
    label = f"{key}: {path}" if key else str(path)
    if not path.exists():
        raise InputFileError(f"{label} does not exist; check the path")
    if not path.is_file():
        kind = "a directory" if path.is_dir() else "not a regular file"
        raise InputFileError(f"{label} is {kind}; a file is expected here")
    return path


def open_binary(path: Path) -> BinaryIO:
    """`path` opened for reading bytes, decompressed when the name ends in .gz."""
    require_file(path)
    if path.suffix != ".gz":
        return open(path, "rb")
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head != _GZIP_MAGIC:
        raise InputFileError(
            f"{path}: named .gz but not gzip-compressed (starts with {head!r}); "
            "compress it with gzip or drop the .gz from its name"
        )
    return cast(BinaryIO, gzip.open(path, "rb"))


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, raw bytes) of every line of a plain or gzip file."""
    lineno = 0
    try:
        with open_binary(path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                yield lineno, raw
    except DAMAGED as exc:
        raise InputFileError(damaged_message(path, exc, f"data after line {lineno}")) from None


def read_bytes(path: Path) -> bytes:
    """The whole (decompressed) content of a plain or gzip file."""
    try:
        with open_binary(path) as fh:
            return fh.read()
    except DAMAGED as exc:
        raise InputFileError(damaged_message(path, exc, "gzip data" if path.suffix == ".gz" else "")) from None


def damaged_message(path: Path | str, exc: BaseException, at: str = "") -> str:
    where = f" {at}" if at else ""
    return (
        f"{path}: truncated or corrupt{where} ({type(exc).__name__}: {str(exc)[:120]}); "
        "the file is incomplete or damaged — download or compress it again"
    )


def decode_utf8(raw: bytes, where: str) -> str:
    """`raw` as text; the error names the byte (and, for a whole file, the line) that is not UTF-8."""
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        at = f"line {line}, " if b"\n" in raw[: exc.start] else ""
        raise InputFileError(
            f"{where}: not valid UTF-8 ({at}byte {exc.start}: {raw[exc.start : exc.start + 1]!r}); "
            "re-encode the file as UTF-8"
        ) from None


def decode_json(text: str, where: str, *, document: bool = False) -> Any:
    """Parse JSON text read from `where`.

    `document`: the text is a whole file, so an error adds the line to `where`;
    otherwise `where` is already "file:line" of a JSON Lines record.
    """
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        at = f"{where}:{exc.lineno}" if document else where
        raise InputFileError(f"{at}: malformed JSON ({exc.msg} at column {exc.colno})") from None
    except RecursionError:
        # json.loads recurses once per nesting level; no function record is nested this deep
        raise InputFileError(
            f"{where}: JSON nested too deeply to read (more than about {sys.getrecursionlimit()} levels); "
            "this is not a record file — check that the path points at the right data"
        ) from None
