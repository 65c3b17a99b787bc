"""Walk a tree-sitter parse tree once, iteratively, into flat preorder lists.

Kept nodes are the grammar's named nodes (statements, expressions, declarators,
identifiers, literals, ERROR). Anonymous tokens are not nodes of their own: a
keyword or operator is folded into its parent as the parent's token (the `+` of
a binary_expression, the `->` of a field_expression), punctuation is dropped,
comments are skipped. Literals and identifiers are leaves.

Truncation rule (graph.max_nodes): nodes are kept in preorder (source order)
until the cap is reached; the rest of the tree is dropped. Preorder keeps every
kept node's ancestors, so the result is still one connected tree: the head of
the function, with the nodes whose subtrees were cut marked `truncated`.

The walk uses a TreeCursor and an explicit stack, never recursion, so a
5,000-deep nest of parentheses or blocks costs nothing special.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field as _default

from tree_sitter import Node, Tree

from streamguard.c.grammar import ERROR_KIND, KIND_COUNT, LANGUAGE, anonymous_kind_names, named_kinds

# what the walk does on meeting each kind (indexed by kind id; ERROR is 0xFFFF)
_PUNCT, _TOKEN, _SKIP, _DESCEND, _LEAF, _ERROR = range(6)

# named kinds whose text is the token and whose children are not interesting
LEAF_KINDS = named_kinds(
    "identifier", "field_identifier", "type_identifier", "statement_identifier",
    "number_literal", "string_literal", "concatenated_string", "char_literal", "system_lib_string",
    "primitive_type", "true", "false", "null", "preproc_arg", "preproc_directive",
)  # fmt: skip
_PUNCTUATION = {"(", ")", "{", "}", "[", "]", ";", ",", ":", "::", "[[", "]]", "\n", "...",
                '"', "'", 'L"', 'u"', 'U"', 'u8"', "L'", "u'", "U'", "u8'"}  # fmt: skip


def _action_table() -> list[int]:
    table = [_DESCEND] * (ERROR_KIND + 1)
    for kind, text in anonymous_kind_names().items():
        table[kind] = _PUNCT if text in _PUNCTUATION else _TOKEN
    for kind in LEAF_KINDS:
        table[kind] = _LEAF
    for kind in named_kinds("comment"):
        table[kind] = _SKIP
    for kind in range(KIND_COUNT):  # invisible kinds never appear in a tree; keep them inert
        if not LANGUAGE.node_kind_is_visible(kind):
            table[kind] = _PUNCT
    table[ERROR_KIND] = _ERROR
    return table


_ACTION = _action_table()


@dataclass
class FlatTree:
    """Kept nodes in preorder; index 0 is the root (translation_unit)."""

    kind: list[int] = _default(default_factory=list)  # tree-sitter kind id
    parent: list[int] = _default(default_factory=list)  # parent index, -1 for the root
    field_of: list[int | None] = _default(default_factory=list)  # field id of the node in its parent
    text: dict[int, bytes] = _default(default_factory=dict)  # leaf index -> source text
    op: dict[int, int] = _default(default_factory=dict)  # node index -> folded keyword/operator kind id
    errors: list[int] = _default(default_factory=list)  # ERROR nodes and nodes with a MISSING part
    truncated: list[int] = _default(default_factory=list)  # nodes whose subtree was cut by max_nodes
    children: list[list[int]] = _default(default_factory=list)  # kept children of each node, in order

    def __len__(self) -> int:
        return len(self.kind)

    def subtree_end(self, i: int) -> int:
        """End (exclusive) of node i's subtree in preorder: its subtree is [i, subtree_end(i))."""
        children = self.children
        while children[i]:  # the last descendant ends the subtree; O(depth), only asked for a few nodes
            i = children[i][-1]
        return i + 1


def flatten(tree: Tree, max_nodes: int) -> FlatTree:
    """The first `max_nodes` kept nodes of `tree` in preorder (see the module doc)."""
    flat = FlatTree()
    kind, parent, fields, text, op, errors, children = (
        flat.kind, flat.parent, flat.field_of, flat.text, flat.op, flat.errors, flat.children,
    )  # fmt: skip
    action = _ACTION
    check_missing = tree.root_node.has_error  # MISSING nodes exist only in trees with errors
    cursor = tree.walk()
    stack = [-1]  # stack[-1]: index of the kept node whose children are being visited
    while True:
        node: Node = cursor.node  # type: ignore[assignment]  # never None while the cursor is inside the tree
        k = node.kind_id
        act = action[k]
        if act >= _DESCEND:
            i = len(kind)
            if i == max_nodes:
                flat.truncated = stack[1:]
                return flat
            p = stack[-1]
            kind.append(k)
            parent.append(p)
            fields.append(cursor.field_id)
            children.append([])
            if p >= 0:
                children[p].append(i)
            if act == _ERROR or (check_missing and node.is_missing):
                errors.append(i)
            if act == _LEAF:
                text[i] = node.text  # type: ignore[assignment]  # a parsed node has its text
            elif cursor.goto_first_child():
                stack.append(i)
                continue
            else:
                text[i] = node.text  # type: ignore[assignment]  # a named node with no children at all is a leaf too
        elif act == _TOKEN:
            op.setdefault(stack[-1], k)
            if check_missing and node.is_missing:
                errors.append(stack[-1])
        elif act == _PUNCT and check_missing and node.is_missing:
            errors.append(stack[-1])
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return flat
            stack.pop()
