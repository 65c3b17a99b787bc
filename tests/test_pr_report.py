"""scripts/report.sh, the PR report, in a temp git + DVC repo with two experiments that differ.

The repo's one stage writes what the evaluate stage writes, from the `seed` param:
headline metrics (metrics/test/<model>.json), metrics/test_predictions.csv and ROC
plot data. With an even seed the fusion calls every function safe (F1 0); with an
odd seed it is right on every function. The commit on main has seed 42; experiment
`odd` has seed 43, `even` seed 44. The workspace stays at main's results, so a
report that ignores its TARGET sees no change.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO, sh

pytestmark = [pytest.mark.slow, pytest.mark.integration]

WRITER = textwrap.dedent(
    """
    import json, pathlib, yaml
    seed = yaml.safe_load(open("params.yaml"))["seed"]
    target = [i % 2 for i in range(80)]
    predicted = {
        "lexical": [1 - t if i % 4 == 0 else t for i, t in enumerate(target)],
        "fusion": [t if seed % 2 else 0 for t in target],
    }
    out = pathlib.Path("metrics")
    rows = ["id,target," + ",".join(f"{m}_prob,{m}_pred" for m in predicted)]
    for i, t in enumerate(target):
        rows.append(",".join([f"fn{i:03d}", str(t)] + [f"{0.9 if p[i] else 0.1},{p[i]}" for p in predicted.values()]))
    (out / "test").mkdir(parents=True, exist_ok=True)
    (out / "test_predictions.csv").write_text("\\n".join(rows) + "\\n")
    for model, pred in predicted.items():
        right = sum(p == t for p, t in zip(pred, target))
        tp = sum(p and t for p, t in zip(pred, target))
        f1 = 2 * tp / (sum(pred) + sum(target))
        (out / "test" / f"{model}.json").write_text(json.dumps({"accuracy": right / 80, "f1": f1}))
        tpr = tp / sum(target)
        fpr = sum(p and not t for p, t in zip(pred, target)) / (80 - sum(target))
        roc = out / "plots" / "roc" / f"{model}.csv"
        roc.parent.mkdir(parents=True, exist_ok=True)
        roc.write_text(f"fpr,tpr\\n0,0\\n{fpr},{tpr}\\n1,1\\n")
    """
)
DVC_YAML = textwrap.dedent(
    f"""
    stages:
      evaluate:
        cmd: {sys.executable} write_metrics.py
        deps: [write_metrics.py]
        params: [seed]
        metrics:
          - metrics/test:
              cache: false
        outs:
          - metrics/test_predictions.csv:
              cache: false
          - metrics/plots:
              cache: false
    plots:
      - ROC (test split):
          template: models_chance
          x: fpr
          y:
            metrics/plots/roc/lexical.csv: tpr
            metrics/plots/roc/fusion.csv: tpr
          x_label: false positive rate
          y_label: true positive rate
    """
)
HAS_VL_CONVERT = importlib.util.find_spec("vl_convert") is not None


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("report_repo")
    shutil.copy(REPO / "params.yaml", root / "params.yaml")  # streamguard compare reads evaluate.*
    (root / "scripts").mkdir()
    shutil.copy(REPO / "scripts" / "report.sh", root / "scripts" / "report.sh")
    (root / "write_metrics.py").write_text(WRITER)
    (root / "dvc.yaml").write_text(DVC_YAML)
    (root / ".gitignore").write_text("/report_plots/\n")
    sh(root, "git", "init", "-q", "-b", "main")
    sh(root, "dvc", "init", "-q")
    shutil.copytree(REPO / ".dvc" / "plots", root / ".dvc" / "plots")
    sh(root, "dvc", "repro", "-q")
    sh(root, "git", "add", "-A")
    sh(root, "git", "commit", "-qm", "seed 42")
    for name, seed in (("odd", 43), ("even", 44)):
        sh(root, "dvc", "exp", "run", "-q", "-n", name, "-S", f"seed={seed}")
    sh(root, "git", "checkout", "-q", "--", ".")  # the experiments' params and results leave the workspace
    assert sh(root, "git", "status", "--porcelain").stdout == ""
    return root


@pytest.fixture(scope="module")
def report(repo) -> str:
    result = sh(repo, "bash", "scripts/report.sh", "main", "odd", check=False)
    assert result.returncode == (0 if HAS_VL_CONVERT else 1), result.stdout + result.stderr
    return result.stdout


def _section(report: str, title: str) -> str:
    return report.split(f"## {title}\n", 1)[1].split("\n## ", 1)[0]


def test_target_is_compared_not_the_workspace(report):
    assert report.startswith("# StreamGuard report: `main` → `odd`")
    headline = _section(report, "Headline metrics (test split)")
    assert re.search(r"\| metrics/test/fusion\.json +\| f1 +\| 0\.0 +\| 1\.0 +\| 1\.0 +\|", headline), headline
    assert "lexical" not in headline  # unchanged: not listed
    assert re.search(r"\| params\.yaml +\| seed +\| 42 +\| 43 +\|", _section(report, "Params"))
    paired = _section(report, "Paired tests on the test split")
    assert "| fusion | 0.500 | 1.000 |" in paired, paired


def test_paired_verdicts_come_first_then_headline_params_plots(report):
    titles = re.findall(r"^## (.+)$", report, flags=re.MULTILINE)
    assert titles == ["Paired tests on the test split", "Headline metrics (test split)", "Params", "Plots"]


@pytest.mark.skipif(not HAS_VL_CONVERT, reason="vl-convert-python not installed (make install)")
def test_plots_are_rendered_to_png_for_both_revisions(repo, report):
    images = re.findall(r"^!\[(.+)\]\((report_plots/.+\.png)\)$", _section(report, "Plots"), flags=re.MULTILINE)
    assert images == [("ROC (test split)", "report_plots/roc-test-split.png")]
    png = (repo / images[0][1]).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_a_report_against_the_workspace_sees_its_results(repo):
    out = sh(repo, "bash", "scripts/report.sh", "odd", check=False).stdout
    assert out.startswith("# StreamGuard report: `odd` → `workspace`")
    assert re.search(r"\| metrics/test/fusion\.json +\| f1 +\| 1\.0 +\| 0\.0 +\| -1\.0 +\|", out), out


def test_a_failing_section_shows_its_error_in_place_and_exits_1(repo):
    result = sh(repo, "bash", "scripts/report.sh", "no-such-rev", check=False)
    assert result.returncode == 1
    assert "_`streamguard compare no-such-rev workspace --md` failed:_" in result.stdout
    assert "no-such-rev" in _section(result.stdout, "Paired tests on the test split")


def test_make_report_starts_with_the_report_not_a_command_echo(repo):
    shutil.copy(REPO / "Makefile", repo / "Makefile")
    try:
        # -o: treat the install stamp as up to date (this temp repo has no .venv)
        out = sh(repo, "make", "-o", ".venv/.installed", "report", "BASE=main", "TARGET=odd", check=False).stdout
    finally:
        (repo / "Makefile").unlink()
    assert out.startswith("# StreamGuard report: `main` → `odd`"), out[:300]
