"""The subtoken vocabulary (train split only) and vocab.json, the graph schema file.

vocab.json is everything a model or `streamguard predict` needs to read graphs
built by this stage: subtokens by id, node types by id, edge types by id, flag
bits, the column layout of `x`, and how the vocabulary was built.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from streamguard.c.grammar import NODE_TYPES
from streamguard.errors import StreamGuardError
from streamguard.graphs.raw_graph import GraphBlock, RawGraph
from streamguard.graphs.schema import EDGE_INVERSE, EDGE_TYPES, FLAGS, RESERVED_TOKENS, TIERS, UNK_TOKEN, x_columns
from streamguard.graphs.tokens import Token

VOCAB_FILE = "vocab.json"
FORMAT = "streamguard-graph-vocab/1"


def count_subtokens(blocks: Iterable[GraphBlock]) -> Counter[str]:
    """Occurrences of every subtoken over the nodes of `blocks`."""
    counts: Counter[str] = Counter()
    for block in blocks:
        for tok, n in zip(block.tokens, block.token_counts.tolist()):
            for sub in tok:
                counts[sub] += n
    return counts


@dataclass
class Vocab:
    subtokens: list[str]  # id -> subtoken; RESERVED_TOKENS first
    subtokens_per_node: int
    built_from: dict = field(default_factory=dict)
    node_types: list[str] = field(default_factory=lambda: list(NODE_TYPES))

    def __post_init__(self) -> None:
        self._index = {s: i for i, s in enumerate(self.subtokens)}
        self._unk = self._index[UNK_TOKEN]
        self._rows: dict[Token, list[int]] = {}

    @classmethod
    def build(cls, counts: Counter[str], vocab_size: int, min_count: int, subtokens_per_node: int) -> Vocab:
        """The `vocab_size` most frequent subtokens seen at least `min_count` times (ties by name)."""
        ranked = sorted((s for s, n in counts.items() if n >= min_count and s not in RESERVED_TOKENS),
                        key=lambda s: (-counts[s], s))  # fmt: skip
        kept = ranked[: max(vocab_size - len(RESERVED_TOKENS), 0)]
        total = sum(counts.values())
        covered = sum(counts[s] for s in kept) + sum(counts[s] for s in RESERVED_TOKENS)
        built_from = {
            "split": "train",
            "distinct_subtokens": len(counts),
            "occurrences": total,
            "coverage": round(covered / total, 4) if total else 1.0,
        }
        return cls([*RESERVED_TOKENS, *kept], subtokens_per_node, built_from)

    def __len__(self) -> int:
        return len(self.subtokens)

    @property
    def edge_types(self) -> list[str]:
        return list(EDGE_TYPES)

    @property
    def edge_inverse(self) -> list[int]:
        return list(EDGE_INVERSE)

    def row(self, token: Token) -> list[int]:
        """The K ids of a node token (padded; unknown subtokens -> the shared unknown id)."""
        ids = self._rows.get(token)
        if ids is None:
            get, unk = self._index.get, self._unk
            ids = [get(s, unk) for s in token[: self.subtokens_per_node]]
            ids += [0] * (self.subtokens_per_node - len(ids))
            self._rows[token] = ids
        return ids

    def token_ids(self, graph: RawGraph | GraphBlock) -> np.ndarray:
        """[N, K] subtoken ids of the nodes of a graph or block (0 = no token)."""
        rows, row = self._rows, self.row
        table = [rows[t] if t in rows else row(t) for t in graph.tokens]
        table.append([0] * self.subtokens_per_node)
        return np.array(table, dtype=np.int32)[graph.node_token]  # -1 (no token) selects the padding row

    def feature_sizes(self) -> dict[str, int]:
        """Embedding table sizes a model needs: node types, subtokens, flag bits, token columns."""
        return {
            "node_type": len(self.node_types),
            "token": len(self.subtokens),
            "token_columns": self.subtokens_per_node,
            "flags": len(FLAGS),
        }

    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "x_columns": x_columns(self.subtokens_per_node),
            "feature_sizes": self.feature_sizes(),
            "edge_types": self.edge_types,
            "edge_inverse": list(EDGE_INVERSE),
            "flags": list(FLAGS),
            "tiers": list(TIERS),
            "subtokens_per_node": self.subtokens_per_node,
            "built_from": self.built_from,
            "node_types": self.node_types,
            "subtokens": self.subtokens,
        }

    def save(self, out_dir: Path) -> Path:
        path = Path(out_dir) / VOCAB_FILE
        path.write_text(json.dumps(self.to_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
        return path


def load_vocab(graphs_dir: Path) -> Vocab:
    """The vocabulary written by the graphs stage into `graphs_dir`, checked against this version."""
    path = Path(graphs_dir) / VOCAB_FILE
    if not path.exists():
        raise StreamGuardError(f"{path}: not found; run `dvc repro graphs` (or `streamguard graphs`) first")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise StreamGuardError(f"{path}: not valid JSON ({exc}); rebuild it with `streamguard graphs`") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise StreamGuardError(
            f"{path}: key 'format' is {data.get('format') if isinstance(data, dict) else None!r}, "
            f"expected {FORMAT!r}; rebuild it with `streamguard graphs`"
        )
    if data.get("node_types") != NODE_TYPES or data.get("edge_types") != list(EDGE_TYPES):
        raise StreamGuardError(
            f"{path}: keys 'node_types'/'edge_types' differ from this version's grammar; "
            "rebuild the graphs with `streamguard graphs`"
        )
    subtokens = data.get("subtokens")
    if not isinstance(subtokens, list) or subtokens[: len(RESERVED_TOKENS)] != list(RESERVED_TOKENS):
        raise StreamGuardError(f"{path}: key 'subtokens' must start with {list(RESERVED_TOKENS)}; rebuild it")
    return Vocab(subtokens, int(data["subtokens_per_node"]), data.get("built_from", {}), data["node_types"])
