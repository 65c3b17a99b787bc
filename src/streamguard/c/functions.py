"""The one C function extractor: collectors, corpora, `scan`, `triage` and `predict` all cut functions here.

Each `function_definition` comes with its name, exact text and line span.
Known project macros (`static av_cold int init(...)`, `QTAILQ_FOREACH(...)`)
are normalised before parsing (normalise.py), which keeps every byte
offset, so the text returned is the original text while its boundaries are
those of a clean parse: training data and code scored by `predict` are cut
the same way. tree-sitter recovers from errors, so partial files still yield
the functions it can delimit.
"""

from __future__ import annotations

from dataclasses import dataclass

from tree_sitter import Node

from streamguard.c.grammar import thread_parser
from streamguard.c.normalise import normalise_macros


@dataclass(frozen=True)
class CFunction:
    name: str
    text: str
    start_line: int  # 1-based, inclusive
    end_line: int


ANONYMOUS = "<anonymous>"  # a definition whose declarator names nothing tree-sitter could find


def extract_functions(source: str | bytes) -> list[CFunction]:
    """Every function definition in `source`, in file order (none nested inside another)."""
    data = source.encode("utf-8", "replace") if isinstance(source, str) else source
    normalised = normalise_macros(data)
    tree = thread_parser().parse(normalised)
    found: list[CFunction] = []
    stack: list[Node] = [tree.root_node]
    while stack:
        node = stack.pop()
        if node.type == "function_definition":
            start = _start_with_leading_macros(data, normalised, node.start_byte)
            found.append(
                CFunction(
                    name=function_name(node, data) or ANONYMOUS,
                    text=data[start : node.end_byte].decode("utf-8", "replace"),
                    start_line=node.start_point[0] + 1 - data.count(b"\n", start, node.start_byte),
                    end_line=node.end_point[0] + 1,
                )
            )
            continue  # C has no nested functions; do not look inside bodies
        stack.extend(reversed(node.children))
    return found


def _start_with_leading_macros(data: bytes, normalised: bytes, start: int) -> int:
    """Where a definition starts in the original text, counting macros blanked just before it.

    `av_cold void init(...)` parses as a definition starting at `void`; the text
    must still begin at `av_cold`, as the same function in a dataset does.
    """
    blank = start
    while blank > 0 and normalised[blank - 1 : blank].isspace():
        blank -= 1
    while blank < start and data[blank : blank + 1].isspace():
        blank += 1
    return blank


def function_name(node: Node, data: bytes) -> str | None:
    """The identifier a function_definition defines, through pointer/paren declarators.

    Sliced from the original `data`: the parse ran on normalised text.
    """
    decl = node.child_by_field_name("declarator")
    while decl is not None:
        if decl.type in ("identifier", "field_identifier"):
            return data[decl.start_byte : decl.end_byte].decode("utf-8", "replace")
        inner = decl.child_by_field_name("declarator")
        if inner is None:  # parenthesized_declarator keeps its inner declarator unnamed
            inner = next(
                (c for c in decl.named_children if c.type.endswith("declarator") or c.type == "identifier"), None
            )
        decl = inner
    return None
