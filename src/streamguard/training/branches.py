"""Training the base models (models/registry.BASE_MODELS): load a split's items, fit, save.

Each class here adds `fit` to its trained counterpart in `streamguard.models.branches`
(loading and predicting), so a branch trains and scores through the same code.
An item is whatever a branch trains on — a Record (lexical, transformer) or a
PyG graph (gnn) — and always exposes an id, a target and a confidence through
`item_id`, `item_target`, `item_confidence`. The neural branches hand a
`TrainingTask` to the shared loop in `streamguard.training.loop`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streamguard.data.records import Record, read_split
from streamguard.errors import StreamGuardError
from streamguard.io.hashing import sha256_file
from streamguard.models import branches
from streamguard.params import Params

if TYPE_CHECKING:  # the loop imports torch and transformers; the lexical branch never needs them
    from streamguard.training.loop import TrainingResult


def item_id(item: Any) -> str:
    return item.id if isinstance(item, Record) else item.rid


def item_target(item: Any) -> int:
    return item.target if isinstance(item, Record) else int(item.y.view(-1)[0])


def item_confidence(item: Any) -> float:
    return item.confidence if isinstance(item, Record) else float(item.weight.view(-1)[0])


class Branch(branches.Branch):
    """A branch that trains; only what training adds (loading and predicting: streamguard.models.branches)."""

    def load_items(self, split: str) -> list[Any]:
        return read_split(self.processed_dir, split)

    def data_sha256(self) -> dict[str, str]:
        return {p.name: sha256_file(p) for p in sorted(self.processed_dir.glob("*.jsonl"))}

    def fit(
        self,
        train_items: Sequence[Any],
        valid_items: Sequence[Any],
        out_dir: Path,
        checkpoint_dir: Path,
        seed: int,
        stop_after_steps: int | None = None,
    ) -> dict:
        """Train and save; neural branches stop (TrainingInterrupted) after `stop_after_steps` if given."""
        raise NotImplementedError

    def params_used(self) -> dict:
        return self.params.section(self.name)


class LexicalBranch(Branch, branches.LexicalBranch):
    def fit(self, train_items, valid_items, out_dir, checkpoint_dir, seed, stop_after_steps=None):
        from streamguard.models.lexical import LexicalConfig, LexicalModel
        from streamguard.training.weights import sample_weights

        labels = [r.target for r in train_items]
        weights = sample_weights(labels, [r.confidence for r in train_items])
        self.model = LexicalModel(LexicalConfig.of(self.params.lexical), seed).fit(
            [r.func for r in train_items], labels, weights
        )
        self.model.save(out_dir)
        return {"vocabulary_size": len(self.model.vectorizer.vocabulary_)}


class TransformerBranch(Branch, branches.TransformerBranch):
    def _pair_aware_task(self, cfg, train_items, train_ids, valid_ids) -> dict:
        """TrainingTask fields for pair-aware training: groups of [vulnerable, fixed] share a batch."""
        from functools import partial

        from streamguard.training import pair_loss as pl
        from streamguard.training.weights import sample_weights

        targets = [r.target for r in train_items]
        weights = sample_weights(targets, [r.confidence for r in train_items])
        groups = pl.pair_groups([r.pair for r in train_items], targets)
        members = [pl.Member(f, t, float(w)) for f, t, w in zip(train_ids, targets, weights)]
        collate, forward = self._task_fns()
        self.train_pairs = sum(len(g) == 2 for g in groups)

        def forward_batch(model, batch, device):
            return forward(model, batch.inputs, device)

        def loss_fn(model, batch, device):
            return pl.pair_aware_loss(
                forward_batch(model, batch, device),
                batch,
                cfg.weighting == "loss",
                cfg.pair_loss_weight,
                cfg.pair_margin,
            )

        return {
            "train_items": [[members[i] for i in g] for g in groups],
            "valid_items": [[pl.Member(f, 0)] for f in valid_ids],
            "collate": partial(pl.collate_groups, collate=collate),
            "forward": forward_batch,
            "loss_fn": loss_fn,
        }

    def fit(self, train_items, valid_items, out_dir, checkpoint_dir, seed, stop_after_steps=None):
        from streamguard.models import transformer as tf
        from streamguard.training.loop import TrainingTask, seed_everything, train

        cfg = self.params.transformer
        seed_everything(seed)
        pretrained = cfg.model_name_or_path
        if cfg.init == "pretrain":  # the pretrain stage's model, through the same from_pretrained path
            from streamguard.models.mlm import pretrained_folder

            pretrained = str(pretrained_folder(self.pretrained_dir, wanted_by="transformer.init"))
        if pretrained:
            self.tokenizer, self.model = tf.load_pretrained(pretrained)
            self.max_length = min(cfg.max_length, self.model.config.max_position_embeddings - 2)
        else:
            self.tokenizer = tf.train_tokenizer([r.func for r in train_items], cfg.vocab_size, cfg.max_length)
            self.model = tf.build_model(tf.TransformerConfig.of(cfg), self.tokenizer)
            self.max_length = cfg.max_length
        self.max_windows, self.window_pooling = cfg.max_windows, cfg.window_pooling
        train_ids = self._encode(train_items)
        train_trim, train_windows = self.trim_counts, self.window_counts
        valid_ids = self._encode(valid_items)
        collate, forward = self._task_fns()
        task_items = {"train_items": train_ids, "valid_items": valid_ids, "collate": collate, "forward": forward}
        self.train_pairs = 0
        if cfg.pair_loss_weight > 0:
            task_items = self._pair_aware_task(cfg, train_items, train_ids, valid_ids)
        if cfg.batching == "bucketed":
            task_items["item_sizes"] = [_footprint(item) for item in task_items["train_items"]]
        task = TrainingTask(
            name=self.name,
            model=self.model,
            train_labels=[r.target for r in train_items],
            train_confidence=[r.confidence for r in train_items],
            valid_labels=[r.target for r in valid_items],
            data_fingerprint=_items_fingerprint(train_items, valid_items),
            **task_items,
        )
        result = train(task, cfg, seed, out_dir, checkpoint_dir, stop_after_steps=stop_after_steps)
        from streamguard.io.ranks import is_main_process

        if is_main_process():  # under torchrun, rank 0 alone writes the model folder
            tf.save(self.model, self.tokenizer, out_dir)
        return {
            **_result_info(result),
            "token_trimming_train": train_trim,
            "windows_per_function_train": {str(k): v for k, v in sorted(train_windows.items())},
            "max_length": self.max_length,
            "max_windows": self.max_windows,
            "window_pooling": self.window_pooling,
            "train_pairs_ranked": self.train_pairs,
            "pretrained": pretrained,
        }


class GNNBranch(Branch, branches.GNNBranch):
    def load_items(self, split):
        from streamguard.graphs.store import load_graph_split

        return load_graph_split(self.graphs_dir, split)

    def data_sha256(self):
        return {p.name: sha256_file(p) for p in sorted(self.graphs_dir.glob("*.pt"))}

    def fit(self, train_items, valid_items, out_dir, checkpoint_dir, seed, stop_after_steps=None):
        from streamguard.models.gnn import GNNConfig, gnn_from_graph_dir
        from streamguard.training.loop import TrainingTask, seed_everything, train

        cfg = self.params.gnn
        seed_everything(seed)
        self.model = gnn_from_graph_dir(GNNConfig.of(cfg), self.graphs_dir)
        token_rows = self._init_tokens_from_pretrain() if cfg.token_init == "pretrain" else 0
        task = TrainingTask(
            name=self.name,
            model=self.model,
            train_items=train_items,
            valid_items=valid_items,
            train_labels=[item_target(g) for g in train_items],
            train_confidence=[item_confidence(g) for g in train_items],
            valid_labels=[item_target(g) for g in valid_items],
            collate=self._collate,
            forward=self._forward,
            data_fingerprint=_items_fingerprint(train_items, valid_items),
        )
        result = train(
            task, cfg, seed, out_dir, checkpoint_dir, batch_size=self.batch_size(), stop_after_steps=stop_after_steps
        )
        return {
            **_result_info(result),
            "batch_size": self.batch_size(),
            "token_init": cfg.token_init,
            "token_rows_from_pretrain": token_rows,
        }

    def _init_tokens_from_pretrain(self) -> int:
        """The subtoken table starts from the pretrain stage's MLM input embeddings (gnn.token_init)."""
        from streamguard.graphs.vocab import load_vocab
        from streamguard.models import transformer as tf
        from streamguard.models.gnn import init_token_embeddings
        from streamguard.models.mlm import pretrained_folder

        folder = pretrained_folder(self.pretrained_dir, wanted_by="gnn.token_init")
        tokenizer, mlm_model = tf.load_pretrained(str(folder))
        embeddings = mlm_model.get_input_embeddings().weight.detach()
        if embeddings.shape[1] != self.params.gnn.hidden_size:
            raise StreamGuardError(
                f"gnn.token_init is 'pretrain' but the pretrained model in {folder} has hidden size "
                f"{embeddings.shape[1]} and gnn.hidden_size is {self.params.gnn.hidden_size}; set gnn.hidden_size "
                f"to {embeddings.shape[1]} (or pretrain.hidden_size to {self.params.gnn.hidden_size} and pretrain again)"
            )
        return init_token_embeddings(self.model, load_vocab(self.graphs_dir).subtokens, tokenizer, embeddings)


