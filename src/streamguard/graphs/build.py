"""The graphs stage, and graphs for new code (`streamguard predict`).

`run_graphs_stage` reads the processed splits, builds one graph per function
over worker processes, builds the subtoken vocabulary on the train split only,
and writes `<split>.pt` (store.py), `vocab.json` (vocab.py) and
`graph_stats.json` (stats.py). A function whose graph cannot be built is
quarantined: counted, listed in graph_stats.json with its id and reason, and
left out of the split files; it never stops the stage.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from streamguard.data.records import SPLITS, Record, read_split
from streamguard.graphs.function_graph import GraphBuilder
from streamguard.graphs.parallel import GraphPool
from streamguard.graphs.raw_graph import GraphBlock, RawGraph
from streamguard.graphs.schema import x_columns
from streamguard.graphs.stats import SizeLog, graph_stats
from streamguard.graphs.store import SplitGraphs, make_data, save_graph_split
from streamguard.graphs.vocab import Vocab, count_subtokens, load_vocab
from streamguard.params import GraphParams, Params
from streamguard.progress import console, make_progress

__all__ = ["run_graphs_stage", "graph_for_function", "load_vocab", "node_features"]

STATS_FILE = "graph_stats.json"


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


def run_graphs_stage(processed_dir: Path, out_dir: Path, params: Params) -> dict:
    """Build every split's graphs, the vocabulary and graph_stats.json; returns the stats."""
    gp = params.graph
    started = time.perf_counter()
    records = {split: read_split(processed_dir, split) for split in SPLITS}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    blocks, quarantine = build_split_graphs(records, gp)

    vocab = Vocab.build(count_subtokens(blocks["train"]), gp.vocab_size, gp.min_token_count, gp.subtokens_per_node)
    logs = {}
    for split in SPLITS:
        graphs, log = SplitGraphs(), SizeLog()
        recs = records[split]
        for block in blocks.pop(split):  # pop: each split's blocks are freed once stored
            owners = [recs[i] for i in block.positions]
            graphs.append(node_features(block, vocab), block, [r.target for r in owners],
                          [r.confidence for r in owners], [r.id for r in owners])  # fmt: skip
            log.add(block)
        save_graph_split(out_dir, split, graphs, len(x_columns(gp.subtokens_per_node)))
        logs[split] = log
    vocab.save(out_dir)

    extra = {
        "vocab": {"size": len(vocab), **vocab.built_from},
        "x_columns": x_columns(gp.subtokens_per_node),
        "params": {"graph": dataclasses.asdict(gp)},
    }
    stats = graph_stats(logs, quarantine, extra, params.gnn.hidden_size, params.gnn.num_layers,
                        params.gnn.memory_budget_mb)  # fmt: skip
    (out_dir / STATS_FILE).write_text(json.dumps(stats, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    _report(stats, out_dir, time.perf_counter() - started)  # the time is printed, not stored: outputs stay reproducible
    return stats


def _report(stats: dict, out_dir: Path, seconds: float) -> None:
    tiers = ", ".join(f"{name} {n}" for name, n in stats["tiers"].items())
    console.print(
        f"graphs: {stats['graphs']} in {seconds:.1f} s ({tiers}; full-tier rate "
        f"{stats['full_tier_rate']:.1%}); vocabulary {stats['vocab']['size']} subtokens "
        f"covering {stats['vocab']['coverage']:.1%} of train; GNN batch size for "
        f"{stats['memory_budget_mb']} MB: {stats['recommended_gnn_batch_size']} -> {out_dir}",
        highlight=False,
    )
    if stats["quarantined"]:
        console.print(
            f"[bold yellow]{stats['quarantined']} function(s) quarantined[/] (no graph; listed under "
            f"'quarantine' in {out_dir / STATS_FILE}), e.g. {stats['quarantine'][0]}",
            highlight=False,
        )
