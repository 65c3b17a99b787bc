"""graph_stats.json: tier counts, size distributions, quarantine, GNN batch size.

The recommended batch size comes from a linear memory model of one training
step of models/gnn.py: float32 values kept per hidden unit, per node (some per
layer) and per message (per layer; a message is a stored edge, or the reverse
the model adds for a non-AST edge). The constants were fitted to the peak
memory of a fresh process's forward+backward+AdamW step on the 64 largest
Devign graphs (38,400 nodes, 107,891 edges, ~139,000 messages; measured
836 MB at hidden 128 and 3 layers, 1,582 MB at 6 layers, 1,561 MB at hidden
256) and rounded up by about a third for allocator slack. The batch is sized
for large graphs (the train split's p90 node and edge counts) and rounded down
to a power of two.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from streamguard.graphs.raw_graph import GraphBlock
from streamguard.graphs.schema import EDGE_TYPES, TIERS

# float32 values kept per hidden unit (see the module doc)
NODE_FLOATS_PER_LAYER, NODE_FLOATS_FIXED = 7.5, 6.0  # layer outputs, norms, masks; embeddings, readout
MESSAGE_FLOATS_PER_LAYER = 2.5  # gathered source states and transformed messages
MAX_RECOMMENDED_BATCH = 1024


@dataclass
class SizeLog:
    """Per-graph sizes of one split, collected block by block."""

    tier: list[int] = field(default_factory=list)
    nodes: list[int] = field(default_factory=list)
    edges: list[np.ndarray] = field(default_factory=list)  # [len(EDGE_TYPES)] counts each
    truncated: list[bool] = field(default_factory=list)

    def add(self, block: GraphBlock) -> None:
        n_graphs, n_types = len(block), len(EDGE_TYPES)
        self.tier.extend(TIERS.index(t) for t in block.tier)
        self.nodes.extend(np.diff(block.node_ptr).tolist())
        graph_of_edge = np.repeat(np.arange(n_graphs), np.diff(block.edge_ptr))
        per_type = np.bincount(graph_of_edge * n_types + block.edge_type, minlength=n_graphs * n_types)
        self.edges.extend(per_type.reshape(n_graphs, n_types))
        self.truncated.extend(block.truncated.tolist())


def _distribution(values: np.ndarray) -> dict:
    if values.size == 0:
        return {"mean": 0.0, "p50": 0, "p90": 0, "p99": 0, "max": 0}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {"mean": round(float(values.mean()), 2), "p50": float(p50), "p90": float(p90),
            "p99": float(p99), "max": int(values.max())}  # fmt: skip


def summarise(log: SizeLog) -> dict:
    tiers = np.asarray(log.tier, dtype=np.int64)
    nodes = np.asarray(log.nodes, dtype=np.int64)
    per_type = np.stack(log.edges) if log.edges else np.zeros((0, len(EDGE_TYPES)), dtype=np.int64)
    edges = per_type.sum(axis=1)
    by_tier = {}
    for t, name in enumerate(TIERS):
        mask = tiers == t
        by_tier[name] = {
            "graphs": int(mask.sum()),
            "nodes": _distribution(nodes[mask]),
            "edges": _distribution(edges[mask]),
            "edges_per_type_mean": _per_type_mean(per_type[mask]),
        }
    return {
        "graphs": int(nodes.size),
        "tiers": {name: by_tier[name]["graphs"] for name in TIERS},
        "truncated": int(np.count_nonzero(log.truncated)),
        "nodes": _distribution(nodes),
        "edges": _distribution(edges),
        "edges_per_type_mean": _per_type_mean(per_type),
        "by_tier": by_tier,
    }


def _per_type_mean(per_type: np.ndarray) -> dict[str, float]:
    means = per_type.mean(axis=0) if per_type.size else np.zeros(len(EDGE_TYPES))
    return {name: round(float(m), 2) for name, m in zip(EDGE_TYPES, means)}


def memory_model(hidden_size: int, num_layers: int) -> dict:
    return {
        "hidden_size": hidden_size,
        "num_layers": num_layers,
        "bytes_per_node": int(4 * hidden_size * (NODE_FLOATS_PER_LAYER * num_layers + NODE_FLOATS_FIXED)),
        "bytes_per_message": int(4 * hidden_size * MESSAGE_FLOATS_PER_LAYER * num_layers),
    }


def recommended_batch_size(
    stats: dict, memory_budget_mb: int, hidden_size: int | None = None, num_layers: int | None = None
) -> int:
    """Graphs per GNN batch that fit `memory_budget_mb` (power of two, 1..MAX_RECOMMENDED_BATCH).

    Uses the memory model stored in `stats` (the gnn params at graphs time)
    unless `hidden_size`/`num_layers` are given.
    """
    stored = stats.get("memory_model", {})
    model = memory_model(hidden_size or stored.get("hidden_size", 128), num_layers or stored.get("num_layers", 3))
    sizes = stats.get("splits", {}).get("train") or {}
    nodes = float(sizes.get("nodes", {}).get("p90") or 1)
    edges = float(sizes.get("edges", {}).get("p90") or 0)
    # messages: every stored edge, plus the reverse of each non-AST one (2 (nodes - 1) AST edges per graph)
    messages = max(2 * edges - 2 * (nodes - 1), edges)
    per_graph = nodes * model["bytes_per_node"] + messages * model["bytes_per_message"]
    fit = int(memory_budget_mb * 2**20 // max(per_graph, 1))
    if fit < 1:
        return 1
    return min(1 << (fit.bit_length() - 1), MAX_RECOMMENDED_BATCH)


def graph_stats(logs: dict[str, SizeLog], quarantine: list[dict], extra: dict,
                hidden_size: int, num_layers: int, memory_budget_mb: int) -> dict:  # fmt: skip
    """The whole graph_stats.json; `extra` (vocabulary, params, ...) is merged in as is."""
    splits = {split: summarise(log) for split, log in logs.items()}
    tiers = {name: sum(s["tiers"][name] for s in splits.values()) for name in TIERS}
    total = sum(tiers.values())
    stats = {
        "graphs": total,
        "tiers": tiers,
        "full_tier_rate": round(tiers["full"] / total, 4) if total else 0.0,
        "quarantined": len(quarantine),
        "quarantine": quarantine,
        "splits": splits,
        "edge_types": list(EDGE_TYPES),
        **extra,
        "memory_model": memory_model(hidden_size, num_layers),
        "memory_budget_mb": memory_budget_mb,
    }
    stats["recommended_gnn_batch_size"] = recommended_batch_size(stats, memory_budget_mb)
    return stats
