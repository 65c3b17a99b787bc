"""Duplicate-aware split, conflict policy, folds and trimming on real sample records."""

from __future__ import annotations

from collections import Counter

from streamguard.data.preprocess import preprocess_records
from streamguard.data.records import Record
from streamguard.data.split import assign_folds, group_by_dup_key, straddling_duplicates
from streamguard.data.trim import trim_to_budget
from streamguard.params import params_from_dict


def _with_duplicates(records):
    """Add reformatted copies (same text up to whitespace) of 100 records."""
    copies = [Record(func=r.func.replace("\n", "\n\n  "), target=r.target, project=r.project) for r in records[:100]]
    return records + copies


def test_duplicates_never_straddle_and_split_is_stratified(sample_records):
    records = _with_duplicates([Record(**r.to_dict()) for r in sample_records])
    params = params_from_dict({})
    out, report = preprocess_records(records, params)
    assert report["straddling_duplicate_groups"] == 0 == straddling_duplicates(out)
    sizes = Counter(r.split for r in out)
    assert abs(sizes["test"] / len(out) - 0.1) < 0.02 and abs(sizes["valid"] / len(out) - 0.1) < 0.02
    rate = {s: sum(r.target for r in out if r.split == s) / sizes[s] for s in sizes}
    assert max(rate.values()) - min(rate.values()) < 0.05
    again, _ = preprocess_records(_with_duplicates([Record(**r.to_dict()) for r in sample_records]), params)
    assert [(r.id, r.split) for r in again] == [(r.id, r.split) for r in out]


def test_label_conflicts_drop_and_majority(sample_records):
    base = sample_records[0]
    clash = [
        Record(func=base.func, target=1 - base.target, project="other"),
        Record(func=base.func + " ", target=base.target, project="third"),
    ]
    records = [Record(**r.to_dict()) for r in sample_records[:200]] + clash
    dropped, report = preprocess_records([Record(**r.to_dict()) for r in records], params_from_dict({}))
    assert report["label_conflicts"]["records_dropped"] == 3
    assert base.dup_key not in {r.dup_key for r in dropped}
    kept, report = preprocess_records(records, params_from_dict({"data": {"label_conflicts": "majority"}}))
    assert report["label_conflicts"]["records_dropped"] == 1
    assert {r.target for r in kept if r.dup_key == base.dup_key} == {base.target}


def test_official_split_is_kept_and_straddling_reported():
    recs = [
        Record(func="int a;", target=0, split="train", project="p"),
        Record(func="int  a;", target=0, split="test", project="q"),
        Record(func="int b;", target=1, split="valid"),
    ]
    out, report = preprocess_records(recs, params_from_dict({}))
    assert {r.split for r in out} == {"train", "test", "valid"}
    assert report["straddling_duplicate_groups"] == 1


def test_folds_group_duplicates(sample_records):
    records = _with_duplicates(list(sample_records))
    folds = assign_folds(records, 5, seed=1)
    assert set(folds.values()) == set(range(5))
    for group in group_by_dup_key(records).values():
        assert len({folds[r.id] for r in group}) == 1


def test_trim_keeps_signature_and_dangerous_window():
    body = "".join(f"    x{i} = {i};\n" for i in range(200))
    func = "int f(char *src, int n)\n{\n" + body + "    memcpy(dst, src, n);\n" + body + "}\n"
    result = trim_to_budget(func, 400)
    assert result.trimmed and result.how == "window"
    assert result.text.startswith("int f(char *src, int n)\n{")
    assert "memcpy(dst, src, n);" in result.text and len(result.text) <= 400
    plain = "int g(void)\n{\n" + body + "}\n"
    head = trim_to_budget(plain, 300)
    assert head.how == "head" and "x0 = 0;" in head.text
