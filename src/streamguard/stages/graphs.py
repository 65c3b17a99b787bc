"""The `graphs` stage: one code graph per processed function -> `<split>.pt`, vocab.json, graph_stats.json.

Graphs are built over worker processes (graphs/build.py); the subtoken
vocabulary is built on the train split only. A function whose graph cannot be
built is quarantined: counted, listed in graph_stats.json with its id and
reason, and left out of the split files; it never stops the stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from streamguard.data.records import SPLITS, read_split
from streamguard.graphs.build import build_split_graphs, node_features
from streamguard.graphs.schema import x_columns
from streamguard.graphs.stats import SizeLog, graph_stats
from streamguard.graphs.store import SplitGraphs, save_graph_split
from streamguard.graphs.vocab import Vocab, count_subtokens
from streamguard.params import Params, load_params
from streamguard.progress import console

STATS_FILE = "graph_stats.json"


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


def main(args: argparse.Namespace) -> None:
    run_graphs_stage(Path(args.processed), Path(args.out), load_params(args.params))
