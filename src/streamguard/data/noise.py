"""Noise reduction for Phase 2 collected records, and the guard that keeps them out of valid/test.

Confidence (the sample weight a record carries into training) comes from the
source and the heuristic that found it; the values are params
(`collect.confidence_*`) on three tiers:

| heuristic (params key)          | default | why |
|---------------------------------|---------|-----|
| advisory_exploit                | 1.0     | an NVD/GHSA/OSV advisory links the fix commit and ExploitDB has a public exploit for the CVE: the flaw is real and the commit fixes it; every `exploitdb` record is this |
| advisory                        | 0.3     | advisory-linked fix commit, no known exploit: the commit is a fix, but not every function it touches was vulnerable |
| git_exploit                     | 1.0     | a mined commit whose message cites a CVE that has a public exploit |
| git                             | 0.3     | a commit mined by a message keyword (overflow, use-after-free, …) |
| juliet                          | 0.3     | exact labels by construction, but test-suite code unlike real projects |
| synthetic                       | 0.1     | template pairs: clean labels, very narrow style |
| triage                          | 1.0     | a team's verdict (`streamguard triage`) on this exact text of a function of its own code: true positive 1, false positive 0 |

Rules, each counted in the reports under its name:
- `unchanged`: a pair whose sides are equal after whitespace normalisation
  (comments ignored) — not a code change, so neither label can be trusted;
- `too_short` / `too_long`: a function outside [min_function_tokens,
  max_function_tokens] code tokens; a pair goes when either side does, so
  pairs stay balanced;
- `duplicate`: the same normalised text (records.duplicate_key) seen before
  with the same label; the copy with the highest confidence stays;
- `label_conflict`: a text that carries both labels (e.g. fixed in one commit,
  re-broken in another): the label is unknowable, every copy goes;
- in merge_collected, `leakage_valid` / `leakage_test`: a text that is in
  valid or test (the hard guard), and `duplicate_of_train`: already in train.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable
from typing import Any

from streamguard.c.tokens import code_tokens, strip_comments
from streamguard.data.records import Record, RecordError, duplicate_key, normalise_whitespace
from streamguard.params import CollectParams, Params

HEURISTICS = ("advisory_exploit", "advisory", "git_exploit", "git", "juliet", "synthetic", "triage")


def confidence_for(heuristic: str, collect: CollectParams) -> float:
    """The sample weight of a record found by `heuristic` (see the table above)."""
    if heuristic not in HEURISTICS:
        raise ValueError(f"unknown confidence heuristic {heuristic!r}; use one of {HEURISTICS}")
    return float(getattr(collect, f"confidence_{heuristic}"))


def code_text(func: str) -> str:
    """Text compared for "did the code change": no comments, whitespace collapsed."""
    return normalise_whitespace(strip_comments(func))


def length_rule(func: str, collect: CollectParams) -> str | None:
    n = code_tokens(func)
    if n < collect.min_function_tokens:
        return "too_short"
    if n > collect.max_function_tokens:
        return "too_long"
    return None


def screen_pairs(pairs: Iterable[tuple[Record, Record]], collect: CollectParams) -> tuple[list[Record], Counter]:
    """Keep (vulnerable, fixed) pairs that changed code and are of sensible length."""
    kept: list[Record] = []
    dropped: Counter = Counter()
    for vulnerable, fixed in pairs:
        if code_text(vulnerable.func) == code_text(fixed.func):
            dropped["unchanged"] += 1
            continue
        why = length_rule(vulnerable.func, collect) or length_rule(fixed.func, collect)
        if why:
            dropped[why] += 1
            continue
        kept.extend((vulnerable, fixed))
    return kept, dropped


def screen_functions(records: Iterable[Record], collect: CollectParams) -> tuple[list[Record], Counter]:
    """Length rule for records that do not come in pairs (Juliet)."""
    kept: list[Record] = []
    dropped: Counter = Counter()
    for rec in records:
        why = length_rule(rec.func, collect)
        if why:
            dropped[why] += 1
        else:
            kept.append(rec)
    return kept, dropped


def dedupe(records: Iterable[Record]) -> tuple[list[Record], Counter]:
    """One record per normalised text; texts with both labels are dropped entirely.

    Order is kept (the first copy's position); among same-label copies the
    highest confidence wins.
    """
    records = list(records)
    labels: dict[str, set[int]] = {}
    for rec in records:
        labels.setdefault(rec.dup_key, set()).add(rec.target)
    best: dict[str, Record] = {}
    order: list[str] = []
    dropped: Counter = Counter()
    for rec in records:
        key = rec.dup_key
        if len(labels[key]) > 1:
            dropped["label_conflict"] += 1
            continue
        if key not in best:
            best[key] = rec
            order.append(key)
            continue
        dropped["duplicate"] += 1
        if rec.confidence > best[key].confidence:
            best[key] = rec
    return [best[k] for k in order], dropped


def summarise(records: Iterable[Record]) -> dict[str, Any]:
    """Counts per source, CWE, confidence tier and label (for the reports)."""
    records = list(records)

    def count(values: Iterable[Any]) -> dict[str, int]:
        return dict(sorted(Counter(str(v) for v in values).items()))

    return {
        "records": len(records),
        "by_source": count(r.source for r in records),
        "by_cwe": count(r.cwe or "unknown" for r in records),
        "by_confidence": count(f"{r.confidence:g}" for r in records),
        "by_target": count(r.target for r in records),
    }


def merge_collected(
    train: list[Record],
    valid: list[Record],
    test: list[Record],
    collected: list[Record],
    params: Params,
) -> tuple[list[Record], dict]:
    """The collected records allowed into training, and a report.

    The hard leakage guard runs first: no collected function whose normalised
    text equals one in valid or test gets through. Then functions already in
    train, then duplicates and label conflicts across sources. Survivors get
    split='train'; their confidence is the one their collector set (validated
    in (0, 1] when read). The caller appends them to train only.
    """
    valid_keys = {duplicate_key(r.func) for r in valid}
    test_keys = {duplicate_key(r.func) for r in test}
    train_keys = {duplicate_key(r.func) for r in train}
    dropped: Counter = Counter()
    survivors: list[Record] = []
    for rec in collected:
        key = rec.dup_key
        if key in test_keys:
            dropped["leakage_test"] += 1
        elif key in valid_keys:
            dropped["leakage_valid"] += 1
        elif key in train_keys:
            dropped["duplicate_of_train"] += 1
        else:
            survivors.append(rec)
    kept, dedupe_dropped = dedupe(survivors)
    dropped.update(dedupe_dropped)
    out: list[Record] = []
    for rec in kept:
        if not 0.0 < rec.confidence <= 1.0:
            raise RecordError(
                f"collected record {rec.id} ({rec.origin}): confidence {rec.confidence} is outside (0, 1]; "
                "fix collect.confidence_* in params.yaml and re-run the collect stage"
            )
        out.append(dataclasses.replace(rec, split="train"))
    report = {
        "collected": len(collected),
        "kept": len(out),
        "leakage_blocked": dropped["leakage_valid"] + dropped["leakage_test"],
        "dropped": dict(sorted(dropped.items())),
        "kept_summary": summarise(out),
    }
    return out, report
