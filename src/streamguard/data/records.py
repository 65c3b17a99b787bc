"""The one record type every stage reads and writes (the README lists its fields).

A record is one C function. Stages exchange records as JSON Lines; reading
validates every line and names file, line and field on error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamguard.errors import StreamGuardError
from streamguard.io.jsonl import iter_json_lines, write_json_lines

SPLITS = ("train", "valid", "test")

_WHITESPACE = re.compile(r"\s+")


class RecordError(StreamGuardError, ValueError):
    """A record that breaks the schema; the message names file, line and field."""


@dataclass
class Record:
    func: str
    target: int
    project: str = "unknown"
    source: str = "devign"
    confidence: float = 1.0
    split: str | None = None
    id: str = ""
    cwe: str | None = None
    commit: str | None = None
    origin: str | None = None
    # links a vulnerable function to its fixed version (and back): both carry the same id,
    # and splits and folds never separate them (split.linked_groups)
    pair: str | None = None
    # CVE ids the fix cites (comma-separated, sorted), e.g. from a mined commit's message
    cve: str | None = None

    def __post_init__(self) -> None:
        if not self.id:
            self.id = record_id(self.func, self.project, self.target)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)
        return {k: v for k, v in out.items() if v is not None or k in _REQUIRED}

    @property
    def dup_key(self) -> str:
        return duplicate_key(self.func)


_FIELDS = {f.name for f in dataclasses.fields(Record)}
_REQUIRED = ("func", "target")


def normalise_whitespace(text: str) -> str:
    """Collapse all whitespace runs, so reformatted copies compare equal."""
    return _WHITESPACE.sub(" ", text).strip()


def duplicate_key(func: str) -> str:
    """Key shared by functions equal after whitespace normalisation."""
    return hashlib.sha256(normalise_whitespace(func).encode("utf-8")).hexdigest()[:20]


def record_id(func: str, project: str, target: int) -> str:
    """Stable content-derived id (same text, project and label -> same id)."""
    payload = f"{project}\0{target}\0{func}".encode()
    return hashlib.sha256(payload).hexdigest()[:16]


def pair_id(vulnerable: Record, fixed: Record) -> str:
    """Stable content-derived id of a (vulnerable, fixed) pair: the same two functions, the same id."""
    return hashlib.sha256(f"pair\0{vulnerable.id}\0{fixed.id}".encode()).hexdigest()[:16]


def link_pair(vulnerable: Record, fixed: Record) -> tuple[Record, Record]:
    """Give both sides of a fix the same `pair` id (kept when a collector already set one)."""
    shared = vulnerable.pair or fixed.pair or pair_id(vulnerable, fixed)
    vulnerable.pair = fixed.pair = shared
    return vulnerable, fixed


def parse_record(obj: Any, where: str, *, defaults: dict[str, Any] | None = None) -> Record:
    """Validate one decoded JSON value into a Record.

    `where` is "file:line" and prefixes every error. Unknown fields are kept out
    (sources such as Devign carry extra columns like `commit_id`), except the
    aliases mapped below.
    """
    if not isinstance(obj, dict):
        raise RecordError(f"{where}: expected a JSON object, got {type(obj).__name__}")
    data = dict(defaults or {})
    for key, value in obj.items():
        if key == "commit_id":
            key = "commit"
        if key in _FIELDS:
            data[key] = value
    for key in _REQUIRED:
        if key not in data or data[key] is None:
            raise RecordError(f"{where}: missing required field '{key}'")
    func = data["func"]
    if not isinstance(func, str):
        raise RecordError(f"{where}: field 'func' must be a string, got {type(func).__name__}")
    if not func.strip():
        raise RecordError(f"{where}: field 'func' is empty (an empty function cannot be classified)")
    target = data["target"]
    if isinstance(target, bool) or target not in (0, 1) or isinstance(target, float) and not target.is_integer():
        raise RecordError(f"{where}: field 'target' must be 0 or 1, got {target!r}")
    data["target"] = int(target)
    conf = data.get("confidence", 1.0)
    if isinstance(conf, bool) or not isinstance(conf, (int, float)) or not 0.0 < float(conf) <= 1.0:
        raise RecordError(f"{where}: field 'confidence' must be a number in (0, 1], got {conf!r}")
    data["confidence"] = float(conf)
    split = data.get("split")
    if split is not None and split not in SPLITS:
        raise RecordError(f"{where}: field 'split' must be one of {SPLITS}, got {split!r}")
    for key in ("project", "source", "id", "cwe", "commit", "origin", "pair", "cve"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            if key in ("cwe", "commit") and isinstance(value, int):
                data[key] = str(value)
            else:
                raise RecordError(f"{where}: field '{key}' must be a string, got {type(value).__name__}")
    return Record(**data)


def _json_lines(path: str | Path) -> Iterator[tuple[int, Any]]:
    path = Path(path)
    if not path.exists():
        raise RecordError(f"{path}: file not found")
    return iter_json_lines(path)


def read_records(path: str | Path, *, defaults: dict[str, Any] | None = None) -> Iterator[Record]:
    """Yield validated records from a stage's .jsonl or .jsonl.gz file.

    Ids are trusted here (the stages derive them from content), so one id on two
    different functions is an error naming both lines: deduplication keys on the
    id and would otherwise keep one of them silently.
    """
    seen = IdLedger()
    for lineno, obj in _json_lines(path):
        where = f"{path}:{lineno}"
        rec = parse_record(obj, where, defaults=defaults)
        seen.check(rec, where)
        yield rec


def read_source_records(
    path: str | Path, *, defaults: dict[str, Any] | None = None, origin_path: str | None = None
) -> Iterator[Record]:
    """Yield records from a dataset file (Devign JSONL, CodeXGLUE), with content-derived ids.

    A source's own id (`id`, or CodeXGLUE's `idx`) is not trusted to name one
    function; it is kept in `origin` next to the file and line it came from.
    `origin_path` is how the file is named there (default: the path given).
    """
    shown = origin_path or str(path)
    for lineno, obj in _json_lines(path):
        rec = parse_record(obj, f"{path}:{lineno}", defaults=defaults)
        yield with_content_id(rec, f"{shown}:{lineno}", source_id(obj))


def source_id(obj: Any) -> Any:
    """The id a dataset gave its record, if any (CodeXGLUE calls it `idx`)."""
    if not isinstance(obj, dict):
        return None
    return obj.get("id", obj.get("idx"))


def with_content_id(rec: Record, where: str, given_id: Any = None) -> Record:
    """`rec` with its id derived from its content; origin keeps `where` and a different source id."""
    content_id = record_id(rec.func, rec.project, rec.target)
    if rec.origin is None:
        rec.origin = where
        if given_id is not None and str(given_id) != content_id:
            rec.origin += f" id={str(given_id)[:40]}"
    rec.id = content_id
    return rec


class IdLedger:
    """Remembers which line first used each id, to catch one id covering two different functions."""

    def __init__(self) -> None:
        self._first: dict[str, tuple[str, str]] = {}  # id -> (content fingerprint, where)

    def check(self, rec: Record, where: str) -> None:
        fingerprint = record_id(rec.func, rec.project, rec.target)
        first = self._first.setdefault(rec.id, (fingerprint, where))
        if first[0] != fingerprint:
            raise RecordError(
                f"{where}: id {rec.id[:40]!r} was already used at {first[1]} for a different function "
                "(text, project or label differ); ids must name one function — remove the 'id' fields "
                "so they are derived from the content, or make them unique"
            )


def write_records(path: str | Path, records: Iterable[Record]) -> int:
    """Write records as JSON Lines (gzip when the name ends in .gz); returns the count."""
    return write_json_lines(Path(path), (rec.to_dict() for rec in records), ensure_ascii=False)


def read_split(processed_dir: str | Path, split: str) -> list[Record]:
    """Records of one split from the preprocess stage's output folder."""
    return list(read_records(Path(processed_dir) / f"{split}.jsonl"))
