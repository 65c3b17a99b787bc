"""Find the function definitions in a C file with tree-sitter.

A small extractor of our own (the graphs package has the full parser): it
returns each `function_definition` with its name, exact text and line span.
tree-sitter recovers from errors, so macro-heavy or partial files still yield
the functions it can delimit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import tree_sitter_c
from tree_sitter import Language, Node, Parser

_LANGUAGE = Language(tree_sitter_c.language())
_local = threading.local()  # a Parser is not safe to share between threads


@dataclass(frozen=True)
class CFunction:
    name: str
    text: str
    start_line: int  # 1-based, inclusive
    end_line: int


def _parser() -> Parser:
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = Parser(_LANGUAGE)
    return parser


def extract_functions(source: str | bytes) -> list[CFunction]:
    """Every function definition in `source`, in file order."""
    data = source.encode("utf-8") if isinstance(source, str) else source
    tree = _parser().parse(data)
    found: list[CFunction] = []
    stack: list[Node] = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            name = function_name(node)
            if name:
                found.append(
                    CFunction(
                        name=name,
                        text=data[node.start_byte : node.end_byte].decode("utf-8", "replace"),
                        start_line=node.start_point[0] + 1,
                        end_line=node.end_point[0] + 1,
                    )
                )
            continue  # C has no nested functions; do not look inside bodies
        stack.extend(reversed(node.children))
    return found


def function_name(node: Node) -> str | None:
    """The identifier a function_definition defines, through pointer/paren declarators."""
    decl = node.child_by_field_name("declarator")
    while decl is not None:
        if decl.type in ("identifier", "field_identifier"):
            return decl.text.decode("utf-8", "replace") if decl.text else None
        inner = decl.child_by_field_name("declarator")
        if inner is None:  # parenthesized_declarator keeps its inner declarator unnamed
            inner = next((c for c in decl.named_children if c.type.endswith("declarator") or c.type == "identifier"), None)
        decl = inner
    return None

