"""The folds stage assigns every training record its OOF fold once; the oof stages hold out what its file says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from conftest import SMALL_PARAMS

from streamguard import cli
from streamguard.data.folds import FoldsError, read_folds
from streamguard.data.records import read_split
from streamguard.data.split import assign_folds
from streamguard.params import params_from_dict
from streamguard.stages.folds import run_folds
from streamguard.stages.oof import run_oof

RAW = SMALL_PARAMS


def _held_out(tmp_path: Path, fold: int) -> set[str]:
    return set(json.loads((tmp_path / "oof" / "lexical" / f"fold_{fold}" / "fold.json").read_text())["held_out_ids"])


def _oof(tmp_path: Path, small_processed: Path, fold: int, folds_file: Path) -> dict:
    params = params_from_dict(RAW)
    graphs, out, ckpt = tmp_path / "graphs", tmp_path / "oof", tmp_path / "ckpt"
    return run_oof(
        "lexical", params, small_processed, graphs, out, folds_file=folds_file, checkpoints=ckpt, only_fold=fold
    )


def test_the_fold_file_holds_the_split_modules_assignment(tmp_path, small_processed):
    params = params_from_dict(RAW)
    written = run_folds(params, small_processed, tmp_path / "folds.json")
    expected = assign_folds(read_split(small_processed, "train"), 3, params.seed)
    assert written == expected and read_folds(tmp_path / "folds.json", 3, params.seed) == expected
    assert {r.id for r in read_split(small_processed, "train")} == set(expected) and set(expected.values()) == {0, 1, 2}


def test_the_oof_stage_holds_out_what_the_fold_file_says(tmp_path, small_processed):
    folds_file = tmp_path / "folds.json"
    fold_of = run_folds(params_from_dict(RAW), small_processed, folds_file)
    _oof(tmp_path, small_processed, 0, folds_file)
    assert _held_out(tmp_path, 0) == {i for i, f in fold_of.items() if f == 0}

    # a record moved into fold 0 in the file is held out by fold 0: the stage reads the file, computes nothing
    moved = next(i for i, f in sorted(fold_of.items()) if f == 1)
    content = json.loads(folds_file.read_text())
    content["fold_of"][moved] = 0
    folds_file.write_text(json.dumps(content))
    _oof(tmp_path, small_processed, 0, folds_file)
    assert _held_out(tmp_path, 0) == {i for i, f in fold_of.items() if f == 0} | {moved}


def test_a_missing_or_foreign_fold_file_stops_the_oof_stage(tmp_path, small_processed):
    folds_file = tmp_path / "folds.json"
    with pytest.raises(FoldsError, match=r"folds.json: no fold assignment file; rerun the folds stage"):
        _oof(tmp_path, small_processed, 0, folds_file)
    run_folds(params_from_dict({**RAW, "oof": {"folds": 4}}), small_processed, folds_file)
    with pytest.raises(FoldsError, match=r"assigns 4 folds with seed 42, but params say oof.folds=3"):
        _oof(tmp_path, small_processed, 0, folds_file)
    folds_file.write_text("{not json")
    with pytest.raises(FoldsError, match=r"folds.json: not a fold assignment file"):
        _oof(tmp_path, small_processed, 0, folds_file)
    assert not (tmp_path / "oof" / "lexical" / "fold_0").exists()


def test_folds_and_oof_commands_take_every_path_on_the_command_line(tmp_path, small_processed, capsys):
    params_file = tmp_path / "params.yaml"
    params_file.write_text(yaml.safe_dump(RAW))
    folds_file = tmp_path / "elsewhere" / "folds.json"
    common = ["--params", str(params_file)]
    assert cli.main([*common, "folds", "--processed", str(small_processed), "--out", str(folds_file)]) == 0
    argv = [*common, "oof", "lexical", "1", "--processed", str(small_processed), "--folds", str(folds_file)]
    argv += ["--checkpoints", str(tmp_path / "ckpt"), "--out", str(tmp_path / "oof")]
    assert cli.main(argv) == 0
    fold_of = json.loads(folds_file.read_text())["fold_of"]
    assert _held_out(tmp_path, 1) == {i for i, f in fold_of.items() if f == 1}
    folds_file.unlink()
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{folds_file}: no fold assignment file" in err and "Traceback" not in err
