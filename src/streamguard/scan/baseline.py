"""`scan --baseline PREVIOUS.sarif`: which findings are new, which were known, which went away.

Each current finding gets a SARIF `baselineState`, matched on the fingerprints
the scan writes (findings.py):

- `unchanged`: the baseline holds a result with the same fingerprint (the same
  function text at the same path, wherever its lines moved);
- `updated`: no such result, but one with the same function key (the same
  function, edited since);
- `new`: neither.

A baseline result nothing matched is `absent` when this scan looked where it
was: the function was scored and no longer reaches the bar, or it is gone
from a file the scan read, or its file is gone from the scanned paths. A
result in a file this scan did not read (outside the PATHs, or unchanged
since `--changed-since REV`) is left out and only counted: nothing says
whether it is still there.

The baseline must be a StreamGuard SARIF report (`scan --format sarif`).
Anything else (not JSON, not SARIF, a result without StreamGuard's
fingerprint, a value of the wrong type) is an error naming the file and the
place, never a baseline silently taken as empty. Results the baseline itself
marked `absent` are not findings of that run and are skipped.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeGuard
from urllib.parse import unquote

from streamguard.io.input_files import InputFileError, NotRegularFile, read_regular_file
from streamguard.scan.findings import Finding, function_key
from streamguard.scan.sarif import FINGERPRINT_KEY, FUNCTION_KEY

MAX_BASELINE_BYTES = 512 * 1024 * 1024  # 25,000 results with their locations stay far below this
STATES = ("new", "unchanged", "updated", "absent")
_HEX = frozenset("0123456789abcdef")


@dataclass(frozen=True)
class BaselineResult:
    fingerprint: str
    function_key: str
    uri: str  # decoded, relative to the scan root
    function: str
    start_line: int
    end_line: int
    rule_id: str
    suppression: str | None = None  # the justification of an accepted SARIF suppression ("" when none given)


@dataclass
class Scope:
    """What this scan looked at: files read, and the fingerprints and keys of functions scored or skipped."""

    files: set[str] = field(default_factory=set)
    scored: set[str] = field(default_factory=set)
    skipped: set[str] = field(default_factory=set)  # unchanged since --changed-since REV: not scored

    def add(self, fingerprint: str, key: str, scored: bool) -> None:
        (self.scored if scored else self.skipped).update((fingerprint, key))


@dataclass
class Comparison:
    file: str  # the baseline's file name
    states: dict[str, str]  # current finding's fingerprint -> new / unchanged / updated
    absent: list[BaselineResult]
    not_rescanned: int  # baseline results in files or functions this scan did not score

    def counts(self, findings: list[Finding]) -> dict[str, int]:
        counted = dict.fromkeys(STATES, 0)
        for f in findings:
            counted[self.states[f.fingerprint]] += 1
        counted["absent"] = len(self.absent)
        return counted


class BaselineError(InputFileError):
    """A --baseline file that is not a StreamGuard SARIF report."""


def _fail(path: Path, where: str, what: str, option: str = "--baseline") -> BaselineError:
    return BaselineError(
        f"{option} {path}: {where}: {what}. It must be a SARIF report written by "
        "`streamguard scan --format sarif` (for --baseline: a scan of the base revision)"
    )


def _hex64(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) == 64 and set(value) <= _HEX


def _load(path: Path, option: str) -> Any:
    try:
        data = read_regular_file(path, MAX_BASELINE_BYTES)
    except FileNotFoundError:
        raise BaselineError(f"{option} {path}: no such file; give a SARIF report of `streamguard scan`") from None
    except (NotRegularFile, OSError) as exc:
        raise BaselineError(f"{option} {path}: cannot read it ({exc.strerror or exc}); give a SARIF file") from None
    if len(data) > MAX_BASELINE_BYTES:
        raise _fail(
            path, "size", f"larger than {MAX_BASELINE_BYTES // 2**20} MiB, far beyond any scan's report", option
        )
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise _fail(path, f"byte {exc.start}", "not UTF-8 text", option) from None
    except json.JSONDecodeError as exc:
        raise _fail(path, f"line {exc.lineno} column {exc.colno}", f"not JSON ({exc.msg})", option) from None
    except RecursionError:
        raise _fail(path, "structure", "JSON nested too deeply to be a report", option) from None


def _result(path: Path, where: str, res: Any, option: str) -> BaselineResult | None:
    if not isinstance(res, dict):
        raise _fail(path, where, "a result must be a JSON object", option)
    if res.get("baselineState") == "absent":
        return None
    fingerprints = res.get("partialFingerprints")
    if not isinstance(fingerprints, dict) or not _hex64(fingerprint := fingerprints.get(FINGERPRINT_KEY)):
        raise _fail(path, where, f"no partialFingerprints.{FINGERPRINT_KEY} (64 hex digits)", option)
    try:
        location = res["locations"][0]
        physical = location["physicalLocation"]
        uri = physical["artifactLocation"]["uri"]
        region = physical["region"]
        start, end = region["startLine"], region.get("endLine", region["startLine"])
        name = location["logicalLocations"][0]["name"]
    except (KeyError, IndexError, TypeError):
        raise _fail(path, where, "no location (locations[0]: uri, region, logicalLocations[0].name)", option) from None
    if not (isinstance(uri, str) and isinstance(name, str)):
        raise _fail(path, where, "the location's uri and function name must be strings", option)
    if not all(isinstance(n, int) and not isinstance(n, bool) and 0 < n < 2**31 for n in (start, end)):
        raise _fail(path, where, f"region lines {start!r}-{end!r} are not line numbers", option)
    decoded = unquote(uri, encoding="utf-8", errors="surrogateescape")
    key = fingerprints.get(FUNCTION_KEY)
    if key is None:  # a report written before function keys: the first function of that name
        key = function_key(decoded, name, 0)
    elif not _hex64(key):
        raise _fail(path, where, f"partialFingerprints.{FUNCTION_KEY} is not 64 hex digits", option)
    rule_id = res.get("ruleId")
    return BaselineResult(
        fingerprint, key, decoded, name, start, end, rule_id if isinstance(rule_id, str) else "", _accepted(res)
    )


def _accepted(res: dict) -> str | None:
    """The justification of the result's last accepted suppression, if any ("" when it gives none)."""
    suppressions = res.get("suppressions")
    accepted = [
        s
        for s in (suppressions if isinstance(suppressions, list) else [])
        if isinstance(s, dict) and s.get("status", "accepted") == "accepted"
    ]
    if not accepted:
        return None
    text = accepted[-1].get("justification")
    return text if isinstance(text, str) else ""


