"""NIST Juliet C/C++ test suite: `bad` functions are vulnerable (1), `good*` ones fixed (0).

Reads the suite's layout (`testcases/CWE<n>_<name>/[sNN/]<case>.c`) from a
directory or a .tar.gz without unpacking it. The CWE comes from the file
name. Helpers such as `main` or `printLine` are neither and are skipped.
The bad and good functions of one test case share a `pair` id (the case
name), so splits and folds keep a case together; a case may hold more than
two functions (one bad, several good variants).

One Juliet trait needs care: in multi-file flows the sink a good source
feeds (`..._goodG2BSink`) often has the very text of the bad sink
(`..._badSink`) — the flaw lives in the caller. Told apart only by name, such
functions carry no label of their own, so any text that appears with both
labels once function names are blanked is dropped (`juliet_ambiguous`).

`collect.juliet_max_cases` keeps that many whole test cases (0 = all), so a
sample-sized Phase 2 run does not grow the training split tenfold. `read_juliet`
is the one reader: the collector and the leave-project-out corpus
(`generalize.juliet_path`) both call it.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from streamguard.c.functions import extract_functions
from streamguard.data.collectors.base import Collected, CollectError, SourceSkipped
from streamguard.data.collectors.context import CollectContext
from streamguard.data.noise import confidence_for
from streamguard.data.records import Record, duplicate_key
from streamguard.io.input_files import DAMAGED, NotRegularFile, damaged_message, read_regular_file

_CWE_FILE = re.compile(r"^CWE(\d+)_")
MAX_CASE_FILE_BYTES = 10 * 1024 * 1024  # a Juliet case file is a few KB
# the test-case prefix every public function carries: CWE121_..._rand_17 (+ a..e for multi-file)
_CASE_PREFIX = re.compile(r"^CWE\d+_\w+?_\d+[a-e]?_")


def role_of(function_name: str) -> int | None:
    """1 for a bad function, 0 for a good one, None for helpers (main, printLine...)."""
    role = _CASE_PREFIX.sub("", function_name).lower()
    if role.startswith("good") or "_good" in role or role.endswith("good"):
        return 0
    if role.startswith("bad") or "_bad" in role or role.endswith("bad"):
        return 1
    return None


def case_of(file_name: str) -> str:
    """The test case a file belongs to: its stem, less a multi-file case's a..e (CWE476_..._int_51b.c -> ..._51)."""
    return re.sub(r"(?<=\d)[a-e]$", "", PurePosixPath(file_name).stem)


def iter_case_files(
    path: Path, dropped: Counter | None = None, setting: str = "collect.juliet_path"
) -> Iterator[tuple[str, str]]:
    """(origin prefix, text) of every testcases/**/*.c, in name order; in a folder, pipes, devices and files
    over MAX_CASE_FILE_BYTES are skipped (counted in `dropped`), never read. `setting` names the path in errors."""
    dropped = dropped if dropped is not None else Counter()
    if path.is_dir():
        for file in sorted(path.rglob("*.c")):
            rel = file.relative_to(path)
            if "testcases" not in rel.parts:
                continue
            try:
                data = read_regular_file(file, MAX_CASE_FILE_BYTES)
            except NotRegularFile:
                dropped["not_regular_file"] += 1
                continue
            if len(data) > MAX_CASE_FILE_BYTES:
                dropped["file_too_large"] += 1
                continue
            yield str(file), data.decode("utf-8", errors="replace")
        return
    if not tarfile.is_tarfile(path):
        raise CollectError(f"{setting}: {path} is neither a directory nor a tar archive of the Juliet suite")
    # read in archive order (a .tar.gz cannot seek back cheaply), then sort
    found = []
    last = "its first member"
    try:
        with tarfile.open(path) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".c") and "testcases" in PurePosixPath(member.name).parts:
                    fh = tar.extractfile(member)
                    if fh is not None:
                        found.append((f"{path}!{member.name}", fh.read().decode("utf-8", errors="replace")))
                last = member.name
    except (tarfile.TarError, *DAMAGED) as exc:
        raise CollectError(f"{setting}: {damaged_message(path, exc, f'tar archive after {last}')}") from None
    yield from sorted(found)


