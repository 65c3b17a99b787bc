"""Per-split graph files: `<split>.pt`, one collated dict of tensors per split.

A split's graphs are stored concatenated (node features, local edge indices,
edge types) with `node_ptr`/`edge_ptr` offsets, in the smallest integer dtype
that holds the values, plus per-graph target, weight, tier and record id.
The file holds only tensors, lists, strings and numbers, so it loads with
`torch.load(weights_only=True)` (no arbitrary unpickling) in seconds for the
full corpus.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch_geometric.data import Data

from streamguard.errors import StreamGuardError
from streamguard.graphs.raw_graph import GraphBlock
from streamguard.graphs.schema import TIERS

FORMAT = "streamguard-graphs/1"


def split_path(out_dir: Path, split: str) -> Path:
    return Path(out_dir) / f"{split}.pt"


def make_data(
    x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor, y: int, weight: float, rid: str, tier: str
) -> Data:
    """The one Data layout every consumer sees (see schema.py for the columns of x)."""
    return Data(
        x=x.long(),
        edge_index=edge_index.long(),
        edge_type=edge_type.long(),
        y=torch.tensor([y], dtype=torch.long),
        weight=torch.tensor([weight], dtype=torch.float32),
        rid=rid,
        tier=tier,
    )


@dataclass
class SplitGraphs:
    """A split's graphs, appended a block at a time (node features already computed), saved at once."""

    x: list[np.ndarray] = field(default_factory=list)  # [N, F] per block
    blocks: list[GraphBlock] = field(default_factory=list)
    y: list[int] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    rid: list[str] = field(default_factory=list)

    def append(self, x: np.ndarray, block: GraphBlock, y: list[int], weight: list[float], rid: list[str]) -> None:
        """Add a block; y/weight/rid are per graph, in the block's order."""
        if not len(y) == len(weight) == len(rid) == len(block):
            raise ValueError(f"block of {len(block)} graphs given {len(y)}/{len(weight)}/{len(rid)} y/weight/rid")
        self.x.append(x)
        self.blocks.append(block)
        self.y.extend(y)
        self.weight.extend(weight)
        self.rid.extend(rid)

    def __len__(self) -> int:
        return len(self.rid)


def _smallest_int(values: np.ndarray) -> torch.Tensor:
    small = values.size == 0 or (values.min() >= -(2**15) and values.max() < 2**15)
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.int16 if small else np.int32))


def _joined_offsets(ptrs: list[np.ndarray]) -> torch.Tensor:
    """Per-block offset arrays ([0, ..., total]) joined into one for the whole split."""
    out, base = [np.zeros(1, dtype=np.int64)], 0
    for ptr in ptrs:
        out.append(ptr[1:] + base)
        base += int(ptr[-1])
    return torch.from_numpy(np.concatenate(out))


def save_graph_split(out_dir: Path, split: str, graphs: SplitGraphs, n_features: int) -> Path:
    path = split_path(out_dir, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks = graphs.blocks
    x = np.concatenate(graphs.x) if blocks else np.zeros((0, n_features), dtype=np.int32)
    edge_index = np.concatenate([b.edge_index for b in blocks], axis=1) if blocks else np.zeros((2, 0), np.int32)
    edge_type = np.concatenate([b.edge_type for b in blocks]) if blocks else np.zeros(0, dtype=np.uint8)
    payload = {
        "format": FORMAT,
        "x": _smallest_int(x),
        "edge_index": _smallest_int(edge_index),
        "edge_type": torch.from_numpy(edge_type.astype(np.uint8)),
        "node_ptr": _joined_offsets([b.node_ptr for b in blocks]),
        "edge_ptr": _joined_offsets([b.edge_ptr for b in blocks]),
        "y": torch.tensor(graphs.y, dtype=torch.long),
        "weight": torch.tensor(graphs.weight, dtype=torch.float32),
        "tier": torch.tensor([TIERS.index(t) for b in blocks for t in b.tier], dtype=torch.int8),
        "tiers": list(TIERS),
        "rid": list(graphs.rid),
    }
    torch.save(payload, path)
    return path


def load_graph_split(out_dir: Path, split: str) -> list[Data]:
    """The graphs of one split, as torch_geometric Data (see make_data)."""
    path = split_path(out_dir, split)
    if not path.exists():
        raise StreamGuardError(f"{path}: not found; run `dvc repro graphs` (or `streamguard graphs`) first")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # corrupt or foreign file: say which and what to do
        raise StreamGuardError(
            f"{path}: cannot be read as a graph split ({exc}); rebuild with `streamguard graphs`"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise StreamGuardError(f"{path}: key 'format' is not {FORMAT!r}; rebuild with `streamguard graphs`")
    x, edge_index, edge_type = payload["x"].long(), payload["edge_index"].long(), payload["edge_type"].long()
    node_ptr, edge_ptr = payload["node_ptr"].tolist(), payload["edge_ptr"].tolist()
    ys, weights, tiers = payload["y"].tolist(), payload["weight"].tolist(), payload["tier"].tolist()
    names, rids = payload["tiers"], payload["rid"]
    out = []
    for i, rid in enumerate(rids):
        a, b, c, d = node_ptr[i], node_ptr[i + 1], edge_ptr[i], edge_ptr[i + 1]
        # clones: a Data must not keep the whole split's tensors alive
        out.append(make_data(x[a:b].clone(), edge_index[:, c:d].clone(), edge_type[c:d].clone(),
                             ys[i], weights[i], rid, names[tiers[i]]))  # fmt: skip
    return out
