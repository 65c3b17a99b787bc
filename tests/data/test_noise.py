"""Noise rules and the leakage guard for collected records."""

from __future__ import annotations

import pytest

from streamguard.data.noise import (
    HEURISTICS,
    confidence_for,
    dedupe,
    merge_collected,
    screen_functions,
    screen_pairs,
)
from streamguard.data.records import Record, RecordError
from streamguard.params import CollectParams, Params, params_from_dict

BODY = "int f(char *d, const char *s)\n{\n    size_t n = strlen(s);\n    memcpy(d, s, n);\n    d[n] = 0;\n    return (int)n;\n}\n"
FIXED = BODY.replace("    memcpy", "    if (n >= 64)\n        return -1;\n    memcpy")


def rec(func: str, target: int, source: str = "git", confidence: float = 0.3, **kw) -> Record:
    return Record(func=func, target=target, source=source, confidence=confidence, project="p", **kw)


def test_confidence_mapping_follows_params():
    collect = CollectParams()
    assert dict(zip(HEURISTICS, (confidence_for(h, collect) for h in HEURISTICS))) == {
        "advisory_exploit": 1.0,
        "advisory": 0.3,
        "git_exploit": 1.0,
        "git": 0.3,
        "juliet": 0.3,
        "synthetic": 0.1,
        "triage": 1.0,
    }
    custom = params_from_dict({"collect": {"confidence_synthetic": 0.05}}).collect
    assert confidence_for("synthetic", custom) == 0.05
    with pytest.raises(ValueError, match="unknown confidence heuristic"):
        confidence_for("vibes", collect)


def test_confidence_params_are_range_checked():
    from streamguard.params import ParamsError

    with pytest.raises(ParamsError, match="collect.confidence_git' must be in \\(0, 1\\]"):
        params_from_dict({"collect": {"confidence_git": 0}})
    with pytest.raises(ParamsError, match="unknown key 'collect.confidence_gti'"):
        params_from_dict({"collect": {"confidence_gti": 0.3}})


def test_screen_pairs_rules():
    collect = CollectParams(min_function_tokens=15, max_function_tokens=60)
    reformatted = BODY.replace("    memcpy(d, s, n);", "    /* copy */\n    memcpy(d,\n           s, n);")
    long_fixed = FIXED.replace("    return (int)n;", "    return (int)n;\n" + "    n++;\n" * 30)
    pairs = [
        (rec(BODY, 1), rec(FIXED, 0)),  # kept
        (rec(BODY, 1), rec(reformatted, 0)),  # whitespace/comments only
        (rec("int g(void) { return 1; }", 1), rec("int g(void) { return 2; }", 0)),  # too short
        (rec(BODY, 1), rec(long_fixed, 0)),  # fixed side too long: the pair goes
    ]
    kept, dropped = screen_pairs(pairs, collect)
    assert [r.func for r in kept] == [BODY, FIXED]
    assert dropped == {"unchanged": 1, "too_short": 1, "too_long": 1}


def test_screen_functions_length():
    kept, dropped = screen_functions([rec(BODY, 1), rec("void g(void) { }", 0)], CollectParams(min_function_tokens=10))
    assert [r.func for r in kept] == [BODY] and dropped == {"too_short": 1}


def test_dedupe_keeps_highest_confidence_and_drops_conflicts():
    spaced = BODY.replace("\n", "\n\n")
    records = [
        rec(BODY, 1, source="git", confidence=0.3),
        rec(spaced, 1, source="nvd", confidence=1.0),  # same text after normalisation
        rec(FIXED, 0, source="git"),
        rec(FIXED, 1, source="osv"),  # same text, other label
        rec("int other(void) { return 0; }", 0),
    ]
    kept, dropped = dedupe(records)
    assert [r.source for r in kept] == ["nvd", "git"]
    assert kept[0].confidence == 1.0
    assert dropped == {"duplicate": 1, "label_conflict": 2}


def test_merge_collected_leakage_guard_and_report():
    train = [rec("int t(void) { return 1; }", 0, source="devign")]
    valid = [rec("int v(void) { return 2; }", 1, source="devign")]
    test = [rec("int s(void) { return 3; }", 0, source="devign")]
    collected = [
        rec("int  v(void)\n{ return 2; }", 1, cwe="CWE-787"),  # = a valid function: leakage
        rec("int s(void) {\n  return 3;\n}", 1),  # = a test function (other label even): leakage
        rec("int t(void) { return 1; }", 1),  # already in train
        rec(BODY, 1, source="nvd", confidence=1.0, cwe="CWE-787"),
        rec(FIXED, 0, source="nvd", confidence=1.0, cwe="CWE-787"),
        rec(FIXED, 0, source="synthetic", confidence=0.1),  # cross-source duplicate
    ]
    kept, report = merge_collected(train, valid, test, collected, Params())
    assert [r.func for r in kept] == [BODY, FIXED]
    assert all(r.split == "train" for r in kept)
    assert [r.confidence for r in kept] == [1.0, 1.0]
    assert report["leakage_blocked"] == 2
    assert report["dropped"] == {"leakage_valid": 1, "leakage_test": 1, "duplicate_of_train": 1, "duplicate": 1}
    assert report["kept_summary"]["by_source"] == {"nvd": 2}
    assert report["kept_summary"]["by_cwe"] == {"CWE-787": 2}
    assert report["kept_summary"]["by_confidence"] == {"1": 2}
    assert collected[3].split is None  # inputs are not mutated
    # nothing collected shares a normalised text with valid or test
    held_out = {r.dup_key for r in valid + test}
    assert not any(r.dup_key in held_out for r in kept)


def test_merge_collected_rejects_bad_confidence():
    bad = rec(BODY, 1)
    bad.confidence = 1.5
    with pytest.raises(RecordError, match="confidence 1.5 is outside"):
        merge_collected([], [], [], [bad], Params())
