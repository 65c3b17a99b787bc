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
    """A split's graphs as columns, appended one graph at a time, saved at once."""

    x: list[np.ndarray] = field(default_factory=list)  # [N, F] each
    edge_index: list[np.ndarray] = field(default_factory=list)  # [2, E] each, local node indices
    edge_type: list[np.ndarray] = field(default_factory=list)  # [E] each
    y: list[int] = field(default_factory=list)
    weight: list[float] = field(default_factory=list)
    rid: list[str] = field(default_factory=list)
    tier: list[str] = field(default_factory=list)

    def append(self, x: np.ndarray, edge_index: np.ndarray, edge_type: np.ndarray,
               y: int, weight: float, rid: str, tier: str) -> None:  # fmt: skip
        self.x.append(x)
        self.edge_index.append(edge_index)
        self.edge_type.append(edge_type)
        self.y.append(y)
        self.weight.append(weight)
        self.rid.append(rid)
        self.tier.append(tier)

    def __len__(self) -> int:
        return len(self.rid)


def _smallest_int(values: np.ndarray) -> torch.Tensor:
    small = values.size == 0 or (values.min() >= -(2**15) and values.max() < 2**15)
    return torch.from_numpy(np.ascontiguousarray(values, dtype=np.int16 if small else np.int32))


def _offsets(sizes: list[int]) -> torch.Tensor:
    return torch.from_numpy(np.concatenate([[0], np.cumsum(sizes, dtype=np.int64)]))


def save_graph_split(out_dir: Path, split: str, graphs: SplitGraphs, n_features: int) -> Path:
    path = split_path(out_dir, split)
    path.parent.mkdir(parents=True, exist_ok=True)
    x = np.concatenate(graphs.x) if graphs.x else np.zeros((0, n_features), dtype=np.int64)
    edge_index = np.concatenate(graphs.edge_index, axis=1) if graphs.x else np.zeros((2, 0), dtype=np.int64)
    edge_type = np.concatenate(graphs.edge_type) if graphs.x else np.zeros(0, dtype=np.uint8)
    payload = {
        "format": FORMAT,
        "x": _smallest_int(x),
        "edge_index": _smallest_int(edge_index),
        "edge_type": torch.from_numpy(edge_type.astype(np.uint8)),
        "node_ptr": _offsets([len(a) for a in graphs.x]),
        "edge_ptr": _offsets([a.shape[1] for a in graphs.edge_index]),
        "y": torch.tensor(graphs.y, dtype=torch.long),
        "weight": torch.tensor(graphs.weight, dtype=torch.float32),
        "tier": torch.tensor([TIERS.index(t) for t in graphs.tier], dtype=torch.int8),
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
        raise StreamGuardError(f"{path}: cannot be read as a graph split ({exc}); rebuild with `streamguard graphs`")
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
