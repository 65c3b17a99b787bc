"""Hostile inputs to the commands around the scan, through `streamguard.cli.main` in-process: each is refused
with a message naming what and where (exit 2), or handled and reported, never a traceback or a silent pass."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml

from streamguard.cli import main

HEADER = "id,target,lexical_prob,lexical_pred\n"


def cli(tmp_path: Path, *args: str, params: dict | None = None) -> int:
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params or {"seed": 42}))
    return main(["--params", str(tmp_path / "params.yaml"), *args])


@contextmanager
def deadline(seconds: int) -> Iterator[None]:
    """Fail (TimeoutError) instead of hanging when the block blocks for `seconds`."""

    def hung(*_):
        raise TimeoutError(f"blocked for {seconds} s")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _predictions(folder: Path, text: str | bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "test_predictions.csv"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return folder


def _good(folder: Path) -> Path:
    return _predictions(folder, HEADER + "".join(f"f{i},{i % 2},0.{i % 9 + 1},{i % 2}\n" for i in range(20)))


@pytest.mark.parametrize("cell", ["nan", "7.5", "-0.1", "inf"])
def test_compare_rejects_a_probability_outside_0_1(tmp_path, monkeypatch, capsys, cell):
    monkeypatch.chdir(tmp_path)
    bad = _predictions(tmp_path / "b", HEADER + "f0,0,0.2,0\n" + f"f1,1,{cell},1\n")
    assert cli(tmp_path, "compare", str(_good(tmp_path / "a")), str(bad)) == 2
    err = capsys.readouterr().err
    assert f"b/test_predictions.csv:3: 'lexical_prob' must be a probability in [0, 1], got '{cell}'" in err


def test_compare_on_a_folder_without_predictions_names_the_folder(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "empty_run").mkdir()
    assert cli(tmp_path, "compare", str(_good(tmp_path / "a")), "empty_run") == 2
    err = capsys.readouterr().err
    assert "empty_run: a folder without test_predictions.csv" in err and "unknown Git revision" not in err


def test_compare_on_a_binary_csv_names_the_file(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    binary = _predictions(tmp_path / "bin", b"\x89PNG\r\n\x1a\n\xff\xfe\x00\x01")
    assert cli(tmp_path, "compare", str(_good(tmp_path / "a")), str(binary)) == 2
    err = capsys.readouterr().err
    assert f"{binary / 'test_predictions.csv'}: not valid UTF-8" in err and "UnicodeDecodeError" not in err


def test_summary_with_a_non_number_names_the_key(tmp_path, capsys):
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    values = {"accuracy": "0.6x", "accuracy_ci_low": 0.5, "accuracy_ci_high": 0.7}
    (metrics / "test.json").write_text(json.dumps({"n_test": 10, "n_test_vulnerable": 5, "lexical": values}))
    (metrics / "comparisons.json").write_text("{}")
    assert cli(tmp_path, "summary", "--metrics", str(metrics)) == 2
    err = capsys.readouterr().err
    assert f"{metrics / 'test.json'}: lexical.accuracy is '0.6x', not a number" in err and "TypeError" not in err


def test_predict_names_an_unsupported_extension(tmp_path, capsys):
    (tmp_path / "x.py").write_text("def f():\n    return 1\n")
    assert cli(tmp_path, "predict", str(tmp_path / "x.py"), "--models", str(tmp_path / "models")) == 2
    err = capsys.readouterr().err
    assert "x.py: unsupported extension '.py'" in err and ".cpp" in err and "malformed JSON" not in err


@pytest.mark.parametrize("model", ["gnn", "transformer"])
def test_more_training_processes_than_the_machine_has_are_refused(tmp_path, capsys, model):
    import os

    cores = len(os.sched_getaffinity(0))
    params = {model: {"nproc_per_node": 1000, "device": "cpu"}}
    assert cli(tmp_path, "train", model, "--processed", str(tmp_path / "none"), params=params) == 2
    err = capsys.readouterr().err
    assert "nproc_per_node: 1000 training processes asked for" in err and "starting" not in err
    assert (f"no GPU and {cores} CPU core(s)" in err) or "GPU(s)" in err


@pytest.mark.parametrize("size, expected", [("1600", "holds only 50 records"), ("0", "1 or more"), ("-5", "1 or more")])
def test_make_sample_refuses_a_size_the_input_cannot_give(tmp_path, capsys, size, expected):
    source = tmp_path / "small.jsonl"
    rows = [{"func": f"int f{i}(void) {{ return {i}; }}", "target": i % 2, "project": "p"} for i in range(50)]
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "sample.jsonl.gz"
    assert cli(tmp_path, "make-sample", str(source), "--out", str(out), "--size", size) == 2
    err = capsys.readouterr().err
    assert f"--size {size}: " in err and expected in err
    assert not out.exists()
