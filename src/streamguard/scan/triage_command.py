"""`streamguard triage`: record a verdict on a finding, or import the suppressions of a SARIF report.

`streamguard triage FINGERPRINT --verdict false-positive --reason TEXT`
finds the function with that fingerprint (or a unique prefix of at least 8
hex digits) in the repository's C/C++ files, as the scan lists and cuts them,
and appends the verdict to the repository's `.streamguard/triage.jsonl`.

`streamguard triage --import REPORT.sarif` appends a `false_positive` verdict
for every result of a StreamGuard SARIF report that carries an accepted
suppression (a SARIF viewer's or another review tool's dismissal), its
justification as the reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from streamguard.data.fingerprints import fingerprinted
from streamguard.data.triage_file import Verdict, append_verdicts, default_who, now, read_triage, triage_path
from streamguard.errors import StreamGuardError
from streamguard.scan.baseline import read_baseline
from streamguard.scan.walk import BadFiles, list_sources, printable, read_source, scan_root

MIN_PREFIX = 8
_PREFIX = re.compile(r"^[0-9a-f]{8,64}$")


@dataclass
class TriageOptions:
    repo: Path
    fingerprint: str | None = None
    verdict: str | None = None  # false-positive / true-positive
    reason: str | None = None
    who: str | None = None
    import_sarif: Path | None = None


def find_function(root: Path, prefix: str) -> tuple[str, str, str, str]:
    """(fingerprint, function key, uri, name) of the one function under `root` whose fingerprint starts with `prefix`."""
    from streamguard.c.functions import extract_functions

    bad = BadFiles()
    hits = []
    for source in list_sources([root], root, bad):
        data = read_source(source, bad)
        if data is None:
            continue
        try:
            functions = extract_functions(data)
        except Exception:  # noqa: BLE001 - the scan counts such a file as a parse failure; so does this search
            continue
        for fn, fingerprint, key in fingerprinted(source.uri, functions):
            if fingerprint.startswith(prefix):
                hits.append((fingerprint, key, source.uri, fn.name))
    if not hits:
        raise StreamGuardError(
            f"fingerprint {prefix}: no function in {root} has it. Copy it from the scan report "
            "(SARIF partialFingerprints, JSON `fingerprint`) of this repository's current files; "
            "a function edited since that report has a new fingerprint: scan again"
        )
    if len(hits) > 1:
        shown = "; ".join(f"{fp[:16]} {printable(uri)}:{printable(name)}" for fp, _, uri, name in hits[:5])
        raise StreamGuardError(f"fingerprint {prefix} is ambiguous ({len(hits)} functions: {shown}); give more digits")
    return hits[0]


def _record(opts: TriageOptions, root: Path) -> list[Verdict]:
    prefix = (opts.fingerprint or "").strip().lower()
    if not _PREFIX.match(prefix):
        raise StreamGuardError(
            f"fingerprint {opts.fingerprint!r}: give the finding's fingerprint (64 hex digits, or its first "
            f"{MIN_PREFIX} or more), from the report's partialFingerprints or `fingerprint` field"
        )
    if not opts.verdict or not (opts.reason or "").strip():
        raise StreamGuardError("triage FINGERPRINT needs --verdict (false-positive or true-positive) and --reason TEXT")
    fingerprint, key, uri, name = find_function(root, prefix)
    verdict = opts.verdict.replace("-", "_")
    who = opts.who or default_who(root)
    return [Verdict(fingerprint, key, uri, name, verdict, (opts.reason or "").strip(), who, now())]


def _imported(opts: TriageOptions, root: Path) -> list[Verdict]:
    path = opts.import_sarif
    assert path is not None
    who = opts.who or f"imported from {path.name}"
    when = now()
    known = read_triage(triage_path(root)).by_fingerprint
    verdicts = []
    for r in read_baseline(path, "--import"):  # the same checks as a --baseline report; its absent results are skipped
        if r.suppression is None or r.fingerprint in known and known[r.fingerprint].verdict == "false_positive":
            continue  # not suppressed there, or already suppressed here
        reason = r.suppression.strip() or f"suppressed in {path.name} without a justification"
        verdicts.append(Verdict(r.fingerprint, r.function_key, r.uri, r.function, "false_positive", reason, who, when))
    return verdicts


def triage_command(opts: TriageOptions) -> list[Verdict]:
    """Append the verdicts `opts` ask for to the repository's triage file; the verdicts written."""
    root = scan_root([opts.repo])
    if opts.import_sarif is not None:
        if opts.fingerprint or opts.verdict:
            raise StreamGuardError("triage --import takes no FINGERPRINT or --verdict: the report's suppressions say")
        verdicts = _imported(opts, root)
    else:
        verdicts = _record(opts, root)
    path = triage_path(root)
    read_triage(path)  # a damaged file is reported before anything is appended to it
    append_verdicts(path, verdicts)
    return verdicts
