"""Synthetic template pairs: seeded, varied, parseable, one pair differing only at the flaw."""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "fixtures" / "collect"))
import tree_sitter_c  # noqa: E402
from collect_loopback import collect_params  # noqa: E402
from tree_sitter import Language, Parser  # noqa: E402

from streamguard.c.functions import extract_functions  # noqa: E402
from streamguard.data.collectors.synthetic import TEMPLATES, generate_pairs  # noqa: E402
from streamguard.data.records import read_records  # noqa: E402
from streamguard.stages.collect import run_collect  # noqa: E402

REQUIRED_CWES = {"CWE-121", "CWE-787", "CWE-134", "CWE-190", "CWE-416", "CWE-415", "CWE-476", "CWE-78", "CWE-401"}


def test_same_seed_same_pairs_other_seed_other_pairs():
    a = generate_pairs(30, seed=5, confidence=0.1)
    b = generate_pairs(30, seed=5, confidence=0.1)
    c = generate_pairs(30, seed=6, confidence=0.1)
    assert [(v.func, f.func) for v, f in a] == [(v.func, f.func) for v, f in b]
    assert [v.func for v, _ in a] != [v.func for v, _ in c]


def test_every_cwe_and_template_is_covered():
    pairs = generate_pairs(len(TEMPLATES) * 3, seed=1, confidence=0.1)
    assert {v.cwe for v, _ in pairs} == REQUIRED_CWES
    assert Counter(v.cwe for v, _ in pairs)["CWE-78"] == 3  # templates taken in turn


def test_pairs_are_well_formed_c_and_differ():
    parser = Parser(Language(tree_sitter_c.language()))
    for vulnerable, fixed in generate_pairs(90, seed=11, confidence=0.1):
        assert (vulnerable.target, fixed.target) == (1, 0)
        assert vulnerable.cwe == fixed.cwe and vulnerable.origin == fixed.origin
        assert vulnerable.func != fixed.func
        for func in (vulnerable.func, fixed.func):
            tree = parser.parse(func.encode())
            assert not tree.root_node.has_error, func
            (only,) = extract_functions(func)
            assert only.text.strip() == func.strip()
        # same function: same name on both sides
        assert extract_functions(vulnerable.func)[0].name == extract_functions(fixed.func)[0].name


def test_variation_keeps_texts_distinct():
    pairs = generate_pairs(400, seed=1337, confidence=0.1)
    names = {extract_functions(v.func)[0].name for v, _ in pairs}
    texts = {v.dup_key for v, _ in pairs} | {f.dup_key for _, f in pairs}
    assert len(names) > 150
    assert len(texts) > 0.95 * 800


def test_run_collect_synthetic(tmp_path):
    report = run_collect("synthetic", collect_params(tmp_path, synthetic_pairs=45, synthetic_seed=3), tmp_path / "out")
    records = list(read_records(tmp_path / "out" / "synthetic.jsonl"))
    assert report["status"] == "ok" and report["records"] == len(records)
    assert report["by_target"]["0"] == report["by_target"]["1"]
    assert {r.confidence for r in records} == {0.1}
    assert {r.source for r in records} == {"synthetic"}
    assert set(report["by_cwe"]) == REQUIRED_CWES
    # each vulnerable record and its fix share one pair id, which no other record carries
    members: dict = {}
    for rec in records:
        members.setdefault(rec.pair, []).append(rec.target)
    assert None not in members and len(members) == 45
    assert all(sorted(targets) == [0, 1] for targets in members.values())