def read_baseline(path: Path, option: str = "--baseline") -> list[BaselineResult]:
    """The findings of a StreamGuard SARIF report; a BaselineError naming the file and place for anything else."""
    log = _load(path, option)
    runs = log.get("runs") if isinstance(log, dict) else None
    if not isinstance(runs, list) or not runs:
        raise _fail(path, "top level", "no `runs` list: not a SARIF log", option)
    found = []
    for r, run in enumerate(runs):
        results = run.get("results") if isinstance(run, dict) else None
        if not isinstance(results, list):
            raise _fail(path, f"runs[{r}]", "no `results` list", option)
        for i, res in enumerate(results):
            parsed = _result(path, f"runs[{r}].results[{i}]", res, option)
            if parsed is not None:
                found.append(parsed)
    return found


def compare(
    findings: list[Finding], baseline: list[BaselineResult], scope: Scope, root: Path, paths: list[Path], file: str
) -> Comparison:
    """Each finding's state against `baseline`, and the baseline results this scan shows are gone."""
    by_fingerprint = {b.fingerprint: b for b in baseline}
    matched: set[str] = set()
    states: dict[str, str] = {}
    for f in findings:  # exact matches first, so an edited copy never takes an unchanged function's match
        if f.fingerprint in by_fingerprint:
            states[f.fingerprint] = "unchanged"
            matched.add(f.fingerprint)
    unmatched_keys: dict[str, BaselineResult] = {}
    for b in baseline:
        if b.fingerprint not in matched:
            unmatched_keys.setdefault(b.function_key, b)
    for f in findings:
        if f.fingerprint in states:
            continue
        earlier = unmatched_keys.pop(f.function_key, None)
        states[f.fingerprint] = "new" if earlier is None else "updated"
        if earlier is not None:
            matched.add(earlier.fingerprint)
    scanned = [p.resolve() for p in paths]
    absent, not_rescanned = [], 0
    for b in baseline:
        if b.fingerprint in matched:
            continue
        if b.fingerprint in scope.scored or b.function_key in scope.scored:
            absent.append(b)  # scored again, below the bar now
        elif b.fingerprint in scope.skipped or b.function_key in scope.skipped:
            not_rescanned += 1
        elif b.uri in scope.files:
            absent.append(b)  # the file was read and the function is not in it
        elif not (root / b.uri).is_file() and any(
            (root / b.uri).resolve().is_relative_to(p) or (root / b.uri).resolve() == p for p in scanned
        ):
            absent.append(b)  # its file is gone from the scanned paths
        else:
            not_rescanned += 1
    return Comparison(file, states, absent, not_rescanned)
