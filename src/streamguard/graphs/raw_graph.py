"""A function's graph before vocabulary lookup, and blocks of them.

Everything is a compact numpy array (cheap to pickle between processes); the
tokens are a table of distinct subtoken tuples (see tokens.py) that the
vocabulary, built later on the train split only, maps to ids.
"""

from __future__ import annotations

from collections.abc import Mapping
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
    edges: Mapping[int, tuple[np.ndarray | list[int], np.ndarray | list[int]]],
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


@dataclass
class GraphBlock:
    """Several functions' RawGraphs collated: what one worker task returns.

    Node and edge arrays are concatenated (edge indices stay local to their
    graph) with `node_ptr`/`edge_ptr` offsets, and the token tables merged into
    one, so the main process maps tokens and sizes with a few numpy operations
    per block instead of per graph. `positions` says which input each graph
    belongs to; inputs that failed are absent and listed in `failures`.
    """

    node_type: np.ndarray  # int32 [N]
    flags: np.ndarray  # int32 [N]
    node_token: np.ndarray  # int32 [N], position in `tokens`, -1 = no token
    edge_index: np.ndarray  # int32 [2, E]
    edge_type: np.ndarray  # uint8 [E]
    node_ptr: np.ndarray  # int64 [G + 1]
    edge_ptr: np.ndarray  # int64 [G + 1]
    tier: list[str]  # [G]
    truncated: np.ndarray  # bool [G]
    tokens: list[Token]
    token_counts: np.ndarray  # int64 [len(tokens)], nodes carrying each token
    positions: list[int]  # [G], index of each graph's function in the task's input
    failures: list[tuple[int, str]]  # (input index, reason) of functions without a graph

    def __len__(self) -> int:
        return len(self.positions)

    @classmethod
    def collate(cls, graphs: list[tuple[int, RawGraph]], failures: list[tuple[int, str]]) -> GraphBlock:
        index: dict[Token, int] = {}
        node_tokens = []
        for _, g in graphs:
            # trailing -1: a node without a token (-1) stays without one
            remap = np.array([index.setdefault(t, len(index)) for t in g.tokens] + [-1], dtype=np.int32)
            node_tokens.append(remap[g.node_token])
        raws = [g for _, g in graphs]
        node_token = _cat(node_tokens, np.int32)
        return cls(
            node_type=_cat([g.node_type for g in raws], np.int32),
            flags=_cat([g.flags for g in raws], np.int32),
            node_token=node_token,
            edge_index=np.concatenate([g.edge_index for g in raws], axis=1) if raws else np.zeros((2, 0), np.int32),
            edge_type=_cat([g.edge_type for g in raws], np.uint8),
            node_ptr=_offsets([g.num_nodes for g in raws]),
            edge_ptr=_offsets([g.num_edges for g in raws]),
            tier=[g.tier for g in raws],
            truncated=np.array([g.truncated for g in raws], dtype=bool),
            tokens=list(index),
            token_counts=np.bincount(node_token[node_token >= 0], minlength=len(index)),
            positions=[i for i, _ in graphs],
            failures=failures,
        )


def _cat(arrays: list[np.ndarray], dtype: type) -> np.ndarray:
    return np.concatenate(arrays).astype(dtype, copy=False) if arrays else np.zeros(0, dtype=dtype)


def _offsets(sizes: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]).astype(np.int64)
