"""Findings of an established C analyzer (flawfinder) per function, as project-neutral features.

flawfinder matches calls to library functions with a history of misuse
(strcpy, sprintf, memcpy, system, ...) and gives each hit a risk level (0-5)
and a category (buffer, format, race, ...). Per function, the features are
log(1 + hits) in total, per risk level and per category, and the highest
level hit (0 without any). Like the code metrics, they say what a function
does with memory and input, not what its project calls things.

flawfinder runs once over the whole batch (every function in its own file
of a temporary folder, CSV output), never once per function.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from streamguard.errors import StreamGuardError

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


class AnalyzerError(StreamGuardError, RuntimeError):
    """flawfinder is missing, failed, or wrote output this module cannot read."""


def findings_matrix(texts: list[str]) -> np.ndarray:
    """(len(texts), len(FINDING_NAMES)) matrix: each text's flawfinder hits, counted."""
    counts = np.zeros((len(texts), len(FINDING_NAMES)), dtype=np.float64)
    if not texts:
        return counts
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
            "the analyzer features need flawfinder, which is not installed in this Python; "
            "install it with `pip install flawfinder` (it is pinned in requirements.txt)"
        )
    width = len(str(len(texts)))
    with tempfile.TemporaryDirectory(prefix="streamguard-flawfinder-") as folder:
        for i, text in enumerate(texts):
            Path(folder, f"{i:0{width}d}.c").write_text(text, encoding="utf-8")
        command = [sys.executable, "-m", "flawfinder", "--csv", "--minlevel=0", "--quiet", "--dataonly", folder]
        done = subprocess.run(
            command, capture_output=True, text=True, encoding="utf-8", env={**os.environ, "PYTHONUTF8": "1"}
        )
    if done.returncode != 0:
        raise AnalyzerError(
            f"flawfinder exited with status {done.returncode} on {len(texts)} functions: "
            f"{done.stderr.strip()[-500:] or 'no message'}"
        )
    reader = csv.DictReader(io.StringIO(done.stdout))
    if not _COLUMNS <= set(reader.fieldnames or ()):
        raise AnalyzerError(
            f"flawfinder's CSV output has columns {reader.fieldnames}, expected {sorted(_COLUMNS)}; "
            "install the version pinned in requirements.txt"
        )
    hits = []
    for row in reader:
        try:
            index, level = int(Path(row["File"]).stem), int(row["Level"])
        except ValueError:
            raise AnalyzerError(f"flawfinder reported a hit this module cannot place: {row}") from None
        hits.append((index, min(max(level, LEVELS[0]), LEVELS[-1]), row["Category"]))
    return hits
