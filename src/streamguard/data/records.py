"""The one record type every stage reads and writes (DESIGN.md, "The record").

A record is one C function. Stages exchange records as JSON Lines; reading
validates every line and names file, line and field on error.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from streamguard.errors import StreamGuardError

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
    payload = f"{project}\0{target}\0{func}".encode("utf-8")
    return hashlib.sha256(payload).hexdigest()[:16]


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
    for key in ("project", "source", "id", "cwe", "commit", "origin"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            if key in ("cwe", "commit") and isinstance(value, int):
                data[key] = str(value)
            else:
                raise RecordError(f"{where}: field '{key}' must be a string, got {type(value).__name__}")
    return Record(**data)


def _open_text_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            yield lineno, raw


def read_records(path: str | Path, *, defaults: dict[str, Any] | None = None) -> Iterator[Record]:
    """Yield validated records from a .jsonl or .jsonl.gz file."""
    path = Path(path)
    if not path.exists():
        raise RecordError(f"{path}: file not found")
    for lineno, raw in _open_text_lines(path):
        where = f"{path}:{lineno}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise RecordError(
                f"{where}: not valid UTF-8 (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
                "re-encode the file as UTF-8"
            ) from None
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RecordError(f"{where}: malformed JSON ({exc.msg} at column {exc.colno})") from None
        yield parse_record(obj, where, defaults=defaults)


def write_records(path: str | Path, records: Iterable[Record]) -> int:
    """Write records as JSON Lines (gzip when the name ends in .gz); returns the count."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    n = 0
    # mtime=0 keeps .gz output byte-identical across runs (content addressing)
    opener = (lambda p, m: gzip.GzipFile(p, m, mtime=0)) if path.suffix == ".gz" else open
    with opener(path, "wb") as raw:
        fh = io.TextIOWrapper(raw, encoding="utf-8", newline="\n")
        for rec in records:
            fh.write(json.dumps(rec.to_dict(), ensure_ascii=False, sort_keys=True))
            fh.write("\n")
            n += 1
        fh.flush()
        fh.detach()
    return n


def read_split(processed_dir: str | Path, split: str) -> list[Record]:
    """Records of one split from the preprocess stage's output folder."""
    return list(read_records(Path(processed_dir) / f"{split}.jsonl"))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(chunk), b""):
            h.update(block)
    return h.hexdigest()
