"""Bad input gets a clear error naming file, line and field — through the real CLI."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import function_records_jsonl

from streamguard.cli import main
from streamguard.data.records import Record, RecordError, parse_record, read_records, record_id, write_records
from streamguard.data.split import drop_exact_duplicates


def _run_download(tmp_path, lines: bytes, capsys):
    data = tmp_path / "bad.jsonl"
    data.write_bytes(lines)
    params = tmp_path / "params.yaml"
    params.write_text(yaml.safe_dump({"data": {"source": "devign", "path": str(data)}}))
    code = main(["--params", str(params), "download", "--out", str(tmp_path / "raw")])
    return code, capsys.readouterr().err.replace("\n", "")


GOOD = json.dumps({"func": "int f(void) { return 0; }", "target": 0, "project": "qemu"}).encode() + b"\n"


@pytest.mark.parametrize(
    "bad_line, expected",
    [
        (b'{"func": "int f() {}", "target": 1\n', "malformed JSON"),
        (b'{"target": 1, "project": "qemu"}\n', "missing required field 'func'"),
        (b'{"func": "int f() {}", "target": 2}\n', "field 'target' must be 0 or 1, got 2"),
        (b'{"func": "int f() {}", "target": "yes"}\n', "field 'target' must be 0 or 1"),
        (b'{"func": "int f() { char c = \'\xff\'; }", "target": 1}\n', "not valid UTF-8"),
        (b'{"func": "   \\n  ", "target": 1}\n', "field 'func' is empty"),
    ],
)
def test_bad_record_is_a_clear_error_naming_file_and_line(tmp_path, capsys, bad_line, expected):
    code, err = _run_download(tmp_path, GOOD + bad_line, capsys)
    assert code == 2
    assert expected in err
    assert "bad.jsonl:2" in err
    assert "Traceback" not in err
    assert not (tmp_path / "raw" / "records.jsonl").exists()


def test_good_file_downloads_with_manifest(tmp_path, capsys):
    code, _ = _run_download(tmp_path, function_records_jsonl(12), capsys)
    assert code == 0
    manifest = json.loads((tmp_path / "raw" / "manifest.json").read_text())
    assert manifest["records"] == 12 and len(manifest["outputs"]["records.jsonl"]) == 64
    first = next(read_records(tmp_path / "raw" / "records.jsonl"))
    assert first.origin == f"{tmp_path / 'bad.jsonl'}:1"  # provenance: the source file and line


def test_sample_manifest_is_the_same_in_every_checkout(tmp_path):
    # the manifest is part of a DVC output: a checkout-specific absolute path would give every
    # clone its own data/raw hash and re-run everything downstream of it
    from streamguard.data.download import SAMPLE_PATH
    from streamguard.params import params_from_dict
    from streamguard.stages.download import run_download

    manifest = run_download(params_from_dict({"data": {"source": "sample"}}), tmp_path / "raw")
    assert list(manifest["inputs"]) == ["data/sample/devign_sample.jsonl.gz"]
    assert str(SAMPLE_PATH.parent) not in (tmp_path / "raw" / "manifest.json").read_text()


def test_records_sharing_ids_are_all_kept_through_download_and_preprocess(tmp_path, capsys):
    """1,600 different functions under 10 ids: every one reaches the splits, each with its own id."""
    code, err = _run_download(tmp_path, function_records_jsonl(1600, ids=10), capsys)
    assert code == 0, err
    params = tmp_path / "params.yaml"
    code = main(
        [
            "--params",
            str(params),
            "preprocess",
            "--raw",
            str(tmp_path / "raw"),
            "--out",
            str(tmp_path / "processed"),
            "--collected",
            str(tmp_path / "none"),
        ]
    )
    assert code == 0, capsys.readouterr().err
    report = json.loads((tmp_path / "processed" / "report.json").read_text())
    assert report["exact_duplicates_dropped"] == 0
    assert sum(v["records"] for v in report["splits"].values()) == 1600
    kept = [r for split in ("train", "valid", "test") for r in read_records(tmp_path / "processed" / f"{split}.jsonl")]
    assert len({r.id for r in kept}) == 1600 == len({r.func for r in kept})
    assert all(r.id == record_id(r.func, r.project, r.target) for r in kept)
    assert {str(r.origin).rsplit(" id=", 1)[1] for r in kept} == {f"shared-{k}" for k in range(10)}  # source id kept


def test_one_id_on_two_functions_in_a_stage_file_names_both_lines(tmp_path, capsys):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "records.jsonl").write_bytes(GOOD + function_records_jsonl(30, ids=29))  # line 2 and line 31 share an id
    params = tmp_path / "params.yaml"
    params.write_text("seed: 1\n")
    code = main(
        [
            "--params",
            str(params),
            "preprocess",
            "--raw",
            str(raw),
            "--out",
            str(tmp_path / "processed"),
            "--collected",
            str(tmp_path / "none"),
        ]
    )
    err = capsys.readouterr().err.replace("\n", "")
    assert code == 2
    assert "records.jsonl:31" in err and "records.jsonl:2 " in err and "shared-0" in err
    assert not (tmp_path / "processed" / "train.jsonl").exists()


def test_exact_duplicates_are_found_by_content_not_by_id():
    a = Record(func="int a(void) { return 1; }", target=1, project="p")
    copy = Record(func=a.func, target=1, project="p", id="another-id")
    b = Record(func="int b(void) { return 2; }", target=0, project="p", id=a.id)
    kept, dropped = drop_exact_duplicates([a, copy])
    assert (len(kept), dropped) == (1, 1)
    with pytest.raises(RecordError, match="names two different functions"):
        drop_exact_duplicates([a, b])


def test_devign_function_json_array_is_read(tmp_path):
    from streamguard.data.download import read_devign

    path = tmp_path / "function.json"
    path.write_text(json.dumps([{"project": "FFmpeg", "commit_id": "abc", "target": 1, "func": "void g() {}"}]))
    (rec,) = list(read_devign(path))
    assert (rec.project, rec.commit, rec.target) == ("FFmpeg", "abc", 1)


def test_unknown_params_key_names_the_key(tmp_path, capsys):
    params = tmp_path / "params.yaml"
    params.write_text("transformer:\n  learnin_rate: 0.1\n")
    code = main(["--params", str(params), "download", "--out", str(tmp_path / "raw")])
    err = capsys.readouterr().err
    assert code == 2
    assert "transformer.learnin_rate" in err and "did you mean 'learning_rate'" in err


def test_mistyped_params_value_is_an_error(tmp_path):
    from streamguard.params import ParamsError, params_from_dict

    with pytest.raises(ParamsError, match="gnn.epochs"):
        params_from_dict({"gnn": {"epochs": "three"}})
    with pytest.raises(ParamsError, match="fusion.stacker"):
        params_from_dict({"fusion": {"stacker": "xgboost"}})
    with pytest.raises(ParamsError, match="data.path"):
        params_from_dict({"data": {"source": "devign"}})


def test_repo_params_yaml_is_valid_and_complete():
    """params.yaml states every key, so `dvc params diff` shows every change."""
    from conftest import REPO

    from streamguard.params import dump_defaults, load_params

    load_params(REPO / "params.yaml")
    raw = yaml.safe_load((REPO / "params.yaml").read_text())
    for section, values in dump_defaults().items():
        if isinstance(values, dict):
            missing = set(values) - set(raw.get(section, {}))
            assert not missing, f"params.yaml section {section} lacks {missing}"


def test_round_trip_and_stable_ids(tmp_path, sample_records):
    path = tmp_path / "r.jsonl.gz"
    write_records(path, sample_records[:50])
    again = list(read_records(path))
    assert [r.to_dict() for r in again] == [r.to_dict() for r in sample_records[:50]]
    assert parse_record({"func": "x", "target": 1}, "w").id == parse_record({"func": "x", "target": 1}, "w").id
    with pytest.raises(RecordError, match="confidence"):
        parse_record({"func": "x", "target": 1, "confidence": 0}, "w")
