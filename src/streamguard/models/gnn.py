"""The GNN branch's model: a relational GCN over typed code-graph edges.

Node input = embedding(node type) + mean of embedding(subtokens) + a linear
map of the flag bits (columns of x: streamguard/graphs/schema.py). Each edge
type is a relation of its own, and is also read backwards as a further
relation, so information also flows from a use back to its definition and
from a statement back to its predecessor (the AST's two stored directions are
already each other's reverse and are not doubled).

Layers are R-GCN (Schlichtkrull et al. 2018): h_i' = W_0 h_i + sum_r mean over
i's r-neighbours j of W_r h_j, the same function as torch_geometric's
RGCNConv(aggr="mean") but computed with one gather, one matmul per relation
and one scatter (edges are grouped by relation once per batch, not once per
layer and relation), which is several times faster on CPU. Each layer adds a
residual connection, LayerNorm, ReLU and dropout; the readout concatenates
mean and max pooling and a two-layer head gives the logits [B, 2].
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torch_geometric.nn import global_max_pool, global_mean_pool

from streamguard.graphs.schema import RESERVED_TOKENS
from streamguard.models.config import ModelConfig


@dataclass(frozen=True)
class GNNConfig(ModelConfig):
    hidden_size: int  # node states, subtoken and node-type embeddings
    num_layers: int  # relational convolutions
    dropout: float


@dataclass
class RelationEdges:
    """A batch's edges split by relation, with R-GCN's per-(node, relation) mean weights."""

    parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]  # per relation: src [E_r], dst [E_r], norm [E_r, 1]

    @classmethod
    def build(cls, edge_index: torch.Tensor, relation: torch.Tensor, num_nodes: int, num_relations: int):
        order = torch.argsort(relation, stable=True)
        src, dst, relation = edge_index[0, order], edge_index[1, order], relation[order]
        sizes = torch.bincount(relation, minlength=num_relations).tolist()
        key = dst * num_relations + relation
        count = torch.bincount(key, minlength=num_nodes * num_relations)
        norm = (1.0 / count[key].float()).unsqueeze(1)
        return cls(list(zip(src.split(sizes), dst.split(sizes), norm.split(sizes))))


class RelationalConv(nn.Module):
    """One R-GCN layer with mean aggregation per relation (see the module doc)."""

    def __init__(self, hidden: int, num_relations: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(num_relations, hidden, hidden))
        self.root = nn.Linear(hidden, hidden)
        bound = math.sqrt(6.0 / (2 * hidden))  # Glorot, as RGCNConv
        nn.init.uniform_(self.weight, -bound, bound)

    @property
    def num_relations(self) -> int:
        return self.weight.shape[0]

    def forward(self, h: torch.Tensor, edges: RelationEdges) -> torch.Tensor:
        out = self.root(h)
        pooled = torch.zeros_like(out)
        for r, (src, dst, norm) in enumerate(edges.parts):
            if src.numel():  # accumulate in place: no [E, H] concatenation of all messages
                pooled.index_add_(0, dst, ((h[src] @ self.weight[r]) * norm).to(pooled.dtype))
        return out + pooled


class GNNClassifier(nn.Module):
    """Graphs in, logits [B, 2] out. `inverse_of[t]` is the edge type whose edges are type t's
    reversed (-1 if none is stored): such types are not reversed again. Default: reverse all."""

    # buffers registered in __init__ (declared so type checkers see tensors, not Module attributes)
    reverse_relation: torch.Tensor
    flag_bits: torch.Tensor

    def __init__(
        self, config: GNNConfig, feature_sizes: dict, num_edge_types: int, inverse_of: Sequence[int] | None = None
    ) -> None:
        super().__init__()
        hidden = config.hidden_size
        self.token_columns = int(feature_sizes["token_columns"])
        self.num_flags = int(feature_sizes["flags"])
        self.num_edge_types = int(num_edge_types)
        inverse_of = list(inverse_of) if inverse_of is not None else [-1] * self.num_edge_types
        if len(inverse_of) != self.num_edge_types:
            raise ValueError(f"inverse_of has {len(inverse_of)} entries for {self.num_edge_types} edge types")
        reversed_types = [t for t in range(self.num_edge_types) if inverse_of[t] < 0]
        # relation of the reverse of type t = num_edge_types + its position among reversed types
        reverse_relation = torch.full((self.num_edge_types,), -1, dtype=torch.long)
        reverse_relation[reversed_types] = torch.arange(len(reversed_types)) + self.num_edge_types
        self.register_buffer("reverse_relation", reverse_relation, persistent=False)
        self.num_relations = self.num_edge_types + len(reversed_types)
        self.node_type = nn.Embedding(int(feature_sizes["node_type"]), hidden)
        self.token = nn.Embedding(int(feature_sizes["token"]), hidden, padding_idx=0)
        self.flags = nn.Linear(self.num_flags, hidden, bias=False)
        self.convs = nn.ModuleList(RelationalConv(hidden, self.num_relations) for _ in range(config.num_layers))
        self.norms = nn.ModuleList(nn.LayerNorm(hidden) for _ in range(config.num_layers))
        self.dropout = nn.Dropout(config.dropout)
        self.head = nn.Sequential(
            nn.Linear(2 * hidden, hidden), nn.ReLU(), nn.Dropout(config.dropout), nn.Linear(hidden, 2)
        )
        self.register_buffer("flag_bits", torch.arange(self.num_flags), persistent=False)

    def embed_nodes(self, x: torch.Tensor) -> torch.Tensor:
        k = self.token_columns
        tokens = x[:, 1 : 1 + k]
        present = (tokens != 0).sum(dim=1, keepdim=True).clamp_min(1)
        token_mean = self.token(tokens).sum(dim=1) / present  # the padding id embeds to zero
        bits = ((x[:, 1 + k : 2 + k] >> self.flag_bits) & 1).to(token_mean.dtype)
        return self.node_type(x[:, 0]) + token_mean + self.flags(bits)

    def forward(self, batch) -> torch.Tensor:
        h = self.embed_nodes(batch.x)
        backwards = self.reverse_relation[batch.edge_type]
        keep = backwards >= 0
        edges = RelationEdges.build(
            torch.cat([batch.edge_index, batch.edge_index[:, keep].flip(0)], dim=1),
            torch.cat([batch.edge_type, backwards[keep]]),
            h.size(0),
            self.num_relations,
        )
        for conv, norm in zip(self.convs, self.norms):
            h = h + self.dropout(torch.relu(norm(conv(h, edges))))
        graph_of = getattr(batch, "batch", None)
        if graph_of is None:  # a single Data, not a Batch
            graph_of = torch.zeros(h.size(0), dtype=torch.long, device=h.device)
        pooled = torch.cat([global_mean_pool(h, graph_of), global_max_pool(h, graph_of)], dim=1)
        return self.head(pooled)


def init_token_embeddings(model: GNNClassifier, subtokens: Sequence[str], tokenizer, embeddings: torch.Tensor) -> int:
    """Start each subtoken's row at its pretrained embedding; returns how many rows were set.

    A GNN subtoken ("len", "buf") is read by the pretrained byte-level BPE both as a word of its
    own (" len") and inside an identifier ("len"); its vector is the mean over both forms of the
    mean embedding of their BPE pieces. Reserved tokens (padding, unknown, literal kinds) keep
    their own initialisation. The rows are rescaled to unit standard deviation, the scale of the
    node-type embedding they are added to, so the pretrained geometry is kept but not drowned out.
    """
    table = model.token.weight
    learned = [(row, sub) for row, sub in enumerate(subtokens) if sub not in RESERVED_TOKENS]
    # one tokenizer call for every form: ids[2k] is subtoken k as part of a word, ids[2k + 1] as a word
    ids = tokenizer([form for _, sub in learned for form in (sub, " " + sub)], add_special_tokens=False)["input_ids"]
    rows, vectors = [], []
    for k, (row, _) in enumerate(learned):
        forms = [pieces for pieces in ids[2 * k : 2 * k + 2] if pieces]
        if forms:
            rows.append(row)
            vectors.append(torch.stack([embeddings[pieces].mean(dim=0) for pieces in forms]).mean(dim=0))
    if not rows:
        return 0
    stacked = torch.stack(vectors)
    with torch.no_grad():
        table[rows] = (stacked / stacked.std().clamp_min(1e-8)).to(table.dtype)
    return len(rows)


def gnn_from_graph_dir(config: GNNConfig, graphs_dir: Path) -> GNNClassifier:
    """A GNNClassifier sized for the graphs in `graphs_dir` (its vocab.json)."""
    from streamguard.graphs.vocab import load_vocab

    vocab = load_vocab(Path(graphs_dir))
    return GNNClassifier(config, vocab.feature_sizes(), len(vocab.edge_types), vocab.edge_inverse)
