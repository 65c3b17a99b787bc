"""The classification loss every neural branch trains on: cross-entropy with per-record weights.

A record's weight is its confidence x class balance (streamguard.training.weights);
the loop's weighted loss and the pair-aware loss (training/pair_loss.py) both
add up the same per-record cross-entropy here.
"""

from __future__ import annotations

import torch
from torch import nn


def weighted_cross_entropy(
    logits: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None, total: torch.Tensor | None = None
) -> torch.Tensor:
    """The batch's (weighted) mean loss; with `total` (data parallel), this rank's part of the global batch's."""
    losses = nn.functional.cross_entropy(logits.float(), y, reduction="none")
    if total is not None:
        return (losses if w is None else losses * w).sum() / total
    if w is None:
        return losses.mean()
    return (losses * w).sum() / w.sum().clamp_min(1e-12)
