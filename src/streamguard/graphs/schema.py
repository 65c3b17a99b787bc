"""What a code graph is made of: tiers, edge types, node feature columns, flag bits.

Node features `x` (LongTensor [N, 2 + K], K = graph.subtokens_per_node):

    column 0        node type id (grammar.NODE_TYPES: tree-sitter kinds, ERROR, specials)
    columns 1..K    subtoken ids of the node's token (vocab.json; 0 = none, 1 = unknown).
                    Leaves carry their text (identifiers split into subtokens, literals
                    by kind); inner nodes carry their operator or keyword (`+`, `->`, `if`).
    column K + 1    flag bits (FLAGS below), an int; a model unpacks them with
                    `(x[:, -1:] >> arange(len(FLAGS))) & 1`.

Edge type ids are fixed whatever `graph.edge_types` enables, so a model's
relation count never depends on params; disabled types simply have no edges.
"""

from __future__ import annotations

# Parse tiers, best first. full: no ERROR/MISSING node; partial: errors, but the
# well-formed subtrees are kept and error regions flagged; token: the parse was
# unusable, so the graph is built from a lexer's token sequence.
TIERS = ("full", "partial", "token")

# `graph.edge_types` names -> the edge type ids each one adds
EDGE_GROUPS: dict[str, tuple[str, ...]] = {
    "ast": ("ast_child", "ast_parent"),
    "sequence": ("next_token",),
    "control_flow": ("control_flow",),
    "data_flow": ("data_flow",),
}
EDGE_TYPES: tuple[str, ...] = tuple(t for group in EDGE_GROUPS.values() for t in group)
EDGE_TYPE_ID = {name: i for i, name in enumerate(EDGE_TYPES)}
AST_CHILD, AST_PARENT, NEXT_TOKEN, CONTROL_FLOW, DATA_FLOW = (EDGE_TYPE_ID[t] for t in EDGE_TYPES)
# for each edge type, the stored type holding its reverse edges (-1: none stored), so a model
# that reads edges both ways does not add a second copy of the AST in either direction
EDGE_INVERSE: tuple[int, ...] = tuple(
    {AST_CHILD: AST_PARENT, AST_PARENT: AST_CHILD}.get(i, -1) for i in range(len(EDGE_TYPES))
)

# Flag bits, in bit order. Taint hints: sources are parameters,
# input-reading calls and the source argument of copies; sinks are copy/format/
# allocation/free/exec calls, the arguments they consume dangerously, and array indexes.
FLAGS = (
    "in_error",  # an ERROR node, a node directly in one, or a node with a MISSING part (partial tier)
    "truncated",  # some of this node's subtree was cut by graph.max_nodes
    "def",  # identifier (re)defined here: declarator, parameter, assignment target, x++, &x argument
    "use",  # identifier read here
    "param",  # a function parameter's name (a taint source)
    "source_call",  # call to an input API (read, recv, fgets, getenv, scanf, ...) or its name
    "source_arg",  # the source argument of a copy (memcpy's src, strcpy's src, ...)
    "sink_call",  # call to a sink API (memcpy, strcpy, sprintf, malloc, free, system, exec*, ...)
    "sink_arg",  # what a sink consumes dangerously: copy length, allocation size, freed pointer, command
    "index",  # an array index expression
    "dangerous_api",  # call to an API with no bounds check (gets, strcpy, sprintf, system, ...)
)
FLAG_BIT = {name: 1 << i for i, name in enumerate(FLAGS)}
IN_ERROR, TRUNCATED, DEF, USE, PARAM = (FLAG_BIT[f] for f in FLAGS[:5])
SOURCE_CALL, SOURCE_ARG, SINK_CALL, SINK_ARG, INDEX, DANGEROUS_API = (FLAG_BIT[f] for f in FLAGS[5:])

# token-slot ids reserved in every vocabulary, before the learned subtokens
PAD_TOKEN, UNK_TOKEN = "<pad>", "<unk>"
LITERAL_TOKENS = ("<num>", "<str>", "<char>")
RESERVED_TOKENS = (PAD_TOKEN, UNK_TOKEN, *LITERAL_TOKENS)


def x_columns(subtokens_per_node: int) -> list[str]:
    return ["node_type", *(f"token_{i}" for i in range(subtokens_per_node)), "flags"]
