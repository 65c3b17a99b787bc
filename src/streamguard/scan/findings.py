"""One scored function of a scan, and its fingerprint.

The fingerprint hashes the repo-relative path, the function's name and its
whitespace-normalised text (plus an ordinal when one file holds identical
copies), so it survives re-runs, edits elsewhere in the file and reformatting
that only moves the function; it changes when the function itself changes.
Line numbers are not part of it, so lines inserted above a function keep it.

The function key hashes the path, the name and the function's ordinal among
the file's functions of that name, not the text: it stays when the function
is edited, so a baseline can tell an edited function (`updated`) from a new
one, and a triage verdict on an earlier version can be shown as such.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from streamguard.c_functions import CFunction
from streamguard.data.records import normalise_whitespace
from streamguard.scan.walk import printable


@dataclass(frozen=True)
class Finding:
    uri: str
    function: str
    start_line: int
    end_line: int
    fingerprint: str
    fused_probability: float
    probabilities: dict[str, float]  # per base model
    function_key: str = ""  # function_key(): path, name and ordinal, not the text

    def to_dict(self) -> dict:
        return {
            "file": printable(self.uri),
            "function": printable(self.function),
            "start_line": self.start_line,
            "end_line": self.end_line,
            "fused_probability": self.fused_probability,
            "probabilities": self.probabilities,
            "fingerprint": self.fingerprint,
            "function_key": self.function_key,
        }


def function_fingerprint(uri: str, name: str, text: str, ordinal: int = 0) -> str:
    """sha256 of path, name and normalised text; `ordinal` tells identical copies in one file apart."""
    key = "\0".join([uri, name, normalise_whitespace(text), str(ordinal)])
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def function_key(uri: str, name: str, ordinal: int) -> str:
    """sha256 of path, name and the ordinal among the file's functions named `name`: the function, whatever its text."""
    key = "\0".join(["function", uri, name, str(ordinal)])
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def fingerprinted(uri: str, functions: Iterable[CFunction]) -> Iterator[tuple[CFunction, str, str]]:
    """Each function of the file `uri` with its fingerprint and its function key, in file order."""
    copies: dict[str, int] = {}
    named: dict[str, int] = {}
    for fn in functions:
        first = function_fingerprint(uri, fn.name, fn.text)
        copy = copies[first] = copies.get(first, -1) + 1
        ordinal = named[fn.name] = named.get(fn.name, -1) + 1
        fingerprint = first if copy == 0 else function_fingerprint(uri, fn.name, fn.text, copy)
        yield fn, fingerprint, function_key(uri, fn.name, ordinal)


def top_findings(findings: list[Finding], k: int | None) -> list[Finding]:
    """Highest fused probability first (ties by location, for a stable order); at most `k`."""
    ranked = sorted(findings, key=lambda f: (-f.fused_probability, f.uri, f.start_line))
    return ranked if k is None else ranked[:k]
