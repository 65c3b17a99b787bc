"""Duplicate- and pair-aware splitting: linked functions never straddle splits or folds.

Two records are linked when their whitespace-normalised texts are equal
(records.duplicate_key) or when they share a `pair` id (a function and its
fix); linked groups are the connected components of both relations, so a
chain such as "fixed version of pair A == vulnerable version of pair B"
keeps A and B together too.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Iterable

import numpy as np

from streamguard.data.records import Record, RecordError, record_id

# Fewest records of each label every split must hold: below this, ROC-AUC and MCC on test,
# the threshold chosen on valid, and a fold model's view of both labels are undefined or noise.
MIN_PER_LABEL = 2
# stratum of linked groups holding both labels; sorts after the labels 0 and 1 so a split
# without pairs draws the same random numbers it always did
_MIXED = 2


def group_by_dup_key(records: Iterable[Record]) -> dict[str, list[Record]]:
    groups: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        groups[rec.dup_key].append(rec)
    return groups


def linked_groups(records: Iterable[Record]) -> dict[str, list[Record]]:
    """Connected components of "same normalised text" ∪ "same pair id", keyed by a stable member key.

    The key is the smallest duplicate key in the component, so it does not
    depend on record order.
    """
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        root = node
        while parent[root] != root:
            root = parent[root]
        while parent[node] != root:  # path compression
            parent[node], node = root, parent[node]
        return root

    def union(a: str, b: str) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)  # the smaller key is the root: order-independent

    records = list(records)
    for rec in records:
        node = "d:" + rec.dup_key
        parent.setdefault(node, node)
        if rec.pair is not None:
            link = "p:" + rec.pair
            parent.setdefault(link, link)
            union(node, link)
    # "d:" sorts before "p:", so every component with a function has a duplicate key as its root
    groups: dict[str, list[Record]] = defaultdict(list)
    for rec in records:
        groups[find("d:" + rec.dup_key)[2:]].append(rec)
    return groups


def resolve_label_conflicts(records: list[Record], policy: str) -> tuple[list[Record], dict]:
    """Texts that carry both labels (after normalisation).

    drop: remove every copy, since the label cannot be known from the text;
    majority: keep the copies with the majority label, drop the rest (ties drop all).
    """
    kept: list[Record] = []
    conflicted_groups = dropped = 0
    for group in group_by_dup_key(records).values():
        labels = Counter(r.target for r in group)
        if len(labels) < 2:
            kept.extend(group)
            continue
        conflicted_groups += 1
        if policy == "majority" and labels[0] != labels[1]:
            majority = labels.most_common(1)[0][0]
            kept.extend(r for r in group if r.target == majority)
            dropped += sum(1 for r in group if r.target != majority)
        else:
            dropped += len(group)
    kept.sort(key=lambda r: r.id)
    return kept, {"policy": policy, "conflicting_texts": conflicted_groups, "records_dropped": dropped}


def drop_exact_duplicates(records: list[Record]) -> tuple[list[Record], int]:
    """Records with the same project, label and text are one function; the first copy stays.

    Copies are found by content, not by id; an id that two different functions
    carry is an error naming both (keeping one would lose the other silently).
    """
    by_content: dict[str, Record] = {}
    by_id: dict[str, Record] = {}
    for rec in records:
        kept = by_content.setdefault(record_id(rec.func, rec.project, rec.target), rec)
        other = by_id.setdefault(rec.id, kept)
        if other is not kept:
            raise RecordError(
                f"id {rec.id[:40]!r} names two different functions (from {other.origin or 'no origin'} and "
                f"{rec.origin or 'no origin'}); ids must be derived from the content — re-run `streamguard download`"
            )
    unique = sorted(by_content.values(), key=lambda r: r.id)
    return unique, len(records) - len(unique)


def label_counts(records: Iterable[Record]) -> Counter[int]:
    """Records per label, with both labels present (0 when absent)."""
    counts = Counter({0: 0, 1: 0})
    counts.update(r.target for r in records)
    return counts


def split_records(records: list[Record], valid_fraction: float, test_fraction: float, seed: int) -> list[Record]:
    """Seeded, stratified 80/10/10-style split over linked groups (duplicates ∪ pairs).

    Groups are sorted into strata — all vulnerable, all not, and mixed (a
    function with its fix) — shuffled within each stratum and dealt to test,
    then valid, until each holds its share of that stratum; the rest go to
    train. Without pairs every group has one label (after
    `resolve_label_conflicts`) and this is the plain label-stratified split.
    """
    groups = linked_groups(records)
    strata: dict[int, list[str]] = defaultdict(list)
    for key in sorted(groups):
        labels = {r.target for r in groups[key]}
        strata[labels.pop() if len(labels) == 1 else _MIXED].append(key)
    rng = random.Random(seed)
    for stratum in sorted(strata):
        keys = strata[stratum]
        rng.shuffle(keys)
        n_stratum = sum(len(groups[k]) for k in keys)
        quotas = [("test", test_fraction * n_stratum), ("valid", valid_fraction * n_stratum)]
        filled = {"test": 0, "valid": 0}
        for key in keys:
            split = "train"
            for name, quota in quotas:
                if filled[name] + len(groups[key]) / 2 <= quota:
                    split = name
                    filled[name] += len(groups[key])
                    break
            for rec in groups[key]:
                rec.split = split
    return records


def is_held_out(rec: Record, test_projects: Iterable[str]) -> bool:
    """Whether `rec` belongs to one of the held-out projects (names compared case-insensitively)."""
    return rec.project.lower() in {p.lower() for p in test_projects}


def split_by_project(
    records: list[Record], test_projects: list[str], valid_fraction: float, seed: int
) -> tuple[list[Record], int]:
    """Cross-project split: the held-out projects' records are test; the rest is split into train and valid.

    A linked group (duplicates ∪ pairs) that touches a held-out project goes to
    test whole, less its members from other projects, which are dropped (their
    text is in test; keeping them in train would leak it). Returns the records,
    sorted by id, and how many were dropped so.
    """
    held = {p.lower() for p in test_projects}
    test: list[Record] = []
    rest: list[Record] = []
    dropped = 0
    for group in linked_groups(records).values():
        if not any(r.project.lower() in held for r in group):
            rest.extend(group)
            continue
        for rec in group:
            if rec.project.lower() in held:
                rec.split = "test"
                test.append(rec)
            else:
                dropped += 1
    split_records(rest, valid_fraction, 0.0, seed)  # a test share of 0 deals nothing to test
    return sorted(test + rest, key=lambda r: r.id), dropped


def straddling_duplicates(records: list[Record]) -> int:
    """How many normalised-duplicate groups appear in more than one split."""
    return sum(1 for g in group_by_dup_key(records).values() if len({r.split for r in g}) > 1)


def straddling_pairs(records: list[Record]) -> int:
    """How many pair ids appear in more than one split (0 unless a source's official split separates them)."""
    splits: dict[str, set[str | None]] = defaultdict(set)
    for rec in records:
        if rec.pair is not None:
            splits[rec.pair].add(rec.split)
    return sum(1 for seen in splits.values() if len(seen) > 1)


def assign_folds(records: list[Record], folds: int, seed: int) -> dict[str, int]:
    """K stratified folds over linked groups (duplicates ∪ pairs): record id -> fold index."""
    from sklearn.model_selection import StratifiedGroupKFold  # here: download and preprocess never need sklearn

    if not records:
        return {}
    y = np.array([r.target for r in records])
    group_of = {id(rec): key for key, members in linked_groups(records).items() for rec in members}
    groups = np.array([group_of[id(r)] for r in records])
    splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    assignment: dict[str, int] = {}
    for fold, (_, held_out) in enumerate(splitter.split(np.zeros(len(records)), y, groups)):
        for i in held_out:
            assignment[records[i].id] = fold
    return assignment
