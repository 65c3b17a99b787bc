"""The token tier: a graph from a C lexer, for text tree-sitter cannot make sense of.

Any text lexes (an unknown character is a token of type `<unknown_token>`), so
every function gets a graph. Nodes are a synthetic root plus one node per
token, typed with the grammar's own kinds (`identifier`, `number_literal`,
anonymous `if`, `+`, ...). Edges:

- ast: each token hangs under the innermost open bracket (`(`, `[`, `{`) that
  encloses it, or under the root: the bracket nesting is the only structure a
  lexer can see (closing brackets hang under their opener);
- sequence: each token to the next.

An identifier directly followed by `(` is treated as a call for the taint
flags, tokens inside `[...]` get the index flag. The lexer is lazy, so a
megabyte of text costs only the first graph.max_nodes tokens.
"""

from __future__ import annotations

import re

import numpy as np

from streamguard.c.grammar import (
    EMPTY_TYPE,
    KIND_TO_TYPE,
    UNKNOWN_TOKEN_TYPE,
    anonymous_kind,
    named_kinds,
)
from streamguard.graphs.raw_graph import RawGraph, assemble
from streamguard.graphs.schema import AST_CHILD, AST_PARENT, INDEX, NEXT_TOKEN, TRUNCATED
from streamguard.graphs.taint import role_of
from streamguard.graphs.tokens import Token, subtokens

_LEXER = re.compile(
    r"""(?P<space>\s+)
    |(?P<comment>//[^\n]*|/\*.*?(?:\*/|\Z))
    |(?P<str>(?:L|u8|u|U)?"(?:\\.|[^"\\\n])*"?)
    |(?P<char>(?:L|u8|u|U)?'(?:\\.|[^'\\\n])*'?)
    |(?P<num>\.?[0-9](?:[eEpP][+-]|[\w.])*)
    |(?P<word>[^\W\d]\w*)
    |(?P<op>\.\.\.|<<=|>>=|->|\+\+|--|<<|>>|<=|>=|==|!=|&&|\|\||[-+*/%&|^]=|\#\#|[-+*/%&|^~!=<>?:;,.(){}\[\]\#])
    |(?P<other>.)""",
    re.VERBOSE | re.DOTALL,
)
_PRIMITIVE_TYPES = frozenset(
    "void char int float double bool _Bool size_t ssize_t ptrdiff_t intptr_t uintptr_t "
    "int8_t int16_t int32_t int64_t uint8_t uint16_t uint32_t uint64_t".split()
)
_OPEN = {"(": ")", "[": "]", "{": "}"}
_CLOSE = frozenset(_OPEN.values())


def _type_id(named: str) -> int:
    return int(KIND_TO_TYPE[min(named_kinds(named))])


_ROOT_TYPE = _type_id("translation_unit")
_IDENTIFIER_TYPE = _type_id("identifier")
_PRIMITIVE_TYPE = _type_id("primitive_type")
_LITERAL = {
    "num": (_type_id("number_literal"), ("<num>",)),
    "str": (_type_id("string_literal"), ("<str>",)),
    "char": (_type_id("char_literal"), ("<char>",)),
}


def _word_type(word: str) -> int:
    kind = anonymous_kind(word)  # keywords: if, while, return, struct, unsigned, ...
    if kind is not None:
        return int(KIND_TO_TYPE[kind])
    return _PRIMITIVE_TYPE if word in _PRIMITIVE_TYPES else _IDENTIFIER_TYPE


def _op_type(op: str) -> int:
    kind = anonymous_kind(op)
    return int(KIND_TO_TYPE[kind]) if kind is not None else UNKNOWN_TOKEN_TYPE


_PAREN_TYPE, _SQUARE_TYPE = _op_type("("), _op_type("[")


def empty_graph() -> RawGraph:
    """The graph of a function with no text: one `<empty>` node."""
    return assemble(np.array([EMPTY_TYPE]), [0], [], {}, tier="token", truncated=False)


def token_graph(text: str, max_nodes: int, subtokens_per_node: int, edge_types: frozenset[int]) -> RawGraph:
    """The token-tier graph of `text` (see the module doc); never fails."""
    types = [_ROOT_TYPE]
    parents = [-1]
    flags = [0]
    words: list[tuple[int, str]] = []  # (node, text) of word tokens
    node_tokens: list[tuple[int, Token]] = []
    brackets = [0]  # open-bracket nodes enclosing the current token; 0 = the root
    truncated = False
    for match in _LEXER.finditer(text):
        group = match.lastgroup
        if group == "space" or group == "comment":
            continue
        node = len(types)
        if node == max_nodes:
            truncated = True
            break
        tok = match.group()
        enclosing = brackets[-1]
        parents.append(enclosing)
        flags.append(INDEX if enclosing and types[enclosing] == _SQUARE_TYPE else 0)
        if group == "word":
            types.append(_word_type(tok))
            words.append((node, tok))
        elif group in _LITERAL:
            type_id, lit = _LITERAL[group]
            types.append(type_id)
            node_tokens.append((node, lit))
        elif group == "op":
            types.append(_op_type(tok))
            node_tokens.append((node, (tok,)))
            if tok in _OPEN:
                brackets.append(node)
            elif tok in _CLOSE and len(brackets) > 1:
                brackets.pop()
        else:
            types.append(UNKNOWN_TOKEN_TYPE)
    n = len(types)
    if n == 1:
        return empty_graph()
    if truncated:
        flags[0] |= TRUNCATED
    for node, word in words:
        node_tokens.append((node, subtokens(word)[:subtokens_per_node]))
        # a word followed by `(` is a call (or a macro invocation, which taints alike)
        if node + 1 < n and types[node + 1] == _PAREN_TYPE:
            flags[node] |= role_of(word).call_flags

    edges = {}
    if AST_CHILD in edge_types:
        child = np.arange(1, n, dtype=np.int32)
        parent = np.asarray(parents[1:], dtype=np.int32)
        edges[AST_CHILD] = (parent, child)
        edges[AST_PARENT] = (child, parent)
    if NEXT_TOKEN in edge_types:
        edges[NEXT_TOKEN] = (np.arange(1, n - 1, dtype=np.int32), np.arange(2, n, dtype=np.int32))
    return assemble(np.asarray(types), flags, node_tokens, edges, tier="token", truncated=truncated)
