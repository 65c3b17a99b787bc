"""data.split: cross_project — whole projects (raw or collected repositories) held out as the test split."""

from __future__ import annotations

from collections import Counter

import pytest

from streamguard.data.collectors.synthetic import generate_pairs
from streamguard.data.preprocess import preprocess_records
from streamguard.data.records import Record, link_pair, read_split, write_records
from streamguard.errors import StreamGuardError
from streamguard.params import params_from_dict
from streamguard.stages.preprocess import run_preprocess


def cross(test_projects: list[str], **data) -> object:
    return params_from_dict({"data": {"split": "cross_project", "test_projects": test_projects, **data}})


def test_held_out_project_is_the_whole_test_split(sample_records):
    records = [Record(**r.to_dict()) for r in sample_records]
    qemu = next(r for r in records if r.project == "qemu")
    # the same function, reformatted, under the other project: it must not train the model tested on qemu
    records.append(Record(func=qemu.func.replace("\n", "\n  "), target=qemu.target, project="FFmpeg"))
    out, report = preprocess_records(records, cross(["QEMU"]))  # names match in any case
    by_split = {s: Counter(r.project for r in out if r.split == s) for s in ("train", "valid", "test")}
    assert set(by_split["test"]) == {"qemu"} and by_split["test"]["qemu"] == sum(r.project == "qemu" for r in records)
    assert set(by_split["train"]) == set(by_split["valid"]) == {"FFmpeg"}
    assert report["copies_of_test_projects_dropped"] == 1
    assert qemu.dup_key not in {r.dup_key for r in out if r.split != "test"}
    assert 0.07 < sum(by_split["valid"].values()) / (len(out) - sum(by_split["test"].values())) < 0.13


def _collected(project: str, count: int, seed: int) -> list[Record]:
    records = []
    for vulnerable, fixed in generate_pairs(count, seed, 0.3):
        vulnerable.project = fixed.project = project
        vulnerable.source = fixed.source = "git"
        records.extend(link_pair(Record(**vulnerable.to_dict()), Record(**fixed.to_dict())))
    return records


def test_phase2_holds_out_collected_repositories_as_test_pairs(tmp_path, sample_records):
    write_records(tmp_path / "raw" / "records.jsonl", sample_records[:400])
    held, other = _collected("libdemo", 30, seed=1), _collected("otherlib", 30, seed=2)
    train_copy = Record(func=sample_records[0].func, target=sample_records[0].target, project="libdemo")
    write_records(tmp_path / "collected" / "git.jsonl", held + other + [train_copy])
    params = cross(["libdemo"], phase=2)
    report = run_preprocess(params, tmp_path / "raw", tmp_path / "out", tmp_path / "collected")
    test = read_split(tmp_path / "out", "test")
    train = read_split(tmp_path / "out", "train")
    assert {r.project for r in test} == {"libdemo"}
    assert "libdemo" not in {r.project for r in train} and "otherlib" in {r.project for r in train}
    pairs = Counter(r.pair for r in test)
    assert len(pairs) == report["held_out_collected"]["pairs"] > 20 and set(pairs.values()) == {2}
    assert report["held_out_collected"]["in_train_or_valid"] == 1  # the copy of a Devign function
    assert sample_records[0].dup_key not in {r.dup_key for r in test}


def test_a_test_project_no_record_carries_is_an_error(sample_records):
    from streamguard.data.preprocess import require_test_projects_present

    records = [Record(**r.to_dict()) for r in sample_records[:200]]
    params = cross(["qemu", "QEMUU"])
    out, _ = preprocess_records(records, params)
    with pytest.raises(StreamGuardError, match=r"test_projects names QEMUU, which no record carries .*FFmpeg, qemu"):
        require_test_projects_present([r for r in out if r.split == "test"], out, params)
