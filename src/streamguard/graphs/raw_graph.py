"""A function's graph before vocabulary lookup: what a worker process returns.

Everything is a compact numpy array (cheap to pickle between processes); the
tokens are a per-graph table of distinct subtoken tuples (see tokens.py). `to_data`
in build.py turns a RawGraph plus a vocabulary into a torch_geometric Data.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streamguard.graphs.tokens import Token, intern_tokens


@dataclass
class RawGraph:
    node_type: np.ndarray  # int32 [N], ids into grammar.NODE_TYPES
    flags: np.ndarray  # int32 [N], schema.FLAGS bits
    tokens: list[Token]  # distinct node tokens (subtoken tuples) of this graph
    node_token: np.ndarray  # int32 [N], position in `tokens`, -1 = no token
    edge_index: np.ndarray  # int32 [2, E], node indices
    edge_type: np.ndarray  # uint8 [E], schema.EDGE_TYPES ids
    tier: str  # schema.TIERS
    truncated: bool  # graph.max_nodes cut the function

    @property
    def num_nodes(self) -> int:
        return int(self.node_type.shape[0])

    @property
    def num_edges(self) -> int:
        return int(self.edge_type.shape[0])


def assemble(
    node_type: np.ndarray,
    flags: list[int],
    node_tokens: list[tuple[int, Token]],
    edges: dict[int, tuple[np.ndarray | list[int], np.ndarray | list[int]]],
    *,
    tier: str,
    truncated: bool,
) -> RawGraph:
    """One RawGraph from per-node arrays, (node, token) pairs and per-type edge lists."""
    srcs, dsts, types = [], [], []
    for type_id, (src, dst) in edges.items():
        src = np.asarray(src, dtype=np.int32)
        if src.size:
            srcs.append(src)
            dsts.append(np.asarray(dst, dtype=np.int32))
            types.append(np.full(src.size, type_id, dtype=np.uint8))
    if srcs:
        edge_index = np.stack([np.concatenate(srcs), np.concatenate(dsts)])
        edge_type = np.concatenate(types)
    else:
        edge_index = np.zeros((2, 0), dtype=np.int32)
        edge_type = np.zeros(0, dtype=np.uint8)
    n = len(flags)
    tokens, positions = intern_tokens(node_tokens, n)
    return RawGraph(
        node_type=np.asarray(node_type, dtype=np.int32),
        flags=np.asarray(flags, dtype=np.int32),
        tokens=tokens,
        node_token=np.asarray(positions, dtype=np.int32),
        edge_index=edge_index,
        edge_type=edge_type,
        tier=tier,
        truncated=truncated,
    )
