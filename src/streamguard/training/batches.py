"""The batches of one training epoch: which items go together, in which order.

Both plans start from the epoch's sample order (a seeded permutation, or a
weighted draw with replacement) and use every position of it exactly once.

- padded: consecutive runs of `batch_size` items of that order; a batch is
  padded to its longest item.
- bucketed: the order is cut into pools of `POOL_BATCHES * batch_size` items;
  each pool is sorted by width (ties keep the random order) and cut into
  batches whose padded size (rows x widest row) stays within a token budget;
  then every batch of the epoch is shuffled. The budget is `batch_size` times
  the mean real tokens of an item, so a batch holds about as many real tokens
  as an average padded batch and an epoch has about as many optimizer steps,
  while short items do not pay for a long neighbour's padding.

A plan is a pure function of (seed, epoch, the items' sizes, the params): a
resumed run rebuilds the same plan and continues at the same batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

# pools of this many batches are sorted by length: large enough that neighbours are close in
# width, small enough that an item's batch-mates change from epoch to epoch
POOL_BATCHES = 50


@dataclass(frozen=True)
class ItemSizes:
    """Per item: how many rows it adds to a batch and the width of its widest row (tokens)."""

    rows: np.ndarray
    width: np.ndarray

    @classmethod
    def of(cls, sizes: Sequence[tuple[int, int]]) -> ItemSizes:
        arr = np.asarray(sizes, dtype=np.int64).reshape(-1, 2)
        return cls(arr[:, 0], arr[:, 1])

    def __len__(self) -> int:
        return len(self.rows)

    def token_budget(self, batch_size: int) -> int:
        """Padded tokens allowed in one bucketed batch: `batch_size` items' mean real tokens."""
        return max(1, round(batch_size * float(np.mean(self.rows * self.width))))


def epoch_order(n: int, seed: int, epoch: int, weights: np.ndarray | None, gen: torch.Generator) -> list[int]:
    """The sample order of one epoch: a seeded permutation, or a weighted draw."""
    gen.manual_seed(seed * 1009 + epoch)
    if weights is None:
        return torch.randperm(n, generator=gen).tolist()
    w = torch.as_tensor(weights, dtype=torch.double)
    return torch.multinomial(w, n, replacement=True, generator=gen).tolist()


def epoch_batches(
    n: int,
    seed: int,
    epoch: int,
    batch_size: int,
    weights: np.ndarray | None = None,
    sizes: ItemSizes | None = None,
) -> list[list[int]]:
    """The epoch's batches of item indices: padded when `sizes` is None, else bucketed."""
    gen = torch.Generator()
    order = epoch_order(n, seed, epoch, weights, gen)
    if sizes is None:
        return [order[lo : lo + batch_size] for lo in range(0, n, batch_size)]
    if len(sizes) != n:
        raise ValueError(f"bucketed batches: {len(sizes)} item sizes for {n} training items")
    budget = sizes.token_budget(batch_size)
    pool = POOL_BATCHES * batch_size
    batches: list[list[int]] = []
    for lo in range(0, len(order), pool):
        batches.extend(_fill(order[lo : lo + pool], sizes, budget))
    # the same generator, drawn on after the order: one stream per (seed, epoch)
    shuffled = torch.randperm(len(batches), generator=gen).tolist()
    return [batches[i] for i in shuffled]


def _fill(pool: list[int], sizes: ItemSizes, budget: int) -> list[list[int]]:
    """The pool sorted by width, cut greedily where the next item would take a batch over budget."""
    idx = np.asarray(pool, dtype=np.int64)
    by_width = idx[np.argsort(sizes.width[idx], kind="stable")]
    rows, width = sizes.rows[by_width].tolist(), sizes.width[by_width].tolist()
    batches: list[list[int]] = []
    current: list[int] = []
    current_rows = 0
    for item, r, w in zip(by_width.tolist(), rows, width):
        # sorted ascending, so the newcomer is the widest row: the batch's padded size is rows x w
        if current and (current_rows + r) * w > budget:
            batches.append(current)
            current, current_rows = [], 0
        current.append(item)
        current_rows += r
    if current:
        batches.append(current)
    return batches
