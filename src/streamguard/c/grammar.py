"""The tree-sitter C grammar, and the fixed node-type vocabulary derived from it.

Node types are a property of the grammar, not of the data: the type id of a
tree-sitter kind is its position in `NODE_TYPES`, the same on every machine and
every split. Kinds that the grammar lists several times under one name (aliases
such as the four `function_declarator` ids) share one type id. The token tier
reuses the grammar's anonymous kinds (`if`, `+`, `->`) for keywords and
operators, so both tiers speak one type vocabulary.
"""

from __future__ import annotations

import threading

import numpy as np
import tree_sitter_c
from tree_sitter import Language, Parser

LANGUAGE = Language(tree_sitter_c.language())
KIND_COUNT = LANGUAGE.node_kind_count
ERROR_KIND = 0xFFFF  # tree-sitter's kind_id for ERROR nodes


def new_parser() -> Parser:
    """A parser per process (tree-sitter parsers cannot be pickled or shared)."""
    return Parser(LANGUAGE)


_local = threading.local()  # a Parser is not safe to share between threads


def thread_parser() -> Parser:
    """This thread's parser, made on first use."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = new_parser()
    return parser


def _type_name(kind_id: int) -> str:
    name = LANGUAGE.node_kind_for_id(kind_id) or ""
    # anonymous kinds are quoted so that the keyword `if` and a kind named `if` cannot clash
    return name if LANGUAGE.node_kind_is_named(kind_id) else repr(name)


def _build_type_table() -> tuple[list[str], np.ndarray]:
    names = ["<pad>"]
    index: dict[str, int] = {}
    table = np.zeros(ERROR_KIND + 1, dtype=np.int32)
    for kind_id in range(KIND_COUNT):
        if not LANGUAGE.node_kind_is_visible(kind_id):
            continue
        name = _type_name(kind_id)
        if name not in index:
            index[name] = len(names)
            names.append(name)
        table[kind_id] = index[name]
    for special in ("ERROR", "<unknown_token>", "<empty>"):
        names.append(special)
    table[ERROR_KIND] = names.index("ERROR")
    return names, table


# NODE_TYPES[i] names node type i; KIND_TO_TYPE[kind_id] is that type id
NODE_TYPES, KIND_TO_TYPE = _build_type_table()
ERROR_TYPE = NODE_TYPES.index("ERROR")
UNKNOWN_TOKEN_TYPE = NODE_TYPES.index("<unknown_token>")  # a lexer token the grammar has no kind for
EMPTY_TYPE = NODE_TYPES.index("<empty>")  # the single node of an empty function's graph


def named_kinds(*names: str) -> frozenset[int]:
    """Every named kind id spelled like one of `names` (aliases included)."""
    wanted = set(names)
    out = {k for k in range(KIND_COUNT) if LANGUAGE.node_kind_is_named(k) and LANGUAGE.node_kind_for_id(k) in wanted}
    missing = wanted - {LANGUAGE.node_kind_for_id(k) for k in out}
    if missing:  # a grammar upgrade renamed something this package relies on
        raise RuntimeError(f"tree-sitter-c has no named kind(s) {sorted(missing)}; check the pinned tree-sitter-c")
    return frozenset(out)


def anonymous_kind(text: str) -> int | None:
    """The anonymous kind id for a keyword/operator spelled `text`, if the grammar has one."""
    kind = LANGUAGE.id_for_node_kind(text, False)
    return kind if kind and LANGUAGE.node_kind_is_visible(kind) else None


def field_id(name: str) -> int:
    fid = LANGUAGE.field_id_for_name(name)
    if fid is None:
        raise RuntimeError(f"tree-sitter-c has no field '{name}'; check the pinned tree-sitter-c")
    return fid


def anonymous_kind_names() -> dict[int, str]:
    """Anonymous visible kind id -> its text (keywords, operators, punctuation)."""
    return {
        k: LANGUAGE.node_kind_for_id(k) or ""
        for k in range(KIND_COUNT)
        if not LANGUAGE.node_kind_is_named(k) and LANGUAGE.node_kind_is_visible(k)
    }
