"""How source text becomes node tokens (before any vocabulary is known).

Identifiers and other words are split into lower-case subtokens at `_`,
camelCase and letter/digit boundaries (`AVCodecContext` -> av, codec, context;
`UINT32_MAX` -> uint32, max); a node keeps its first K (graph.subtokens_per_node).
Literals are replaced by their kind (`<num>`, `<str>`, `<char>`): their values
would only blow up the vocabulary. Operators and keywords are their own token
(`+`, `->`, `if`).

A graph carries its tokens as a small table of distinct subtoken tuples plus
one position per node (-1 = no token), so worker processes ship compact arrays
and the vocabulary, built later on the train split only, maps each distinct
tuple once.
"""

from __future__ import annotations

import re

_SUBTOKEN = re.compile(r"[A-Z]+[0-9]*(?![a-z])|[A-Z]?[a-z]+[0-9]*|[0-9]+")
_DIGITS = frozenset(b"0123456789")
_SIGNS = frozenset(b"-+.")
_CACHE_LIMIT = 200_000
_CACHED_TEXT_LIMIT = 128  # bytes

Token = tuple[str, ...]


def subtokens(word: str) -> Token:
    """Lower-case subtokens of an identifier (or of any text: non-word characters separate)."""
    return tuple(s.lower() for s in _SUBTOKEN.findall(word))


def _leaf_token(raw: bytes) -> Token:
    """A leaf's token from its source text alone.

    Literal kinds are recognised by bytes no identifier can contain: a leading
    digit (or sign/dot then digit) makes a number; a quote makes a string or a
    char, whichever quote comes first (`u8"..."`, `PRIx64 "..."`, `'"'`); a
    leading `<` is a system header string.
    """
    if not raw:
        return ()  # a MISSING node
    first = raw[0]
    if first in _DIGITS or (first in _SIGNS and len(raw) > 1 and raw[1] in _DIGITS):
        return ("<num>",)
    apostrophe, quote = raw.find(b"'"), raw.find(b'"')
    if quote >= 0 and (apostrophe < 0 or quote < apostrophe):
        return ("<str>",)
    if apostrophe >= 0:
        return ("<char>",)
    if first == 0x3C:  # '<'
        return ("<str>",)
    return subtokens(raw.decode("utf-8", "replace"))


class LeafTokens:
    """Leaf source text -> its first K subtokens, cached per process (names repeat a lot)."""

    def __init__(self, per_node: int) -> None:
        self.per_node = per_node
        self._cache: dict[bytes, Token] = {}

    def __call__(self, raw: bytes) -> Token:
        tok = self._cache.get(raw)
        if tok is None:
            tok = _leaf_token(raw)[: self.per_node]
            if len(raw) <= _CACHED_TEXT_LIMIT:  # a huge literal or ERROR leaf is not worth keeping
                if len(self._cache) >= _CACHE_LIMIT:  # bounded: a corpus has ~10^5 distinct names
                    self._cache.clear()
                self._cache[raw] = tok
        return tok


def intern_tokens(node_tokens: list[tuple[int, Token]], n_nodes: int) -> tuple[list[Token], list[int]]:
    """(distinct tokens, per-node position in them or -1) for (node, token) pairs."""
    index: dict[Token, int] = {}
    positions = [-1] * n_nodes
    for node, tok in node_tokens:
        if tok:
            v = index.get(tok)
            if v is None:
                v = index[tok] = len(index)
            positions[node] = v
    return list(index), positions
