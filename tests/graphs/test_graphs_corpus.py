"""Graphs for real Devign functions from ../shared (skipped when it is absent)."""

from __future__ import annotations

import itertools
from collections import Counter

import pytest
from conftest import DEVIGN_FULL, needs_shared

from streamguard.graphs.function_graph import GraphBuilder
from streamguard.params import GraphParams

pytestmark = [needs_shared(), pytest.mark.shared]


def test_devign_functions_get_graphs_mostly_full_tier():
    from streamguard.data.records import read_records

    builder = GraphBuilder(GraphParams())
    # every 20th of the first 8,000 records: FFmpeg and QEMU both, in about a second
    records = list(itertools.islice(read_records(DEVIGN_FULL), 0, 8000, 20))
    tiers = Counter()
    for rec in records:
        g = builder.build(rec.func)
        tiers[g.tier] += 1
        assert 1 <= g.num_nodes <= GraphParams().max_nodes
        assert g.edge_index.size == 0 or g.edge_index.max() < g.num_nodes
    assert tiers["full"] / len(records) > 0.8  # about 88 % on the whole corpus with macro normalisation
    assert tiers["token"] / len(records) < 0.06
