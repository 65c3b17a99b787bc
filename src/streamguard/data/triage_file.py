"""Triage verdicts kept in the scanned repository: `.streamguard/triage.jsonl`.

One JSON object a line, appended by `streamguard triage` (or imported from a
SARIF report's `suppressions`), reviewed and committed like code:

    {"fingerprint": "<64 hex>", "function_key": "<64 hex>", "file": "src/a.c",
     "function": "parse", "verdict": "false_positive", "reason": "...",
     "who": "ana@example.org", "when": "2026-12-06T09:30:00+00:00"}

The last line for a fingerprint wins. A scan of the repository reads the file
and matches each finding on its fingerprint (path, name and function text;
line numbers play no part, so lines inserted above a function keep its
verdict):

- a `false_positive` verdict suppresses the finding: it is still reported,
  with a SARIF `suppressions` entry pointing at the verdict's line, and no
  longer fails `--fail-on-findings`;
- a `true_positive` verdict is recorded in the result's properties; the
  finding stays a finding;
- a verdict on an earlier text of the same function (same function key,
  different fingerprint) suppresses nothing: the function changed, so the
  verdict may no longer hold; the result says so, to be triaged again.
"""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from streamguard.errors import StreamGuardError
from streamguard.io.git import git_value
from streamguard.io.input_files import InputFileError, iter_lines

TRIAGE_FILE = Path(".streamguard") / "triage.jsonl"
VERDICTS = ("false_positive", "true_positive")
_HEX = frozenset("0123456789abcdef")
_FIELDS = ("fingerprint", "function_key", "file", "function", "verdict", "reason", "who", "when")


@dataclass(frozen=True)
class Verdict:
    fingerprint: str
    function_key: str
    file: str
    function: str
    verdict: str  # one of VERDICTS
    reason: str
    who: str
    when: str  # ISO 8601, UTC
    line: int = 0  # where it stands in the triage file (not written)

    def to_json(self) -> str:
        record = asdict(self)
        del record["line"]
        return json.dumps(record, ensure_ascii=False)

    def describe(self) -> str:
        return f"{self.verdict.replace('_', ' ')}: {self.reason} ({self.who}, {self.when})"


@dataclass
class Triage:
    """The verdicts of one triage file, by fingerprint and by function key (the last line wins)."""

    file: Path
    by_fingerprint: dict[str, Verdict]
    by_function: dict[str, Verdict]

    def exact(self, fingerprint: str) -> Verdict | None:
        return self.by_fingerprint.get(fingerprint)

    def earlier(self, fingerprint: str, function_key: str) -> Verdict | None:
        """A verdict on another text of the same function, when none is on this one."""
        if fingerprint in self.by_fingerprint:
            return None
        return self.by_function.get(function_key)

    def suppresses(self, fingerprint: str) -> bool:
        v = self.exact(fingerprint)
        return v is not None and v.verdict == "false_positive"


def triage_path(root: Path) -> Path:
    return root / TRIAGE_FILE


def is_fingerprint(value: object) -> bool:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def _verdict(path: Path, lineno: int, raw: bytes) -> Verdict:
    where = f"{path}:{lineno}"
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputFileError(
            f"{where}: not a JSON object ({type(exc).__name__}); each line of a triage file is one verdict, "
            "as `streamguard triage` writes it. Fix or delete the line"
        ) from None
    if not isinstance(data, dict):
        raise InputFileError(f"{where}: a verdict must be a JSON object, got {type(data).__name__}")
    missing = [k for k in _FIELDS if not isinstance(data.get(k), str)]
    if missing:
        raise InputFileError(
            f"{where}: field(s) {', '.join(missing)} missing or not text; fields: {', '.join(_FIELDS)}"
        )
    for key in ("fingerprint", "function_key"):
        if not is_fingerprint(data[key]):
            raise InputFileError(f"{where}: '{key}' must be 64 lowercase hex digits, as the scan report gives it")
    if data["verdict"] not in VERDICTS:
        raise InputFileError(f"{where}: 'verdict' {data['verdict']!r}: choose one of {', '.join(VERDICTS)}")
    return Verdict(**{k: data[k] for k in _FIELDS}, line=lineno)


def read_triage(path: Path) -> Triage:
    """The verdicts in `path` (none when it does not exist); an InputFileError naming file:line for a bad line."""
    by_fingerprint: dict[str, Verdict] = {}
    by_function: dict[str, Verdict] = {}
    if path.exists() or path.is_symlink():
        for lineno, raw in iter_lines(path):
            if raw.strip():
                v = _verdict(path, lineno, raw)
                by_fingerprint[v.fingerprint] = by_function[v.function_key] = v
    return Triage(path, by_fingerprint, by_function)


def append_verdicts(path: Path, verdicts: list[Verdict]) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8") as fh:
            fh.writelines(v.to_json() + "\n" for v in verdicts)
    except OSError as exc:
        raise StreamGuardError(f"{path}: cannot write the triage file ({exc.strerror or exc})") from None


def now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def default_who(root: Path) -> str:
    """git's user.email (else user.name) in `root`, else the login name."""
    for key in ("user.email", "user.name"):
        if who := git_value(root, "config", key):
            return who
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
