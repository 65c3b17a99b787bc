"""Control-flow edges between statement nodes of a flattened tree.

Every statement is its own CFG node; entering a block means entering the
compound_statement node, which flows to its first statement. `follow[s]` is
where control goes when statement `s` completes normally; it is computed top
down in preorder (a parent is always seen before its children), so no
recursion is needed however deep the nesting:

- in a block (compound, case body, else branch, label, ERROR region, #if
  block, the top level of a function whose head did not parse), a statement
  is followed by the next one, the last by the block's follow;
- the branches of an `if` are followed by the `if`'s follow;
- a loop body is followed by the loop itself: the loop back-edge;
- `break` jumps to its loop's/switch's follow, `continue` to its loop,
  `goto L` to the statement labelled L, `return` leaves the graph.

Where graph.max_nodes cut a statement's subtree, edges that would lead into
the cut part (the fall-through of the last kept statement of a cut block, the
"no else" exit of a cut `if`) are left out rather than guessed.
"""

from __future__ import annotations

from streamguard.c.grammar import ERROR_KIND, field_id, named_kinds
from streamguard.graphs.flat_tree import FlatTree

_BLOCKS = named_kinds(
    "translation_unit", "compound_statement", "case_statement", "else_clause", "labeled_statement",
    "attributed_statement",
    "preproc_if", "preproc_ifdef", "preproc_else", "preproc_elif", "preproc_elifdef",
) | {ERROR_KIND}  # fmt: skip
_IF = named_kinds("if_statement")
_LOOPS = named_kinds("while_statement", "for_statement", "do_statement")
_SWITCH = named_kinds("switch_statement")
_CASE = named_kinds("case_statement")
_BREAK = named_kinds("break_statement")
_CONTINUE = named_kinds("continue_statement")
_GOTO = named_kinds("goto_statement")
_RETURN = named_kinds("return_statement")
_LABELED = named_kinds("labeled_statement")
STATEMENTS = (
    _BLOCKS | _IF | _LOOPS | _SWITCH | _BREAK | _CONTINUE | _GOTO | _RETURN
    | named_kinds("expression_statement", "declaration", "type_definition", "seh_leave_statement")
)  # fmt: skip

_CONSEQUENCE, _ALTERNATIVE, _BODY, _VALUE, _LABEL = (
    field_id(name) for name in ("consequence", "alternative", "body", "value", "label")
)
# fields under which statement kinds are parts of the parent's header, not its body
# (the `int i = 0` declaration of a for loop, a case's value)
_HEADER_FIELDS = {field_id(name) for name in ("initializer", "condition", "update", "value")}


def control_flow_edges(flat: FlatTree) -> tuple[list[int], list[int]]:
    kind, field_of, parent, children = flat.kind, flat.field_of, flat.parent, flat.children
    n = len(kind)
    follow = [-1] * n
    src: list[int] = []
    dst: list[int] = []

    def edge(a: int, b: int) -> None:
        if b >= 0:
            src.append(a)
            dst.append(b)

    def child_in(s: int, fid: int) -> int:
        for c in children[s]:
            if field_of[c] == fid:
                return c
        return -1

    cut = set(flat.truncated)
    labels: dict[bytes, int] = {}
    jumps: list[int] = []  # break/continue/goto, resolved once every follow is known
    for s in range(n):
        k = kind[s]
        if k not in STATEMENTS:
            continue
        if k in _BLOCKS:
            statements = [c for c in children[s] if kind[c] in STATEMENTS and field_of[c] not in _HEADER_FIELDS]
            for a, b in zip(statements, statements[1:]):
                follow[a] = b
            if statements:
                follow[statements[-1]] = follow[s] if s not in cut else -1
                edge(s, statements[0])
            elif s not in cut:
                edge(s, follow[s])
            if k in _LABELED:
                name = child_in(s, _LABEL)
                if name >= 0 and name in flat.text:
                    labels.setdefault(flat.text[name], s)
        elif k in _IF:
            then, other = child_in(s, _CONSEQUENCE), child_in(s, _ALTERNATIVE)
            for branch in (then, other):
                if branch >= 0:
                    follow[branch] = follow[s]
                    edge(s, branch)
            if other < 0 and s not in cut:
                edge(s, follow[s])
        elif k in _LOOPS:
            body = child_in(s, _BODY)
            if body >= 0:
                follow[body] = s  # the back-edge
                edge(s, body)
            edge(s, follow[s])
        elif k in _SWITCH:
            body = child_in(s, _BODY)
            if body < 0:
                edge(s, follow[s])
                continue
            follow[body] = follow[s]
            cases = [c for c in children[body] if kind[c] in _CASE]
            for case in cases:
                edge(s, case)
            if not cases:
                edge(s, body)
            if not any(child_in(case, _VALUE) < 0 for case in cases):  # no `default:`
                edge(s, follow[s])
        elif k in _BREAK or k in _CONTINUE or k in _GOTO:
            jumps.append(s)
        elif k not in _RETURN:
            edge(s, follow[s])

    for s in jumps:
        k = kind[s]
        if k in _GOTO:
            name = child_in(s, _LABEL)
            edge(s, labels.get(flat.text.get(name, b""), -1) if name >= 0 else -1)
            continue
        target = parent[s]  # innermost enclosing loop (or switch, for break)
        while target >= 0 and not (kind[target] in _LOOPS or (k in _BREAK and kind[target] in _SWITCH)):
            target = parent[target]
        if target >= 0:
            edge(s, follow[target] if k in _BREAK else target)
    return src, dst
