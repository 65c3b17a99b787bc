"""Length-bucketed batches: every item once an epoch, seeded, resumable, and what the transformer trains on."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import numpy as np
import pytest
import torch
from tiny_training import CFG, make_task

from streamguard.data.records import Record
from streamguard.models import transformer as tf
from streamguard.params import params_from_dict
from streamguard.training.batches import ItemSizes, epoch_batches
from streamguard.training.branches import make_branch
from streamguard.training.loop import TrainingInterrupted, train


def _sizes(n: int, seed: int = 0) -> ItemSizes:
    """Lengths shaped like token counts of C functions: many short, a long tail cut at 256."""
    rng = np.random.default_rng(seed)
    width = np.minimum(rng.lognormal(4.5, 0.8, n).astype(int) + 3, 256)
    rows = rng.integers(1, 3, n)  # some items span two rows (windows, pairs)
    return ItemSizes(rows, width)


def _padded_tokens(batches: list[list[int]], sizes: ItemSizes) -> int:
    return sum(int(sizes.rows[b].sum() * sizes.width[b].max()) for b in batches)


@pytest.mark.parametrize("n", [1, 7, 500, 3333])
def test_every_item_once_an_epoch_within_the_token_budget(n):
    sizes = _sizes(n)
    budget = sizes.token_budget(32)
    for epoch in range(3):
        batches = epoch_batches(n, seed=5, epoch=epoch, batch_size=32, sizes=sizes)
        assert sorted(i for b in batches for i in b) == list(range(n))
        # over budget only where one item alone is
        assert all(len(b) == 1 or sizes.rows[b].sum() * sizes.width[b].max() <= budget for b in batches)
    if n > 100:
        padded = epoch_batches(n, seed=5, epoch=0, batch_size=32)
        # about as many batches (optimizer steps) as padded batches of 32, and far less padding
        assert 0.7 * len(padded) <= len(batches) <= 1.3 * len(padded)
        real = int((sizes.rows * sizes.width).sum())
        assert _padded_tokens(batches, sizes) - real < 0.3 * (_padded_tokens(padded, sizes) - real)


def test_a_weighted_draw_is_batched_as_drawn():
    n, sizes = 400, _sizes(400)
    weights = np.linspace(0.1, 2.0, n)
    padded = epoch_batches(n, seed=3, epoch=1, batch_size=16, weights=weights)
    bucketed = epoch_batches(n, seed=3, epoch=1, batch_size=16, weights=weights, sizes=sizes)
    # the same draw with replacement, every drawn position in exactly one batch
    assert Counter(i for b in bucketed for i in b) == Counter(i for b in padded for i in b)


def test_same_seed_same_batches_other_seed_or_epoch_other_batches():
    n, sizes = 1000, _sizes(1000)
    a = epoch_batches(n, seed=11, epoch=2, batch_size=32, sizes=sizes)
    assert epoch_batches(n, seed=11, epoch=2, batch_size=32, sizes=sizes) == a
    assert epoch_batches(n, seed=12, epoch=2, batch_size=32, sizes=sizes) != a
    assert epoch_batches(n, seed=11, epoch=3, batch_size=32, sizes=sizes) != a


def _recording(task):
    """The task, with its training batches (as item indices) recorded in order."""
    index = {id(item): i for i, item in enumerate(task.train_items)}
    seen: list[list[int]] = []
    collate = task.collate

    def record(items):
        picked = [index.get(id(item)) for item in items]
        if None not in picked:  # validation batches hold valid items
            seen.append(picked)
        return collate(items)

    task.collate = record
    return task, seen


def test_resume_mid_epoch_takes_the_remaining_batches_of_the_same_plan(tmp_path):
    cfg = replace(CFG, batching="bucketed", checkpoint_every=0)
    straight, straight_seen = _recording(make_task(bucketed=True))
    full = train(straight, cfg, seed=7, out_dir=tmp_path / "a", checkpoint_dir=tmp_path / "ca")
    first_epoch = len(epoch_batches(96, 7, 0, cfg.batch_size, sizes=ItemSizes.of(straight.item_sizes)))
    assert full.epochs_run == 2 and len(straight_seen) > first_epoch

    cut, cut_seen = _recording(make_task(bucketed=True))
    with pytest.raises(TrainingInterrupted):
        train(cut, cfg, seed=7, out_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb", stop_after_steps=5)
    assert len(cut_seen) == 5 < first_epoch  # stopped mid-epoch
    rest, rest_seen = _recording(make_task(bucketed=True))
    resumed = train(rest, cfg, seed=7, out_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb")
    assert resumed.resumed_from_step == 5
    assert cut_seen + rest_seen == straight_seen
    assert resumed.history == full.history
    wa = torch.load(tmp_path / "a" / "model.pt", weights_only=True)
    wb = torch.load(tmp_path / "b" / "model.pt", weights_only=True)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


def _recorded_batches(monkeypatch) -> list[list[tuple[int, ...]]]:
    """Every batch of token ids collate_token_ids pads from here on."""
    batches: list[list[tuple[int, ...]]] = []
    collate = tf.collate_token_ids

    def record(batch, pad_id):
        batches.append([tuple(ids) for ids in batch])
        return collate(batch, pad_id)

    monkeypatch.setattr(tf, "collate_token_ids", record)
    return batches


def _real_share(batches: list[list[tuple[int, ...]]]) -> float:
    """Real tokens / padded tokens over the batches."""
    real = sum(len(ids) for b in batches for ids in b)
    return real / sum(len(b) * max(len(ids) for ids in b) for b in batches)


@pytest.mark.parametrize("batching", ["padded", "bucketed"])
def test_the_transformer_trains_on_bucketed_batches_with_less_padding(tmp_path, sample_records, monkeypatch, batching):
    params = params_from_dict(
        {
            "transformer": {
                "hidden_size": 32,
                "num_layers": 1,
                "num_heads": 2,
                "intermediate_size": 64,
                "vocab_size": 400,
                "max_length": 128,
                "epochs": 2,
                "batch_size": 8,
                "checkpoint_every": 0,
                "batching": batching,
                "device": "cpu",
            }
        }
    )
    train_recs = [Record(**{**r.to_dict(), "split": "train"}) for r in sample_records[:160]]
    valid_recs = [Record(**{**r.to_dict(), "split": "valid"}) for r in sample_records[160:200]]
    batches = _recorded_batches(monkeypatch)
    branch = make_branch("transformer", params, tmp_path, tmp_path)
    info = branch.fit(train_recs, valid_recs, tmp_path / "m", tmp_path / "ck", seed=3)
    assert info["epochs_run"] == 2 and all(np.isfinite(h["train_loss"]) for h in info["history"])
    probs = branch.predict(valid_recs)
    assert len(probs) == 40 and np.all((probs >= 0) & (probs <= 1))
    train_ids = {tuple(ids) for ids in branch._encode(train_recs)}
    trained_on = [b for b in batches if all(ids in train_ids for ids in b)]
    assert sorted(ids for b in trained_on for ids in b) == sorted(tuple(ids) for ids in branch._encode(train_recs) * 2)
    share = _real_share(trained_on)
    # random batches of 8 pad to their longest function; bucketed ones hardly pad at all
    # the sample's functions mostly fill 128 tokens: random batches of 8 still pad 11 %, bucketed ones 1 %
    assert share > 0.97 if batching == "bucketed" else share < 0.93, share
