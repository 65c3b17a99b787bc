"""Writing a file so that readers see the old content or the new one, never half of it.

The content goes to a temporary file beside the target (same folder, so the
rename cannot cross file systems), which is renamed over the target only when
all of it was written. The temporary name starts with a dot and ends in .tmp:
a reader globbing `*.jsonl` or `*.pt` never sees it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: Path, *, durable: bool = False) -> Iterator[Path]:
    """A temporary path to write `path`'s new content to; renamed over `path` when the block ends without error.

    On an error the temporary file is removed and `path` keeps its old content.
    `durable`: the file and the rename are on disk (fsync) before the block ends,
    so a power cut cannot leave an empty file where a checkpoint was.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{threading.get_ident()}.tmp")
    try:
        yield tmp
        if durable:
            _fsync(tmp)
        os.replace(tmp, path)
        if durable:
            _fsync(path.parent)  # the rename is durable only once the directory entry is
    finally:
        tmp.unlink(missing_ok=True)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(path: Path, text: str) -> None:
    """`text` as UTF-8 into `path`, all or nothing."""
    write_bytes_atomic(path, text.encode("utf-8"))
