"""One function's source text -> its RawGraph, choosing the parse tier.

1. full: tree-sitter parses the (macro-normalised) text with no ERROR or
   MISSING node;
2. partial: the parse has errors, but tokens that fit no construct are at
   most `graph.token_tier_error_fraction` of the text and ERROR/MISSING nodes
   at most `graph.token_tier_problem_rate` of the tree (see parse_problems):
   the tree is kept as it is (tree-sitter keeps well-formed subtrees whole,
   even inside an ERROR node) and ERROR nodes, what hangs directly in them,
   and nodes with a MISSING part are flagged `in_error`;
3. token: otherwise (not C, garbage, almost all ERROR) the graph comes from
   the lexer (token_graph.py).

Text is encoded as UTF-8 with errors replaced, so lone surrogates and other
unencodable characters cannot fail; empty text gets the one-node empty graph.
"""

from __future__ import annotations

import numpy as np
from tree_sitter import Query, QueryCursor, Tree

from streamguard.c.grammar import ERROR_KIND, KIND_TO_TYPE, LANGUAGE, anonymous_kind_names, new_parser
from streamguard.c.normalise import normalise_macros
from streamguard.graphs.control_flow import control_flow_edges
from streamguard.graphs.data_flow import data_flow_edges
from streamguard.graphs.flat_tree import FlatTree, flatten
from streamguard.graphs.raw_graph import RawGraph, assemble
from streamguard.graphs.schema import (
    AST_CHILD,
    AST_PARENT,
    CONTROL_FLOW,
    DATA_FLOW,
    EDGE_GROUPS,
    EDGE_TYPE_ID,
    IN_ERROR,
    NEXT_TOKEN,
    TRUNCATED,
)
from streamguard.graphs.taint import mark_taint
from streamguard.graphs.token_graph import empty_graph, token_graph
from streamguard.graphs.tokens import LeafTokens
from streamguard.params import GraphParams

_OPERATOR_TOKEN = {kind: (text,) for kind, text in anonymous_kind_names().items()}
_problem_query = Query(LANGUAGE, "(ERROR) @error (MISSING) @missing")


def enabled_edge_types(graph_params: GraphParams) -> frozenset[int]:
    return frozenset(EDGE_TYPE_ID[t] for group in graph_params.edge_types for t in EDGE_GROUPS[group])


def parse_problems(tree: Tree, src: bytes) -> tuple[float, float]:
    """(stray share, problem rate) of a parse with errors.

    Stray share: the share of the text's non-blank bytes in tokens that
    tree-sitter could not fit into any construct (leaves directly under an
    ERROR node). A function whose braces do not balance ends up wholly inside
    one ERROR node, yet its declarations and statements are still parsed:
    those bytes are not stray. Problem rate: ERROR and MISSING nodes per tree
    node; prose parses as declarations with a MISSING `;` each, so it is high.
    """
    found = QueryCursor(_problem_query).captures(tree.root_node)
    errors, missing = found.get("error", []), found.get("missing", [])
    stray = 0
    for error in errors:
        if error.child_count == 0:
            stray += error.end_byte - error.start_byte
        else:
            stray += sum(c.end_byte - c.start_byte for c in error.children if c.child_count == 0)
    blank = sum(src.count(ws) for ws in (b" ", b"\n", b"\t", b"\r"))
    return stray / max(len(src) - blank, 1), (len(errors) + len(missing)) / max(tree.root_node.descendant_count, 1)


class GraphBuilder:
    """Builds RawGraphs for one GraphParams; one per process (parsers cannot be shared)."""

    def __init__(self, graph_params: GraphParams) -> None:
        self.params = graph_params
        self.edge_types = enabled_edge_types(graph_params)
        self.parser = new_parser()
        self.leaf_tokens = LeafTokens(graph_params.subtokens_per_node)

    def build(self, func: str) -> RawGraph:
        """The graph of one function's source text (see the module doc); never raises on bad text."""
        gp = self.params
        src = func.encode("utf-8", "replace")
        if not src.strip():
            return empty_graph()
        if gp.normalise_macros:
            src = normalise_macros(src)
        tree = self.parser.parse(src)
        tier = "full"
        if tree.root_node.has_error:
            tier = "partial"
            stray, problem_rate = parse_problems(tree, src)
            if stray > gp.token_tier_error_fraction or problem_rate > gp.token_tier_problem_rate:
                text = src.decode("utf-8", "replace")
                return token_graph(text, gp.max_nodes, gp.subtokens_per_node, self.edge_types)
        return self._tree_graph(flatten(tree, gp.max_nodes), tier)

    def _tree_graph(self, flat: FlatTree, tier: str) -> RawGraph:
        n = len(flat)
        kind, edge_types = flat.kind, self.edge_types
        flags = [0] * n
        for i in flat.errors:
            flags[i] |= IN_ERROR
            if kind[i] == ERROR_KIND:  # and what hangs in it directly; well-formed subtrees below stay clean
                for c in flat.children[i]:
                    flags[c] |= IN_ERROR
        for i in flat.truncated:
            flags[i] |= TRUNCATED

        leaf = self.leaf_tokens
        node_tokens = [(i, leaf(raw)) for i, raw in flat.text.items()]
        node_tokens += [(i, _OPERATOR_TOKEN[k]) for i, k in flat.op.items()]

        mark_taint(flat, flags)
        edges: dict[int, tuple] = {}
        if AST_CHILD in edge_types and n > 1:
            child = np.arange(1, n, dtype=np.int32)
            parent = np.asarray(flat.parent[1:], dtype=np.int32)
            edges[AST_CHILD] = (parent, child)
            edges[AST_PARENT] = (child, parent)
        if NEXT_TOKEN in edge_types:
            leaves = np.asarray([i for i, kids in enumerate(flat.children) if not kids], dtype=np.int32)
            edges[NEXT_TOKEN] = (leaves[:-1], leaves[1:])
        if CONTROL_FLOW in edge_types:
            edges[CONTROL_FLOW] = control_flow_edges(flat)
        # data flow also sets the def/use/param flags, so it runs whatever the edge types
        dataflow = data_flow_edges(flat, flags)
        if DATA_FLOW in edge_types:
            edges[DATA_FLOW] = dataflow
        node_type = KIND_TO_TYPE[np.asarray(kind, dtype=np.int32)]
        return assemble(node_type, flags, node_tokens, edges, tier=tier, truncated=bool(flat.truncated))