def collect_juliet(ctx: CollectContext) -> Collected:
    collect = ctx.collect
    if not collect.juliet_path:
        raise SourceSkipped(
            "collect.juliet_path is null; set it to a Juliet C suite directory or .tar.gz "
            "(e.g. ../shared/datasets/juliet/juliet_subset.tar.gz)"
        )
    return read_juliet(
        Path(collect.juliet_path), "collect.juliet_path", collect.juliet_max_cases, confidence_for("juliet", collect)
    )


def read_juliet(path: Path, setting: str, max_cases: int, confidence: float) -> Collected:
    """The bad and good functions of the suite at `path` (the params key `setting` names it), in `max_cases`
    whole test cases (0 = all), as singles; ambiguous texts dropped."""
    if not path.exists():
        # the user asked for this path: reporting "skipped" would hide the typo behind exit status 0
        raise CollectError(
            f"{setting}: {path} does not exist; point it at the Juliet C suite directory or .tar.gz "
            "(e.g. ../shared/datasets/juliet/juliet_subset.tar.gz), or set it to null to skip Juliet"
        )
    out = Collected()
    files = 0
    for origin, text in iter_case_files(path, out.dropped, setting):
        match = _CWE_FILE.match(PurePosixPath(origin.split("!")[-1]).name)
        if not match:
            out.dropped["file_without_cwe"] += 1
            continue
        files += 1
        cwe = f"CWE-{int(match.group(1))}"
        case = case_of(origin.split("!")[-1])
        for fn in extract_functions(text):
            target = role_of(fn.name)
            if target is None:
                out.dropped["helper_function"] += 1
                continue
            out.singles.append(
                Record(
                    func=fn.text,
                    target=target,
                    project="juliet",
                    source="juliet",
                    confidence=confidence,
                    cwe=cwe,
                    origin=f"{origin}:{fn.start_line}",
                    # a Juliet "pair" is a whole test case: its bad function(s) and every good variant
                    pair=f"juliet:{case}",
                )
            )
    if files == 0:
        raise CollectError(f"{setting}: {path} holds no testcases/CWE*.c files; is it the Juliet C suite?")
    out.singles, ambiguous = _drop_ambiguous(out.singles)
    out.dropped.update(ambiguous)
    out.details.update(path=str(path), case_files=files)
    if max_cases:
        out.singles = _cap_cases(out.singles, max_cases, out)
    return out


def _cap_cases(records: list[Record], max_cases: int, out: Collected) -> list[Record]:
    """Keep the records of `max_cases` whole test cases, the first by sha256 of the case name.

    Hash order spreads the kept cases over the CWEs, and a case keeps its bad function
    with every good variant; the same suite and cap keep the same cases.
    """
    cases = sorted({str(r.pair) for r in records}, key=lambda case: hashlib.sha256(case.encode()).hexdigest())
    kept = set(cases[:max_cases])
    capped = [r for r in records if r.pair in kept]
    out.dropped["juliet_case_cap"] += len(records) - len(capped)
    out.details.update(cases=len(cases), cases_kept=len(kept))
    return capped


def _drop_ambiguous(records: list[Record]) -> tuple[list[Record], Counter]:
    """Drop texts that carry both labels once each function's own name is blanked."""

    def anonymous_key(rec: Record) -> str:
        head, paren, rest = rec.func.partition("(")
        # the name is the last identifier before the first "("
        head = re.sub(r"\w+\s*$", "FUNC", head)
        return duplicate_key(head + paren + rest)

    labels: dict[str, set[int]] = {}
    keys = [anonymous_key(r) for r in records]
    for key, rec in zip(keys, records):
        labels.setdefault(key, set()).add(rec.target)
    kept = [r for k, r in zip(keys, records) if len(labels[k]) == 1]
    return kept, Counter({"juliet_ambiguous": len(records) - len(kept)}) if len(kept) < len(records) else Counter()
