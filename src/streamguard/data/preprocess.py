"""Clean, deduplicate, trim and split records: the rules the preprocess stage (stages/preprocess.py) applies.

Guarantees (the README, "Data rules"): normalised duplicates and the two sides of a pair
(records with one `pair` id) never straddle splits; texts
with both labels follow `data.label_conflicts`; long functions are trimmed
around dangerous APIs; in phase 2, collected records join the training split
only, after the leakage guard. Every split must hold at least
`split.MIN_PER_LABEL` records of each label, or the stage fails naming the
data source.
"""

from __future__ import annotations

from collections import Counter

from streamguard.data.download import describe_source
from streamguard.data.records import Record
from streamguard.data.sample import stratified_sample
from streamguard.data.split import (
    MIN_PER_LABEL,
    drop_exact_duplicates,
    is_held_out,
    label_counts,
    resolve_label_conflicts,
    split_by_project,
    split_records,
    straddling_duplicates,
    straddling_pairs,
)
from streamguard.data.trim import trim_to_budget
from streamguard.errors import StreamGuardError
from streamguard.params import Params


def trim_records(records: list[Record], max_chars: int) -> dict:
    how: Counter[str] = Counter()
    for rec in records:
        result = trim_to_budget(rec.func, max_chars)
        if result.trimmed:
            rec.func = result.text
        how[result.how] += 1
    return {"max_chars": max_chars, "trimmed_window": how["window"], "trimmed_head": how["head"]}


def preprocess_records(records: list[Record], params: Params) -> tuple[list[Record], dict]:
    data = params.data
    report: dict = {"raw_records": len(records)}
    if data.limit and data.limit < len(records):
        records = stratified_sample(records, data.limit, params.seed)
        report["limited_to"] = len(records)
    records, exact = drop_exact_duplicates(records)
    report["exact_duplicates_dropped"] = exact
    records, report["label_conflicts"] = resolve_label_conflicts(records, data.label_conflicts)
    official = all(r.split for r in records) and data.split == "random"
    if data.split == "cross_project":
        for rec in records:
            rec.split = None
        records, dropped = split_by_project(records, data.test_projects, data.valid_fraction, params.seed)
        held = ", ".join(data.test_projects)
        report["split"] = f"cross-project: test = {held}; train/valid pair-aware, seed {params.seed}"
        report["copies_of_test_projects_dropped"] = dropped
        report["straddling_duplicate_groups"] = straddling_duplicates(records)
    elif official:
        report["split"] = "official (kept from source)"
        report["straddling_duplicate_groups"] = straddling_duplicates(records)
    else:
        for rec in records:
            rec.split = None
        split_records(records, data.valid_fraction, data.test_fraction, params.seed)
        report["split"] = f"duplicate- and pair-aware stratified, seed {params.seed}"
        report["straddling_duplicate_groups"] = straddling_duplicates(records)
    report["pairs"] = len({r.pair for r in records if r.pair is not None})
    report["straddling_pairs"] = straddling_pairs(records)
    report["trim"] = trim_records(records, data.max_chars)
    return records, report


def hold_out_collected(
    collected: list[Record], by_split: dict[str, list[Record]], params: Params
) -> tuple[list[Record], dict]:
    """Collected records of the held-out projects, for the test split (cross-project, phase 2).

    A text already in train or valid stays out (it would be tested on what was
    trained on); copies and texts with both labels go as in every collected set
    (noise.dedupe). A pair that loses a side stays as one function; paired
    evaluation skips it.
    """
    from streamguard.data.noise import dedupe

    seen = {r.dup_key for split in ("train", "valid") for r in by_split[split]}
    held = [r for r in collected if is_held_out(r, params.data.test_projects)]
    fresh = [r for r in held if r.dup_key not in seen]
    kept, dropped = dedupe(fresh)
    for rec in kept:
        rec.split = "test"
    report = {
        "records": len(held),
        "kept": len(kept),
        "in_train_or_valid": len(held) - len(fresh),
        "dropped": dict(sorted(dropped.items())),
        "pairs": len({r.pair for r in kept if r.pair is not None}),
    }
    return kept, report


def require_test_projects_present(test: list[Record], raw: list[Record], params: Params) -> None:
    """Every name in data.test_projects must match some record: a typo would silently test on less."""
    found = {r.project.lower() for r in test}
    missing = [p for p in params.data.test_projects if p.lower() not in found]
    if missing:
        present = sorted({r.project for r in raw})
        raise StreamGuardError(
            f"params: data.test_projects names {', '.join(missing)[:200]}, which no record carries "
            f"(projects in the data: {', '.join(present)[:200]}"
            f"{'; collected repositories join in data.phase 2' if params.data.phase == 1 else ''}); "
            "fix the names in params.yaml"
        )


def require_labels_in_every_split(by_split: dict[str, list[Record]], params: Params, report: dict) -> None:
    """Stop when a split lacks a label: training, thresholds and test metrics need both."""
    counts = {split: label_counts(recs) for split, recs in by_split.items()}
    short = [split for split, c in counts.items() if min(c.values()) < MIN_PER_LABEL]
    if not short:
        return
    shown = "; ".join(f"{s}: {c[1]} vulnerable, {c[0]} not" for s, c in counts.items())
    dropped = report["exact_duplicates_dropped"] + report["label_conflicts"]["records_dropped"]
    limit = f"raise data.limit (now {params.data.limit}) or " if params.data.limit else ""
    raise StreamGuardError(
        f"preprocess: the {', '.join(short)} split(s) hold fewer than {MIN_PER_LABEL} records of a label "
        f"({shown}; {report['raw_records']} raw records, {dropped} dropped as duplicates or label conflicts) "
        f"from {describe_source(params.data)}; every split needs at least {MIN_PER_LABEL} of each label — "
        f"{limit}use a larger file with both labels"
    )
