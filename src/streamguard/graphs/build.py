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
from tree_sitter import Query, QueryCursor

from streamguard.data.records import SPLITS, Record, read_split
from streamguard.graphs.function_graph import GraphBuilder
from streamguard.graphs.grammar import LANGUAGE, field_id, named_kinds, new_parser
from streamguard.graphs.normalise import blank_attribute_macros
from streamguard.graphs.parallel import Failure, build_raw_graphs, worker_count
from streamguard.graphs.raw_graph import RawGraph
from streamguard.graphs.schema import x_columns
from streamguard.graphs.stats import SizeLog, graph_stats
from streamguard.graphs.store import SplitGraphs, make_data, save_graph_split
from streamguard.graphs.vocab import Vocab, count_subtokens, load_vocab
from streamguard.params import GraphParams, Params
from streamguard.progress import console, make_progress

__all__ = ["run_graphs_stage", "graph_for_function", "load_vocab", "find_functions", "node_features"]

STATS_FILE = "graph_stats.json"


def node_features(graph: RawGraph, vocab: Vocab) -> np.ndarray:
    """x of a graph: [node type, K subtoken ids, flag bits] per node (int64)."""
    return np.column_stack([graph.node_type, vocab.token_ids(graph), graph.flags]).astype(np.int64, copy=False)


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


_FUNCTION_DEFINITION = Query(LANGUAGE, "(function_definition) @function")
_IDENTIFIER = named_kinds("identifier", "field_identifier", "type_identifier")
_DECLARATOR = field_id("declarator")


def find_functions(source_text: str) -> list[tuple[str, str, int]]:
    """(name, source text, 1-based start line) of every function definition in a C file."""
    original = source_text.encode("utf-8", "replace")
    # blanking keeps offsets, so nodes of the normalised parse slice the original text
    tree = new_parser().parse(blank_attribute_macros(original))
    found = QueryCursor(_FUNCTION_DEFINITION).captures(tree.root_node).get("function", [])
    out = []
    for node in sorted(found, key=lambda n: n.start_byte):
        name_node = node.child_by_field_id(_DECLARATOR)
        while name_node is not None and name_node.kind_id not in _IDENTIFIER:  # through */()/[] declarators
            inner = name_node.child_by_field_id(_DECLARATOR)
            name_node = inner if inner is not None else next(
                (c for c in name_node.named_children if c.kind_id in _IDENTIFIER), None
            )  # fmt: skip
        name = name_node.text.decode("utf-8", "replace") if name_node is not None else "<anonymous>"
        text = original[node.start_byte : node.end_byte].decode("utf-8", "replace")
        out.append((name, text, node.start_point.row + 1))
    return out


def run_graphs_stage(processed_dir: Path, out_dir: Path, params: Params) -> dict:
    """Build every split's graphs, the vocabulary and graph_stats.json; returns the stats."""
    gp = params.graph
    started = time.perf_counter()
    records = {split: read_split(processed_dir, split) for split in SPLITS}
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    funcs = [rec.func for split in SPLITS for rec in records[split]]
    with make_progress() as progress:
        task = progress.add_task("graphs", total=len(funcs), info=f"{worker_count(gp)} workers")
        built = build_raw_graphs(funcs, gp, on_progress=lambda n: progress.advance(task, n))

    raw: dict[str, list[tuple[Record, RawGraph]]] = {}
    quarantine: list[dict] = []
    position = 0
    for split in SPLITS:
        raw[split] = []
        for rec in records[split]:
            result = built[position]
            position += 1
            if isinstance(result, Failure):
                quarantine.append({"id": rec.id, "split": split, "origin": rec.origin, "reason": result.reason})
            else:
                raw[split].append((rec, result))
    del built

    counts = count_subtokens(g for _, g in raw["train"])
    vocab = Vocab.build(counts, gp.vocab_size, gp.min_token_count, gp.subtokens_per_node)
    logs = {}
    for split in SPLITS:
        graphs, log = SplitGraphs(), SizeLog()
        for rec, g in raw[split]:
            graphs.append(node_features(g, vocab), g.edge_index, g.edge_type, rec.target, rec.confidence, rec.id, g.tier)
            log.add(g)
        save_graph_split(out_dir, split, graphs, len(x_columns(gp.subtokens_per_node)))
        logs[split] = log
    vocab.save(out_dir)

    extra = {
        "vocab": {"size": len(vocab), **vocab.built_from},
        "x_columns": x_columns(gp.subtokens_per_node),
        "params": {"graph": dataclasses.asdict(gp)},
        "build_seconds": round(time.perf_counter() - started, 2),
    }
    stats = graph_stats(logs, quarantine, extra, params.gnn.hidden_size, params.gnn.num_layers,
                        params.gnn.memory_budget_mb)  # fmt: skip
    (out_dir / STATS_FILE).write_text(json.dumps(stats, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    _report(stats, out_dir)
    return stats


def _report(stats: dict, out_dir: Path) -> None:
    tiers = ", ".join(f"{name} {n}" for name, n in stats["tiers"].items())
    console.print(
        f"graphs: {stats['graphs']} in {stats['build_seconds']} s ({tiers}; full-tier rate "
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
