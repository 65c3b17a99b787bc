"""Data-flow edges: from each definition of a variable to its later uses.

A definition is a declarator (`int n;`, `int n = ...`), a function parameter,
a plain assignment target (`n = ...`, `n += ...`), an increment (`n++`) or an
address passed to a call (`read_into(&n)`, which may write n). A definition
takes effect where its statement part ends: in `n = n + 1` the `n` on the
right still reads the previous definition.

"Last reaching definition along source order": each
use is linked to the textually latest definition of the same name before it.
Branches and loops are not merged, scopes are not tracked, and writes through
pointers or struct fields (`p->len = n`) define nothing. Cheap, and it gives the
edges that matter most (`n = read(...)` to `memcpy(dst, src, n)`).
"""

from __future__ import annotations

from streamguard.c.grammar import anonymous_kind, field_id, named_kinds
from streamguard.graphs.flat_tree import FlatTree
from streamguard.graphs.schema import DEF, PARAM, USE

_IDENTIFIER = named_kinds("identifier")
_CALL = named_kinds("call_expression")
_FUNCTION_DECLARATOR = named_kinds("function_declarator")
# declarators that wrap a name without changing which variable it is
_DECLARATOR_WRAPPERS = named_kinds(
    "pointer_declarator", "array_declarator", "parenthesized_declarator", "attributed_declarator",
    "function_declarator",  # only reached through a wrapper: a function pointer `(*fp)(int)`
)  # fmt: skip
_INIT_DECLARATOR = named_kinds("init_declarator")
_DECLARATION = named_kinds("declaration")
_PARAMETER = named_kinds("parameter_declaration")
_ASSIGNMENT = named_kinds("assignment_expression")
_UPDATE = named_kinds("update_expression")
_POINTER_EXPRESSION = named_kinds("pointer_expression")
_ARGUMENT_LIST = named_kinds("argument_list")
_PLAIN_ASSIGN = anonymous_kind("=")
_ADDRESS_OF = anonymous_kind("&")
_DECLARATOR, _FUNCTION, _LEFT = field_id("declarator"), field_id("function"), field_id("left")


def data_flow_edges(flat: FlatTree, flags: list[int]) -> tuple[list[int], list[int]]:
    """Def->use edges; also sets the DEF, USE and PARAM flags of identifiers."""
    kind, parent, field_of, op, end = flat.kind, flat.parent, flat.field_of, flat.op, flat.subtree_end
    # (position where it takes effect, 0 = definition / 1 = use, name, node)
    events: list[tuple[int, int, bytes, int]] = []
    for i, name in flat.text.items():
        if kind[i] not in _IDENTIFIER or not name:
            continue
        p = parent[i]
        f = field_of[i]
        pk = kind[p] if p >= 0 else -1
        if (pk in _CALL and f == _FUNCTION) or (pk in _FUNCTION_DECLARATOR and f == _DECLARATOR):
            continue  # a function's name, not a variable
        if f == _DECLARATOR:
            node = i
            while field_of[node] == _DECLARATOR and kind[parent[node]] in _DECLARATOR_WRAPPERS:
                node = parent[node]
            top = parent[node]
            if field_of[node] != _DECLARATOR or top < 0:
                events.append((i, 1, name, i))
            elif kind[top] in _INIT_DECLARATOR:
                events.append((end(top), 0, name, i))
            elif kind[top] in _DECLARATION:
                events.append((i + 1, 0, name, i))
            elif kind[top] in _PARAMETER:
                events.append((i + 1, 0, name, i))
                flags[i] |= PARAM
            # else a struct field or typedef name: not a variable
            continue
        if pk in _ASSIGNMENT and f == _LEFT:
            events.append((end(p), 0, name, i))
            if op.get(p) != _PLAIN_ASSIGN:  # `n += x` reads n too
                events.append((i, 1, name, i))
        elif pk in _UPDATE:
            events.append((i, 1, name, i))
            events.append((end(p), 0, name, i))
        elif pk in _POINTER_EXPRESSION and op.get(p) == _ADDRESS_OF and kind[parent[p]] in _ARGUMENT_LIST:
            events.append((i, 1, name, i))
            events.append((end(parent[p]), 0, name, i))
        else:
            events.append((i, 1, name, i))

    events.sort()
    reaching: dict[bytes, int] = {}
    src: list[int] = []
    dst: list[int] = []
    for _, is_use, name, node in events:
        if is_use:
            flags[node] |= USE
            d = reaching.get(name)
            if d is not None and d != node:
                src.append(d)
                dst.append(node)
        else:
            flags[node] |= DEF
            reaching[name] = node
    return src, dst
