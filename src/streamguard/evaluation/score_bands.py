"""The precision a score reaches on projects the model never saw, by score band.

Bands are slices of the ranking of held-out scores over whole source trees
(the retro-scan snapshots: every function of a repository, the vulnerable
ones those a later security fix changed), which is what `scan` sees: the top
1 % of functions, the next 4 %, the next 15 %, the next 30 %, the rest. Each
band records the lowest score in it (a new score falls in the first band
whose `min_score` it reaches), how many functions and vulnerable ones it
holds, and its precision with a Wilson 95 % interval. `base_rate` is the
precision of a random pick.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import binomtest

# the top fraction of the ranking where each band ends
BAND_ENDS: tuple[float, ...] = (0.01, 0.05, 0.20, 0.50, 1.0)


def score_bands(y: np.ndarray, score: np.ndarray, confidence_level: float = 0.95) -> list[dict[str, float]]:
    """Bands of the ranking of `score` (best first), each with its precision on the labels `y`."""
    n = len(y)
    if n == 0:
        return []
    order = np.argsort(-score, kind="stable")
    ranked_y, ranked_score = y[order], score[order]
    bands: list[dict[str, float]] = []
    start = 0
    for end_fraction in BAND_ENDS:
        end = max(start + 1, math.ceil(end_fraction * n)) if end_fraction < 1 else n
        if start >= n:
            break
        members = ranked_y[start:end]
        hits = int(members.sum())
        interval = binomtest(hits, len(members)).proportion_ci(confidence_level, method="wilson")
        bands.append(
            {
                "top_from": start / n,
                "top_to": end / n,
                "min_score": float(ranked_score[end - 1]),
                "functions": float(len(members)),
                "vulnerable": float(hits),
                "precision": hits / len(members),
                "precision_ci_low": float(interval.low),
                "precision_ci_high": float(interval.high),
                "base_rate": float(y.mean()),
            }
        )
        start = end
    return bands