def _footprint(item: Any) -> tuple[int, int]:
    """(rows, widest row) a transformer training item adds to a batch: a function, or a pair group."""
    from streamguard.models.transformer import batch_footprint
    from streamguard.training.pair_loss import Member

    if isinstance(item, list) and item and isinstance(item[0], Member):
        sizes = [batch_footprint(m.features) for m in item]
        return sum(r for r, _ in sizes), max(w for _, w in sizes)
    return batch_footprint(item)


def _items_fingerprint(train_items: Sequence[Any], valid_items: Sequence[Any]) -> str:
    import hashlib

    h = hashlib.sha256()
    for item in list(train_items) + list(valid_items):
        h.update(item_id(item).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _result_info(result: TrainingResult) -> dict:
    return {
        "best_epoch": result.best_epoch,
        "best_valid_score": result.best_valid_score,
        "best_step": result.best_step,
        "epochs_run": result.epochs_run,
        "device": result.device,
        "history": result.history,
        "resumed_from_step": result.resumed_from_step,
    }


# one class per name in BASE_MODELS (tests/models/test_registry.py checks they agree)
BRANCH_CLASSES: dict[str, type[Branch]] = {cls.name: cls for cls in (LexicalBranch, TransformerBranch, GNNBranch)}


def make_branch(
    name: str, params: Params, processed_dir: Path, graphs_dir: Path, pretrained_dir: Path | None = None
) -> Branch:
    return branches.branch_class(name, BRANCH_CLASSES)(params, processed_dir, graphs_dir, pretrained_dir)
