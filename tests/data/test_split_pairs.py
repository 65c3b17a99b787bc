"""A function and its fix (one `pair` id) never straddle a split or an OOF fold."""

from __future__ import annotations

from collections import defaultdict

from streamguard.data.collectors.synthetic import generate_pairs
from streamguard.data.preprocess import preprocess_records
from streamguard.data.records import Record, link_pair
from streamguard.data.split import assign_folds, linked_groups, straddling_pairs
from streamguard.params import params_from_dict


def _pairs(count: int, seed: int = 7) -> list[Record]:
    records = []
    for vulnerable, fixed in generate_pairs(count, seed, 0.1):
        records.extend(link_pair(vulnerable, fixed))
    return records


def _members(records: list[Record]) -> dict[str, list[Record]]:
    by_pair: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        if rec.pair is not None:
            by_pair[rec.pair].append(rec)
    return by_pair


def test_pair_ids_are_shared_and_content_derived():
    first, second = _pairs(2), _pairs(2)
    assert first[0].pair == first[1].pair != first[2].pair
    assert [r.pair for r in first] == [r.pair for r in second]
    assert Record(**first[0].to_dict()).pair == first[0].pair  # survives a write/read round trip


def test_pairs_never_straddle_splits(sample_records):
    pairs = _pairs(300)
    records = [Record(**r.to_dict()) for r in sample_records[:600]] + pairs
    out, report = preprocess_records(records, params_from_dict({}))
    by_pair = _members(out)
    assert report["pairs"] == len(by_pair) > 250
    assert report["straddling_pairs"] == 0 == straddling_pairs(out)
    for members in by_pair.values():
        assert len({r.split for r in members}) == 1
    # pairs are dealt like any group: test and valid each get their share of whole pairs
    in_test = [p for p, members in by_pair.items() if members[0].split == "test"]
    assert 0.05 < len(in_test) / len(by_pair) < 0.15
    assert all(len(by_pair[p]) == 2 for p in in_test)


def test_chains_of_duplicates_and_pairs_stay_together():
    a_vul, a_fix = link_pair(
        Record(func="int f(int n) { return buf[n]; }", target=1),
        Record(func="int f(int n) { return n < 8 ? buf[n] : 0; }", target=0),
    )
    # pair B's vulnerable side is pair A's, reformatted: A and B form one linked group
    b_vul, b_fix = link_pair(
        Record(func="int  f(int n)\n{ return buf[n]; }", target=1, project="other"),
        Record(func="int f(int n) { if (n >= 8) return 0; return buf[n]; }", target=0),
    )
    lone = Record(func="int g(void) { return 0; }", target=0)
    groups = linked_groups([a_vul, a_fix, b_vul, b_fix, lone])
    assert sorted(len(g) for g in groups.values()) == [1, 4]


def test_pairs_never_straddle_folds(sample_records):
    train = [Record(**r.to_dict()) for r in sample_records[:300]] + _pairs(200, seed=11)
    folds = assign_folds(train, 5, seed=3)
    assert set(folds.values()) == set(range(5))
    for members in _members(train).values():
        assert len({folds[r.id] for r in members}) == 1
