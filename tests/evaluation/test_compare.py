"""`streamguard compare` between DVC experiments and between commits, in a temp git+DVC repo.

The repo's single stage writes metrics/test_predictions.csv from the `seed`
param: 80 test functions, target = i % 2, lexical wrong exactly where
i % (seed + 2) == 0, and a gnn column only when seed >= 2. So seed 1 vs seed 2
has known answers: accuracy 53/80 vs 60/80; B (seed 2) alone right on
multiples of 3 that are not multiples of 4 (20), A alone on multiples of 4
that are not multiples of 3 (13).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import scipy.stats

from streamguard.evaluation.compare import parse_predictions_csv, run_compare
from streamguard.evaluation.errors import EvaluationError
from streamguard.params import params_from_dict

WRITER = textwrap.dedent(
    """
    import pathlib, yaml
    seed = yaml.safe_load(open("params.yaml"))["seed"]
    models = ["lexical"] + (["gnn"] if seed >= 2 else [])
    rows = ["id,target," + ",".join(f"{m}_prob,{m}_pred" for m in models)]
    for i in range(80):
        target = i % 2
        lexical = 1 - target if i % (seed + 2) == 0 else target
        cells = [f"fn{i:03d}", str(target), f"{0.9 if lexical else 0.1}", str(lexical)]
        if "gnn" in models:
            cells += [f"{0.8 if target else 0.2}", str(target)]
        rows.append(",".join(cells))
    pathlib.Path("metrics").mkdir(exist_ok=True)
    pathlib.Path("metrics/test_predictions.csv").write_text("\\n".join(rows) + "\\n")
    """
)
PARAMS_YAML = "seed: {seed}\nevaluate:\n  bootstrap_resamples: 200\n  seed: 0\n"


def _run(*args: str, cwd: Path) -> str:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True)
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _dvc(*args: str, cwd: Path) -> None:
    # in-process: a fresh `dvc` interpreter costs about a second per command
    from dvc.cli import main as dvc_main

    previous = os.getcwd()
    os.chdir(cwd)
    try:
        assert dvc_main(list(args)) == 0, f"dvc {' '.join(args)} failed"
    finally:
        os.chdir(previous)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("compare_repo")
    _run("git", "init", "-q", "-b", "main", cwd=root)
    _run("git", "config", "user.email", "test@example.com", cwd=root)
    _run("git", "config", "user.name", "test", cwd=root)
    _dvc("init", "-q", cwd=root)
    (root / "write_predictions.py").write_text(WRITER)
    (root / "params.yaml").write_text(PARAMS_YAML.format(seed=1))
    # the predictions file is a cached DVC output, the harder case for dvc.api.open
    (root / "dvc.yaml").write_text(
        "stages:\n"
        "  evaluate:\n"
        f"    cmd: {sys.executable} write_predictions.py\n"
        "    params: [seed]\n"
        "    deps: [write_predictions.py]\n"
        "    outs: [metrics/test_predictions.csv]\n"
    )
    _dvc("repro", "-q", cwd=root)
    _run("git", "add", ".", cwd=root)
    _run("git", "commit", "-q", "-m", "seed 1", cwd=root)
    _dvc("exp", "run", "-q", "-S", "seed=1", "-n", "exp-seed1", cwd=root)
    _dvc("exp", "run", "-q", "-S", "seed=2", "-n", "exp-seed2", cwd=root)
    # a second commit, seed 2, made by hand; the workspace ends at seed 2 as well
    (root / "params.yaml").write_text(PARAMS_YAML.format(seed=2))
    _dvc("repro", "-q", cwd=root)
    _run("git", "add", ".", cwd=root)
    _run("git", "commit", "-q", "-m", "seed 2", cwd=root)
    return root


def _settings():
    return params_from_dict({"evaluate": {"bootstrap_resamples": 200, "seed": 0}})


def test_compare_two_dvc_experiments(repo, capsys):
    # DVC experiments are git refs under refs/exps, which is why their names resolve as revisions
    refs = _run("git", "for-each-ref", "--format=%(refname:lstrip=-1)", "refs/exps", cwd=repo)
    assert {"exp-seed1", "exp-seed2"} <= set(refs.split())
    text = run_compare("exp-seed1", "exp-seed2", repo=str(repo), markdown=True, params=_settings())
    assert text == capsys.readouterr().out
    lexical = next(line for line in text.splitlines() if line.startswith("| lexical |"))
    cells = [c.strip() for c in lexical.strip("|").split("|")]
    assert cells[1:3] == [f"{53 / 80:.3f}", f"{60 / 80:.3f}"]  # accuracy A, B
    assert cells[3].startswith(f"{60 / 80 - 53 / 80:+.3f} [")
    assert cells[7] == "20 / 13"
    assert cells[8] == f"{scipy.stats.binomtest(20, 33).pvalue:.3g}"
    assert "Only in B, not compared: gnn." in text
    assert "80 test functions in both" in text


def test_compare_two_commits_and_the_workspace(repo, capsys):
    text = run_compare("HEAD~1", "HEAD", repo=str(repo), markdown=True, params=_settings())
    assert "| lexical | 0.662 | 0.750 |" in text
    # the workspace equals HEAD: every difference is zero and nothing is discordant
    text = run_compare("HEAD", "workspace", repo=str(repo), markdown=True, params=_settings())
    assert "| +0.000 [+0.000, +0.000] |" in text and "| 0 / 0 | 1 |" in text
    assert "- lexical: identical predictions in A and B." in text and "beat" not in text


def test_cli_compare_rich_table(repo, capsys, monkeypatch):
    from streamguard.cli import main

    monkeypatch.chdir(repo)
    assert main(["compare", "exp-seed2", "exp-seed1"]) == 0
    out = capsys.readouterr().out
    assert "A = exp-seed2, B = exp-seed1" in out and "13 / 20" in out
    assert "Only in A, not compared: gnn." in out


def test_unknown_revision_is_a_clear_error(repo, capsys, monkeypatch):
    from streamguard.cli import main

    monkeypatch.chdir(repo)
    assert main(["compare", "HEAD", "no-such-experiment"]) == 2
    err = capsys.readouterr().err
    assert "no-such-experiment" in err and "metrics/test_predictions.csv" in err


def test_compare_two_metrics_folders_outside_any_repo(tmp_path, capsys, monkeypatch):
    # `evaluate --metrics DIR` run by hand (a benchmark, a cluster job): no git, no DVC around the folders
    from streamguard.cli import main

    for seed in (1, 2):
        run = tmp_path / f"seed{seed}"
        run.mkdir()
        (run / "params.yaml").write_text(PARAMS_YAML.format(seed=seed))
        (run / "write_predictions.py").write_text(WRITER)
        _run(sys.executable, "write_predictions.py", cwd=run)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text(PARAMS_YAML.format(seed=1))
    assert main(["compare", "seed1/metrics", "seed2/metrics", "--md"]) == 0
    out = capsys.readouterr().out
    assert "| lexical | 0.662 | 0.750 |" in out and "| 20 / 13 |" in out
    assert "A = seed1/metrics, B = seed2/metrics; 80 test functions in both" in out
    assert main(["compare", "seed1/metrics", "no_such_folder"]) == 2
    err = capsys.readouterr().err
    assert "no_such_folder" in err and "or pass a folder holding test_predictions.csv" in err


def test_labels_that_differ_between_revisions_are_refused():
    a = parse_predictions_csv("id,target,lexical_prob,lexical_pred\nf1,1,0.9,1\nf2,0,0.1,0\n", "a")
    b = parse_predictions_csv("id,target,lexical_prob,lexical_pred\nf1,0,0.9,1\nf2,0,0.1,0\n", "b")
    from streamguard.evaluation.compare import compare_revisions

    with pytest.raises(EvaluationError, match="disagree on the label"):
        compare_revisions(a, b, _settings().evaluate, "a", "b")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "header starting with 'id,target'"),
        ("id,target,lexical_prob\nf1,1,0.9\n", "no '<model>_pred' column"),
        ("id,target,lexical_prob,lexical_pred\nf1,1,0.9,2\n", "'lexical_pred' must be 0 or 1"),
        ("id,target,lexical_prob,lexical_pred\nf1,1,0.9,1\nf1,1,0.9,1\n", "appears twice"),
    ],
)
def test_malformed_predictions_csv(text, message):
    with pytest.raises(EvaluationError, match=message):
        parse_predictions_csv(text, "rev:metrics/test_predictions.csv")
