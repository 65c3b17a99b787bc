"""The GNN branch's model: a relational GCN over typed code-graph edges.

Node input = embedding(node type) + mean of embedding(subtokens) + a linear
map of the flag bits (columns of x: streamguard/graphs/schema.py). Each edge
type is a relation of its own, read in both directions (relation t + T for the
reverse), so information also flows from a use back to its definition and
from a statement back to its predecessor. Layers are RGCNConv with a residual
connection, LayerNorm, ReLU and dropout; the graph readout concatenates mean
and max pooling and a two-layer head gives the logits [B, 2].
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn
from torch_geometric.nn import RGCNConv, global_max_pool, global_mean_pool

from streamguard.params import GNNParams


class GNNClassifier(nn.Module):
    def __init__(self, gnn_params: GNNParams, feature_sizes: dict, num_edge_types: int) -> None:
        super().__init__()
        hidden = gnn_params.hidden_size
        self.token_columns = int(feature_sizes["token_columns"])
        self.num_flags = int(feature_sizes["flags"])
        self.num_edge_types = int(num_edge_types)
        self.node_type = nn.Embedding(int(feature_sizes["node_type"]), hidden)
        self.token = nn.Embedding(int(feature_sizes["token"]), hidden, padding_idx=0)
        self.flags = nn.Linear(self.num_flags, hidden, bias=False)
        self.convs = nn.ModuleList(
            RGCNConv(hidden, hidden, num_relations=2 * self.num_edge_types, aggr="mean")
            for _ in range(gnn_params.num_layers)
        )
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(gnn_params.num_layers))
        self.dropout = nn.Dropout(gnn_params.dropout)
        self.head = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(gnn_params.dropout), nn.Linear(hidden, 2)
        )
        self.register_buffer("flag_bits", torch.arange(self.num_flags), persistent=False)

    def embed_nodes(self, x: torch.Tensor) -> torch.Tensor:
        k = self.token_columns
        tokens = x[:, 1 : 1 + k]
        present = (tokens != 0).sum(dim=1, keepdim=True).clamp_min(1)
        token_mean = self.token(tokens).sum(dim=1) / present  # padding rows embed to zero
        bits = ((x[:, 1 + k : 2 + k] >> self.flag_bits) & 1).to(token_mean.dtype)
        return self.node_type(x[:, 0]) + token_mean + self.flags(bits)

    def forward(self, batch) -> torch.Tensor:
        h = self.embed_nodes(batch.x)
        edge_index = torch.cat([batch.edge_index, batch.edge_index.flip(0)], dim=1)
        edge_type = torch.cat([batch.edge_type, batch.edge_type + self.num_edge_types])
        for conv, norm in zip(self.convs, self.norms):
            h = h + self.dropout(torch.relu(norm(conv(h, edge_index, edge_type))))
        graph_of = getattr(batch, "batch", None)
        if graph_of is None:  # a single Data, not a Batch
            graph_of = torch.zeros(h.size(0), dtype=torch.long, device=h.device)
        pooled = torch.cat([global_mean_pool(h, graph_of), global_max_pool(h, graph_of)], dim=1)
        return self.head(pooled)


def gnn_from_graph_dir(gnn_params: GNNParams, graphs_dir: Path) -> GNNClassifier:
    """A GNNClassifier sized for the graphs in `graphs_dir` (its vocab.json)."""
    from streamguard.graphs.vocab import load_vocab

    vocab = load_vocab(Path(graphs_dir))
    return GNNClassifier(gnn_params, vocab.feature_sizes(), len(vocab.edge_types))
