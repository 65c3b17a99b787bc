"""JSON Lines: one JSON value per line, plain or gzip-compressed when the name ends in .gz.

Reading skips blank lines and names file and line on every error
(`input_files.InputFileError`); writing gives the same bytes for the same rows
on every run (a .gz carries no timestamp), which DVC's content addressing needs.
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from streamguard.io.input_files import decode_json, decode_utf8, iter_lines


def iter_json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(1-based line number, decoded value) of every non-blank line of a .jsonl or .jsonl.gz file."""
    for lineno, raw in iter_lines(path):
        where = f"{path}:{lineno}"
        text = decode_utf8(raw, where)
        if text.strip():
            yield lineno, decode_json(text, where)


def write_json_lines(path: Path, rows: Iterable[Any], *, ensure_ascii: bool = True) -> int:
    """Write each row as one line of JSON with sorted keys (gzip when the name ends in .gz); returns the count."""
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    # mtime=0 keeps .gz output byte-identical across runs (content addressing)
    opener = (lambda p, m: gzip.GzipFile(p, m, mtime=0)) if path.suffix == ".gz" else open
    with opener(path, "wb") as raw:
        fh = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=ensure_ascii, sort_keys=True))
            fh.write("\n")
            n += 1
        fh.flush()
        fh.detach()
    return n
