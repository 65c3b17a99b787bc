"""The base models (models/registry.BASE_MODELS) behind one interface: a trained model from its folder, predicting.

A branch predicts on items: Records (lexical, transformer) or PyG graphs (gnn).
`load_branch` loads one trained member from its folder, as `predict` and `scan`
do. Training adds `fit` to each class here (streamguard.training.branches), so a
model trains and scores through the same encoding, batching and device choice.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from streamguard.data.records import Record
from streamguard.errors import StreamGuardError
from streamguard.io.run_info import read_run_info
from streamguard.models.registry import BASE_MODELS
from streamguard.params import Params

_C = TypeVar("_C")


class Branch:
    name: str

    def __init__(
        self, params: Params, processed_dir: Path, graphs_dir: Path, pretrained_dir: Path | None = None
    ) -> None:
        self.params = params
        self.processed_dir = processed_dir
        self.graphs_dir = graphs_dir
        self.pretrained_dir = pretrained_dir  # the pretrain stage's output folder, when a params key asks for it

    def predict(self, items: Sequence[Any]) -> np.ndarray:
        raise NotImplementedError

    @classmethod
    def load(cls, params: Params, out_dir: Path, graphs_dir: Path) -> Branch:
        """A trained branch from its folder (one ensemble member), ready to predict."""
        raise NotImplementedError


class LexicalBranch(Branch):
    name = "lexical"
    model: Any  # a LexicalModel, set by load (or fit)

    def predict(self, items):
        return self.model.predict_proba([r.func for r in items])

    @classmethod
    def load(cls, params: Params, out_dir: Path, graphs_dir: Path) -> LexicalBranch:
        from streamguard.models.lexical import LexicalModel

        branch = cls(params, Path(), Path())
        branch.model = LexicalModel.load(out_dir)
        return branch


class TransformerBranch(Branch):
    name = "transformer"
    # a run_info.json without window settings means one window, trimmed around dangerous calls
    max_windows = 1
    window_pooling = "max"
    # set by load (or fit)
    tokenizer: Any
    model: Any
    max_length: int

    def _encode(self, items: Sequence[Record]) -> list[Any]:
        """Model features per record: token ids (one window) or a list of windows."""
        from streamguard.models.transformer import encode_many_windows

        encoded = encode_many_windows(
            self.tokenizer,
            [r.func for r in items],
            self.max_length,
            self.max_windows,
            [f"record {r.id}" for r in items],
        )
        self.trim_counts = dict(Counter(e.how for e in encoded))
        self.window_counts = dict(Counter(len(e.windows) for e in encoded))
        if self.max_windows == 1:
            return [e.windows[0] for e in encoded]
        return [e.windows for e in encoded]

    def _task_fns(self):
        from functools import partial

        from streamguard.models import transformer as tf

        if self.max_windows == 1:  # one window per function: plain token-id batches
            return partial(tf.collate_token_ids, pad_id=self.tokenizer.pad_token_id), tf.forward_tokens
        tf.check_windowed(self.model)
        return (
            partial(tf.collate_windows, pad_id=self.tokenizer.pad_token_id),
            partial(tf.forward_windows, pooling=self.window_pooling),
        )

    def predict(self, items):
        from streamguard.models.inference import predict_probs, select_device

        collate, forward = self._task_fns()
        device = select_device(self.params.transformer.device)
        self.model.to(device)
        return predict_probs(
            self.model, self._encode(items), collate, forward, device, self.params.transformer.batch_size
        )

    @classmethod
    def load(cls, params: Params, out_dir: Path, graphs_dir: Path) -> TransformerBranch:
        from streamguard.models import transformer as tf

        branch = cls(params, Path(), Path())
        branch.tokenizer, branch.model = tf.load(out_dir)
        # the window settings the model was trained with (run_info.json), whatever params.yaml says
        info = read_run_info(out_dir)
        branch.max_length = info["max_length"]
        branch.max_windows = info.get("max_windows", cls.max_windows)
        branch.window_pooling = info.get("window_pooling", cls.window_pooling)
        return branch


class GNNBranch(Branch):
    name = "gnn"
    model: Any  # set by load (or fit)

    def batch_size(self) -> int:
        bs = self.params.gnn.batch_size
        if bs != "auto":
            return int(bs)
        from streamguard.graphs.stats import recommended_batch_size

        stats = json.loads((self.graphs_dir / "graph_stats.json").read_text())
        cfg = self.params.gnn
        return recommended_batch_size(
            stats, cfg.memory_budget_mb, hidden_size=cfg.hidden_size, num_layers=cfg.num_layers
        )

    @staticmethod
    def _collate(items):
        from torch_geometric.data import Batch

        return Batch.from_data_list(items)

    @staticmethod
    def _forward(model, batch, device):
        return model(batch.to(device))

    def predict(self, items):
        from streamguard.models.inference import predict_probs, select_device

        device = select_device(self.params.gnn.device)
        self.model.to(device)
        return predict_probs(self.model, items, self._collate, self._forward, device, self.batch_size())

    @classmethod
    def load(cls, params: Params, out_dir: Path, graphs_dir: Path) -> GNNBranch:
        import torch

        from streamguard.models.gnn import GNNConfig, gnn_from_graph_dir

        branch = cls(params, Path(), graphs_dir)
        branch.model = gnn_from_graph_dir(GNNConfig.of(params.gnn), graphs_dir)
        branch.model.load_state_dict(torch.load(out_dir / "model.pt", map_location="cpu", weights_only=True))
        return branch


# one class per name in BASE_MODELS (tests/models/test_registry.py checks they agree)
BRANCH_CLASSES: dict[str, type[Branch]] = {cls.name: cls for cls in (LexicalBranch, TransformerBranch, GNNBranch)}


def branch_class(name: str, classes: Mapping[str, _C]) -> _C:
    """The class of a base model by name in `classes`; an unknown name is an error listing the registry's names."""
    if name not in classes:
        raise StreamGuardError(f"unknown model '{name}'; choose one of {', '.join(BASE_MODELS)}")
    return classes[name]


def load_branch(name: str, params: Params, model_dir: Path, graphs_dir: Path) -> Branch:
    """A trained branch from its folder (one ensemble member), ready to predict."""
    return branch_class(name, BRANCH_CLASSES).load(params, model_dir, graphs_dir)
