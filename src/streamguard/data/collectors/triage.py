"""Phase 2 source `triage`: a team's verdicts on scan findings, as labelled functions of its own code.

`collect.triage_files` lists triaged repositories (a checkout, or its
`.streamguard/triage.jsonl`; data/triage_file.py describes the file). Each verdict
names a function by fingerprint; the function's text is read from the
checkout as it is now, cut out and fingerprinted exactly as `scan` does, so a
record carries the very text the verdict judged:

- `true_positive` -> target 1, `false_positive` -> target 0;
- confidence `collect.confidence_triage` (tier 1.0 by default: a person read
  this function of the team's own code and gave a verdict);
- a verdict whose function changed or went since (no function with that
  fingerprint) is dropped and counted (`triage_function_changed`,
  `triage_file_missing`): the text it judged is no longer there.

A verdict's file must lie inside its checkout; one that points elsewhere
(`../`, a symlink out) is counted as `triage_outside_checkout`, never read.
DVC reruns the stage when `collect.triage_files` changes; after new verdicts
at the same path, `dvc repro -f collect_triage` (or `dvc exp run -f`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from streamguard.data.collectors.base import Collected, CollectError, SourceSkipped
from streamguard.data.collectors.context import CollectContext
from streamguard.data.fingerprints import fingerprinted
from streamguard.data.noise import confidence_for
from streamguard.data.records import Record
from streamguard.data.triage_file import TRIAGE_FILE, Verdict, read_triage
from streamguard.io.input_files import MAX_FILE_BYTES, NotRegularFile, read_regular_file

TARGETS = {"true_positive": 1, "false_positive": 0}


def _checkout(entry: str) -> tuple[Path, Path]:
    """(checkout, triage file) for one collect.triage_files entry."""
    path = Path(entry).expanduser()
    if path.is_dir():
        return path.resolve(), path.resolve() / TRIAGE_FILE
    if path.parent.name == TRIAGE_FILE.parent.name and path.is_file():
        return path.resolve().parent.parent, path
    raise CollectError(
        f"collect.triage_files: {entry}: give a triaged checkout (a folder holding {TRIAGE_FILE}) or that file; "
        f"{'it does not exist' if not path.exists() else 'a triage file lies in the checkout`s .streamguard/ folder'}"
    )


def _source_text(root: Path, uri: str) -> bytes | str:
    """The file's bytes, or why there are none (the drop reason)."""
    where = (root / uri).resolve()
    if not where.is_relative_to(root):
        return "triage_outside_checkout"
    try:
        data = read_regular_file(where, MAX_FILE_BYTES)
    except (NotRegularFile, OSError):
        return "triage_file_missing"
    return data if len(data) <= MAX_FILE_BYTES else "triage_file_missing"


def _records(root: Path, verdicts: list[Verdict], confidence: float, dropped: Counter) -> list[Record]:
    from streamguard.c.functions import extract_functions

    by_file: dict[str, list[Verdict]] = {}
    for v in verdicts:
        by_file.setdefault(v.file, []).append(v)
    records = []
    for uri, wanted in sorted(by_file.items()):
        data = _source_text(root, uri)
        if isinstance(data, str):
            dropped[data] += len(wanted)
            continue
        try:
            functions = extract_functions(data)
        except Exception:  # noqa: BLE001 - a file the extractor cannot cut: its verdicts' texts are unknown
            functions = []
        texts = {fp: fn for fn, fp, _ in fingerprinted(uri, functions)}
        for v in wanted:
            fn = texts.get(v.fingerprint)
            if fn is None:
                dropped["triage_function_changed"] += 1
                continue
            origin = f"{root.name}/{uri}:{fn.start_line}"
            records.append(
                Record(
                    func=fn.text,
                    target=TARGETS[v.verdict],
                    project=root.name,
                    source="triage",
                    confidence=confidence,
                    id=f"triage:{v.fingerprint[:16]}",
                    origin=origin,
                )
            )
    return records


def collect_triage(ctx: CollectContext) -> Collected:
    entries = ctx.collect.triage_files
    if not entries:
        raise SourceSkipped(f"collect.triage_files is empty; list checkouts whose {TRIAGE_FILE} holds verdicts")
    confidence = confidence_for("triage", ctx.collect)
    out = Collected()
    for entry in entries:
        root, path = _checkout(entry)
        verdicts = list(read_triage(path).by_fingerprint.values())  # the last verdict per function
        before = len(out.singles)
        out.singles += _records(root, verdicts, confidence, out.dropped)
        out.details[entry] = {"verdicts": len(verdicts), "records": len(out.singles) - before}
    return out
