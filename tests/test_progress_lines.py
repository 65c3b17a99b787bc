"""Progress in every log: where stderr is not a terminal, long steps print plain progress lines.

The training loop's line is the one metric definitions parse (progress.TRAINING_LINE and
METRIC_REGEXES); on a terminal the live bar stays and no plain line is printed.
"""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console

from streamguard.cli import main
from streamguard.errors import StreamGuardError
from streamguard.progress import INTERVAL_ENV, METRIC_REGEXES, TRAINING_LINE, StepLines, line_interval

HERE = Path(__file__).parent
TINY_STEPS = 24  # tiny_training.CFG: 96 items, batch 8, 2 epochs


def _tiny_training_cmd(tmp_path: Path) -> list[str]:
    return [sys.executable, str(HERE / "tiny_training.py"), str(tmp_path / "out"), str(tmp_path / "ckpt"), "0"]


def _env(**extra: str) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(HERE.parent / "src"), **extra}


@pytest.mark.slow
@pytest.mark.integration
def test_training_into_a_pipe_prints_a_line_per_interval_that_metric_regexes_parse(tmp_path):
    run = subprocess.run(
        _tiny_training_cmd(tmp_path),
        capture_output=True,  # stdout and stderr are pipes
        text=True,
        env=_env(**{INTERVAL_ENV: "0"}),
        timeout=600,
    )
    assert run.returncode == 0, run.stderr
    lines = [line for line in run.stderr.splitlines() if " step " in line]
    full = re.compile(rf"tiny {TRAINING_LINE.pattern}")
    matches = [full.fullmatch(line) for line in lines]
    assert all(matches), lines
    parsed = [m.groupdict() for m in matches if m]
    assert [int(p["step"]) for p in parsed] == list(range(1, TINY_STEPS + 1))  # interval 0: every step
    assert {int(p["total"]) for p in parsed} == {TINY_STEPS}
    assert [int(p["epoch"]) for p in parsed] == [1] * (TINY_STEPS // 2) + [2] * (TINY_STEPS // 2)
    assert int(parsed[-1]["eta_s"]) == 0 and all(float(p["samples_per_s"]) > 0 for p in parsed)
    assert all(0.3 < float(p["loss"]) < 1.5 for p in parsed)  # a binary cross-entropy near ln 2
    field = {
        "train:step": "step",
        "train:epoch": "epoch",
        "train:loss": "loss",
        "train:samples_per_second": "samples_per_s",
        "train:eta_seconds": "eta_s",
    }
    assert set(METRIC_REGEXES) == set(field)
    for name, regex in METRIC_REGEXES.items():  # one group each, the line's number on every line
        for line, p in zip(lines, parsed):
            found = re.search(regex, line)
            assert found and len(found.groups()) == 1, (name, line)
            assert float(found.group(1)) == float(p[field[name]])


@pytest.mark.slow
@pytest.mark.integration
def test_training_on_a_terminal_draws_the_bar_and_no_plain_lines(tmp_path):
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        _tiny_training_cmd(tmp_path),
        stdout=follower,
        stderr=follower,
        env=_env(**{INTERVAL_ENV: "0", "TERM": "xterm", "COLUMNS": "200"}),
    )
    os.close(follower)
    shown = b""
    while True:  # read until the child closes the terminal
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        shown += chunk
    os.close(leader)
    assert proc.wait(timeout=600) == 0
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown.decode("utf-8", "replace"))  # without colours
    assert "tiny epoch 2:" in text  # the run's output did reach the terminal
    assert "━" in text and f"{TINY_STEPS}/{TINY_STEPS}" in text  # rich's live bar with its M/N column
    assert not TRAINING_LINE.search(text)


def test_lines_keep_a_steady_interval():
    now = [0.0]
    out = io.StringIO()
    lines = StepLines(
        "t", total_steps=10, enabled=True, interval_s=30, clock=lambda: now[0], out=Console(file=out, width=40)
    )
    for step in range(1, 11):
        now[0] = 12.0 * step  # 12 s a step: a line at step 1, then each time 30 s have passed, and the last
        lines.batch(step - 1, 1, 0.5, 4)  # two batches per optimizer step: the first ends before it
        lines.batch(step, 1, 0.7, 4)  # the second completes it
    printed = [TRAINING_LINE.search(line) for line in out.getvalue().splitlines()]
    assert all(printed), out.getvalue()  # whole lines, never wrapped at the console's width (40 here)
    assert [int(m["step"]) for m in printed if m] == [1, 4, 7, 10]
    first, second = (m for m in printed[:2] if m)
    assert float(first["loss"]) == pytest.approx(0.6) and int(first["eta_s"]) == 108  # 9 steps x 12 s
    assert float(second["samples_per_s"]) == pytest.approx(24 / 36, abs=0.05)  # 3 steps x 8 samples in 36 s


def test_lines_stay_silent_where_a_bar_is_drawn():
    out = io.StringIO()
    lines = StepLines("t", total_steps=3, enabled=False, interval_s=0, out=Console(file=out))
    for step in (1, 2, 3):
        lines.batch(step, 1, 0.5, 4)
    assert out.getvalue() == ""


@pytest.mark.parametrize("value", ["soon", "-1", "nan"])
def test_a_bad_interval_says_which_variable_and_what_to_set(monkeypatch, value):
    monkeypatch.setenv(INTERVAL_ENV, value)
    with pytest.raises(StreamGuardError, match=rf"{INTERVAL_ENV}=.*set it to 0 or more"):
        line_interval()


def test_scan_into_a_log_prints_plain_progress_lines(tmp_path, trained, capsys, monkeypatch):
    monkeypatch.setenv(INTERVAL_ENV, "0")
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(3):
        (tree / f"f{i}.c").write_text(trained["high"][0] + "\n")
    code = main(["--params", str(trained["params"]), "scan", "--models", str(trained["models"]), str(tree)])
    assert code == 0
    err = capsys.readouterr().err
    progress = [line for line in err.splitlines() if line.startswith("scan ")]
    assert progress, err
    assert all(re.fullmatch(r"scan \d+/3 .*elapsed \d+s( eta \d+s)?", line) for line in progress), progress
    assert progress[-1].startswith("scan 3/3 ")
