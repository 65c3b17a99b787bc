"""Pairs are found by their shared id: one vulnerable and one fixed function each, in pair-id order."""

from __future__ import annotations

import numpy as np

from streamguard.data.pairs import find_pairs


def test_find_pairs_matches_sides_in_pair_id_order_and_skips_incomplete_groups():
    ids = ["b", "b", "a", "a", "e", "f", "f", None]
    y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    pairs = find_pairs(ids, y)
    assert list(pairs.vulnerable) == [2, 1] and list(pairs.fixed) == [3, 0]
    assert pairs.skipped == 2  # e has no fix among the functions given; f holds two fixed functions
    assert len(pairs) == 2
    assert len(find_pairs([None, None], np.array([1, 0]))) == 0
