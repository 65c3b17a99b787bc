"""Where the pairs are: a vulnerable function and its own fix, linked by a shared `pair` id.

A pair is a `pair` id (Record.pair) carried by exactly one vulnerable (target 1)
and one fixed (target 0) function among those given; ids with another make-up
(one side lost to deduplication, or a Juliet test case with several good
variants) are counted as skipped. Pair-aware training groups the training
split's pairs into batches; paired evaluation scores the test split's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PairIndex:
    """Index of each pair's vulnerable and fixed function in the arrays the pair ids were given for."""

    vulnerable: np.ndarray  # int indices
    fixed: np.ndarray
    skipped: int  # pair ids not made of exactly one vulnerable and one fixed function

    def __len__(self) -> int:
        return len(self.vulnerable)


def find_pairs(pair_ids: Sequence[str | None], y: np.ndarray) -> PairIndex:
    """Pairs among functions whose pair ids are given (None: not part of a pair), in pair-id order."""
    members: dict[str, list[int]] = defaultdict(list)
    for i, pair in enumerate(pair_ids):
        if pair is not None:
            members[pair].append(i)
    vulnerable, fixed, skipped = [], [], 0
    for pair in sorted(members):
        idx = members[pair]
        labels = sorted(int(y[i]) for i in idx)
        if labels != [0, 1]:
            skipped += 1
            continue
        vulnerable.append(next(i for i in idx if y[i] == 1))
        fixed.append(next(i for i in idx if y[i] == 0))
    return PairIndex(np.array(vulnerable, dtype=int), np.array(fixed, dtype=int), skipped)
