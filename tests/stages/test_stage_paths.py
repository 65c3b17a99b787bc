"""A stage reads and writes only the paths its command line names: nothing lands in the working directory."""

from __future__ import annotations

from pathlib import Path

import yaml
from conftest import SMALL_PARAMS

from streamguard import cli


def _params_file(tmp_path: Path, raw: dict) -> str:
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return str(path)


def test_train_writes_its_checkpoints_where_the_command_line_says(tmp_path, small_processed, monkeypatch):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)  # an empty working directory, to see that nothing is written there
    checkpoints, out = tmp_path / "ck", tmp_path / "models" / "lexical"
    argv = ["--params", _params_file(tmp_path, SMALL_PARAMS), "train", "lexical", "--processed", str(small_processed)]
    assert cli.main([*argv, "--checkpoints", str(checkpoints), "--out", str(out)]) == 0
    assert (checkpoints / ".lexical.lock").exists() and (out / "predictions.jsonl").exists()
    assert list(cwd.iterdir()) == []


def test_train_reads_the_pretrained_model_from_the_command_line(tmp_path, small_processed, capsys):
    params = _params_file(tmp_path, {**SMALL_PARAMS, "transformer": {"init": "pretrain", "epochs": 1}})
    pretrained = tmp_path / "elsewhere" / "pretrain"
    argv = ["--params", params, "train", "transformer", "--processed", str(small_processed)]
    argv += ["--pretrained", str(pretrained), "--checkpoints", str(tmp_path / "ck"), "--out", str(tmp_path / "t")]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"transformer.init is 'pretrain' but {pretrained / 'hf'} holds no model" in " ".join(err.split())
    assert "Traceback" not in err
