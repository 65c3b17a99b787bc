"""A scanned function's fingerprint and function key: what scan results, baselines and triage verdicts match on.

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

from streamguard.c.functions import CFunction
from streamguard.data.records import normalise_whitespace


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
