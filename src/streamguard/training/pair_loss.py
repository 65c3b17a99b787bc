"""Pair-aware training: a function and its own fix share a batch, and the vulnerable one must score higher.

For the training split's pairs (Record.pair links a vulnerable `target=1` and a
fixed `target=0` version), the loss adds a margin ranking term on P(vulnerable):

    loss = weighted cross-entropy + pair_loss_weight * mean over pairs of max(0, margin - (P(v) - P(f)))

The cross-entropy keeps the loop's confidence x class-balance weights
(`sample_weights` over all training records, normalised per batch as the loop
does), so with no pair in a batch the loss is exactly the plain one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from streamguard.data.pairs import find_pairs
from streamguard.training.loss import weighted_cross_entropy


def pair_groups(pair_ids: Sequence[str | None], targets: Sequence[int]) -> list[list[int]]:
    """Record indices grouped for training: [vulnerable, fixed] for each complete pair, [i] for the rest."""
    pairs = find_pairs(list(pair_ids), np.asarray(targets))
    grouped = {int(v): [int(v), int(f)] for v, f in zip(pairs.vulnerable, pairs.fixed)}
    in_pair = {i for group in grouped.values() for i in group}
    groups: list[list[int]] = []
    for i in range(len(targets)):
        if i in grouped:
            groups.append(grouped[i])
        elif i not in in_pair:
            groups.append([i])
    return groups


@dataclass(frozen=True)
class Member:
    """One training function: what the model's collate takes, its label and its loss weight."""

    features: Any
    target: int
    weight: float = 1.0


@dataclass
class PairBatch:
    """A collated batch of groups: the model's inputs for all members, and where the pairs sit."""

    inputs: Any
    target: torch.Tensor  # [n members]
    weight: torch.Tensor  # [n members] confidence x class balance
    vulnerable: torch.Tensor  # member positions of each pair's vulnerable version
    fixed: torch.Tensor  # ... and of its fixed version, same order


def collate_groups(groups: list[Sequence[Member]], collate: Callable[[list[Any]], Any]) -> PairBatch:
    """Flatten groups ([vulnerable, fixed] or [single]) into one batch; `collate` builds the model's inputs."""
    members = [m for group in groups for m in group]
    vulnerable, fixed, at = [], [], 0
    for group in groups:
        if len(group) == 2:
            vulnerable.append(at)
            fixed.append(at + 1)
        at += len(group)
    return PairBatch(
        inputs=collate([m.features for m in members]),
        target=torch.as_tensor([m.target for m in members], dtype=torch.long),
        weight=torch.as_tensor([m.weight for m in members], dtype=torch.float32),
        vulnerable=torch.as_tensor(vulnerable, dtype=torch.long),
        fixed=torch.as_tensor(fixed, dtype=torch.long),
    )


def margin_ranking(prob: torch.Tensor, vulnerable: torch.Tensor, fixed: torch.Tensor, margin: float) -> torch.Tensor:
    """Mean over pairs of max(0, margin - (P(vulnerable) - P(fixed))); 0 when the batch holds no pair."""
    if len(vulnerable) == 0:
        return prob.new_zeros(())
    return torch.relu(margin - (prob[vulnerable] - prob[fixed])).mean()


def pair_aware_loss(
    logits: torch.Tensor, batch: PairBatch, use_weights: bool, pair_weight: float, margin: float
) -> torch.Tensor:
    device = logits.device
    logits = logits.float()
    y = batch.target.to(device)
    w = batch.weight.to(device) if use_weights else None
    prob = torch.softmax(logits, dim=-1)[:, 1]
    ranking = margin_ranking(prob, batch.vulnerable.to(device), batch.fixed.to(device), margin)
    return weighted_cross_entropy(logits, y, w) + pair_weight * ranking
