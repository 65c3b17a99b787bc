"""Per-record training weights: confidence x class balance (numpy only, shared by every branch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def sample_weights(labels: Sequence[int], confidence: Sequence[float]) -> np.ndarray:
    """confidence x class balance (n / (2 n_class)), so both classes weigh alike."""
    y = np.asarray(labels)
    counts = np.bincount(y, minlength=2).astype(float)
    balance = len(y) / (2.0 * np.maximum(counts, 1.0))
    return np.asarray(confidence, dtype=float) * balance[y]
