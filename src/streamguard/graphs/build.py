"""Graphs of functions: every split's over worker processes (the graphs stage), one for new code (predict, scan).

`build_split_graphs` builds the blocks of every split; a function whose graph
cannot be built is quarantined (listed with its id and reason), never an error.
`graph_for_function` builds one graph in the layout a trained model expects.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch
from torch_geometric.data import Data

from streamguard.data.records import Record
from streamguard.graphs.function_graph import GraphBuilder
from streamguard.graphs.parallel import GraphPool
from streamguard.graphs.raw_graph import GraphBlock, RawGraph
from streamguard.graphs.store import make_data
from streamguard.graphs.vocab import Vocab, load_vocab
from streamguard.params import GraphParams
from streamguard.progress import make_progress

__all__ = ["build_split_graphs", "graph_for_function", "load_vocab", "node_features"]


def node_features(graph: RawGraph | GraphBlock, vocab: Vocab) -> np.ndarray:
    """x of a graph's (or block's) nodes: [node type, K subtoken ids, flag bits] (int32; Data holds int64)."""
    return np.column_stack([graph.node_type, vocab.token_ids(graph), graph.flags])


def to_data(graph: RawGraph, vocab: Vocab, *, y: int = 0, weight: float = 1.0, rid: str = "") -> Data:
    return make_data(
        torch.from_numpy(node_features(graph, vocab)),
        torch.from_numpy(graph.edge_index),
        torch.from_numpy(graph.edge_type),
        y, weight, rid, graph.tier,
    )  # fmt: skip


_builders: dict[str, GraphBuilder] = {}


def graph_for_function(func: str, vocab: Vocab, graph_params: GraphParams) -> Data:
    """The graph of one function's source, for scoring new code (y=0, weight=1, rid="").

    The token columns follow the vocabulary the model was trained with, even if
    graph.subtokens_per_node has changed since.
    """
    if graph_params.subtokens_per_node != vocab.subtokens_per_node:
        graph_params = dataclasses.replace(graph_params, subtokens_per_node=vocab.subtokens_per_node)
    key = repr(graph_params)
    if key not in _builders:
        _builders[key] = GraphBuilder(graph_params)
    return to_data(_builders[key].build(func), vocab)


def build_split_graphs(
    records: dict[str, list[Record]], graph_params: GraphParams
) -> tuple[dict[str, list[GraphBlock]], list[dict]]:
    """Every split's graphs as GraphBlocks (with a progress bar), and the quarantine entries.

    A block's `positions` index its split's record list.
    """
    total = sum(len(recs) for recs in records.values())
    funcs = {split: [r.func for r in recs] for split, recs in records.items()}
    # the pool first: its workers fork before the progress display starts its thread
    with GraphPool(graph_params) as pool, make_progress() as progress:
        task = progress.add_task("graphs", total=total, info=f"{pool.workers} process(es)")
        blocks = pool.build_blocks(funcs, on_progress=lambda n: progress.advance(task, n))
    quarantine = [
        {"id": records[split][i].id, "split": split, "origin": records[split][i].origin, "reason": reason}
        for split, split_blocks in blocks.items()
        for block in split_blocks
        for i, reason in block.failures
    ]
    return blocks, quarantine
