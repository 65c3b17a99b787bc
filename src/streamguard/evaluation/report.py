"""What the evaluate stage (stages/evaluate.py) computes: test metrics with CIs, paired tests and plot data.

Inputs are only models/<name>/predictions.jsonl (+ models/fusion/fusion.json
for the fusion threshold), the test split's pair ids (data/processed/test.jsonl,
when given and present) and params; outputs are a pure function of them:
no timestamps, paths, hosts or unseeded randomness, so an unchanged model
gives byte-identical metrics files and `dvc metrics diff` shows only real
changes.

Thresholds: each base model's is chosen on its valid predictions with
params.fusion.threshold_rule (the rule fusion uses, so all models are
thresholded alike); fusion's is the one fusion.json recorded. The test split
is never used to choose anything.

Writes under metrics_dir:
  test/<model>.json     the headline, DVC's metrics: {accuracy, f1, roc_auc, pr_auc, mcc}, so
                        `dvc metrics show` is one short row per model
  test_details.json     {n_test, n_test_vulnerable, <model>: {threshold, <metric>, <metric>_ci_low, <metric>_ci_high}}
                        + where test functions carry pair ids: n_test_pairs and <model>.pairs.{n_pairs,
                        p_c, p_v, p_b, p_r, pairwise_accuracy, tied, vd_s, each with _ci_low/_ci_high} (pairs.py)
  comparisons.json      {<a>_vs_<b>: stats.paired_comparison keys}
  test_predictions.csv  id, target, [pair,] <model>_prob, <model>_pred per model (read by `streamguard compare`;
                        the pair column only when the test split has pairs)
  plots/<kind>/<model>.csv  see curves.py
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.table import Table

from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.metrics import compute_metrics
from streamguard.evaluation.pairs import PAIR_METRICS
from streamguard.evaluation.stats import COMPARED_METRICS, paired_ttest
from streamguard.evaluation.summary import comparison_verdicts, with_ci
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.evaluation.verdicts import Verdict, level_percent
from streamguard.io.fusion_json import read_fusion_summary, read_fusion_threshold
from streamguard.io.predictions import ModelPredictions
from streamguard.metrics import METRIC_NAMES
from streamguard.models.registry import BASELINE, DEEP_MODELS, FUSION
from streamguard.params import EvaluateParams

HEADLINE_DIR = "test"
HEADLINE_KEYS = ("accuracy", "f1", "roc_auc", "pr_auc", "mcc")


def check_settings(settings: EvaluateParams) -> None:
    # the same ranges EvaluateParams (params.py) checks when it is built
    if settings.bootstrap_resamples < 1:
        raise EvaluationError(
            f"params: evaluate.bootstrap_resamples must be at least 1, got {settings.bootstrap_resamples}"
        )
    if settings.calibration_bins < 1:
        raise EvaluationError(f"params: evaluate.calibration_bins must be at least 1, got {settings.calibration_bins}")


def choose_model_threshold(model: ModelPredictions, models_dir: Path, rule: str) -> float:
    if model.name == FUSION:
        return read_fusion_threshold(models_dir / "fusion" / "fusion.json")
    valid = model.splits["valid"]
    if len(valid) == 0:
        raise EvaluationError(
            f"{model.path}: no 'valid' predictions; the threshold is chosen on valid, so the "
            f"{model.name} stage must predict the valid split too (re-run it: dvc repro)"
        )
    try:
        return choose_threshold(valid.target, valid.prob, rule)
    except EvaluationError as exc:
        raise EvaluationError(f"{model.path} (valid split): {exc}") from None


def _json_ready(value: Any) -> Any:
    """NaN/inf are not JSON; undefined metrics are written as null."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(_json_ready(data), indent=2, allow_nan=False) + "\n", encoding="utf-8")


def write_predictions_csv(
    path: Path,
    ids: tuple[str, ...],
    y: np.ndarray,
    probs: dict[str, np.ndarray],
    preds: dict[str, np.ndarray],
    pair_ids: list[str | None] | None = None,
) -> None:
    names = list(probs)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        pair_column = ["pair"] if pair_ids is not None else []
        writer.writerow(["id", "target", *pair_column, *(f"{n}_{kind}" for n in names for kind in ("prob", "pred"))])
        for i, id_ in enumerate(ids):
            cells: list[Any] = [id_, int(y[i])]
            if pair_ids is not None:
                cells.append(pair_ids[i] or "")
            for name in names:
                cells += [repr(float(probs[name][i])), int(preds[name][i])]
            writer.writerow(cells)


def _diff_with_ci(values: dict[str, float], metric: str) -> str:
    diff, low, high = (values[f"{metric}_diff{s}"] for s in ("", "_ci_low", "_ci_high"))
    if not math.isfinite(diff):
        return "undefined"
    return f"{diff:+.3f} [{low:+.3f}, {high:+.3f}]"


def print_report(
    console: Console,
    n_test: int,
    n_vulnerable: int,
    level: float,
    test_metrics: dict[str, dict[str, Any]],
    comparisons: dict[str, dict[str, float]],
    verdicts: list[Verdict],
) -> None:
    pct = level_percent(level)
    table = Table(title=f"Test metrics (n = {n_test}, {n_vulnerable} vulnerable; {pct} bootstrap CI)")
    table.add_column("metric")
    for name in test_metrics:
        table.add_column(name, justify="right")
    table.add_row("threshold", *(f"{m['threshold']:.3f}" for m in test_metrics.values()))
    for metric in METRIC_NAMES:
        table.add_row(metric, *(with_ci(m, metric) for m in test_metrics.values()))
    console.print(table)

    if comparisons:
        table = Table(title=f"Paired comparisons on the test split (difference = first - second; {pct} CI)")
        table.add_column("comparison")
        for metric in COMPARED_METRICS:
            table.add_column(f"{metric} diff", justify="right")
        table.add_column("McNemar b / c", justify="right")
        table.add_column("McNemar p", justify="right")
        for pair, values in comparisons.items():
            table.add_row(
                pair.replace("_vs_", " vs "),
                *(_diff_with_ci(values, metric) for metric in COMPARED_METRICS),
                f"{values['mcnemar_b']} / {values['mcnemar_c']}",
                f"{values['mcnemar_p']:.3g}",
            )
        console.print(table)
        console.print(
            "McNemar b = first right and second wrong, c = the reverse (exact binomial test).", soft_wrap=True
        )

    paired = {name: m["pairs"] for name, m in test_metrics.items() if "pairs" in m and "p_c" in m["pairs"]}
    if paired:
        n_pairs = next(iter(paired.values()))["n_pairs"]
        table = Table(title=f"Vulnerable/fixed pairs in test (n = {n_pairs} pairs; {pct} bootstrap CI)")
        table.add_column("metric")
        for name in paired:
            table.add_column(name, justify="right")
        for metric in (*PAIR_METRICS, "vd_s"):
            table.add_row(metric, *(with_ci(m, metric) for m in paired.values()))
        console.print(table)
        console.print(
            "p_c both right, p_v both called vulnerable, p_b both benign, p_r both wrong; "
            "vd_s = false-negative rate at <= 0.5 % false positives (lower is better).",
            soft_wrap=True,
        )

    for verdict in verdicts:
        style = "green" if verdict.beats else "bold yellow"
        console.print(verdict.sentence, style=style, highlight=False, soft_wrap=True)


def baseline_verdicts(comparisons: dict[str, dict[str, float]], level: float) -> list[Verdict]:
    """For each deep model compared with the lexical baseline: does it beat it, on each metric?"""
    wanted = [(model, BASELINE) for model in DEEP_MODELS]
    return comparison_verdicts(comparisons, wanted, level, name_other=lambda other: f"the {other} baseline")


def per_run_scores(model: ModelPredictions, models_dir: Path, rule: str) -> dict[str, np.ndarray] | None:
    """Test accuracy and F1 of each seed run (threshold chosen on valid per run), or None for one run."""
    test, valid = model.splits["test"], model.splits["valid"]
    if test.prob_runs is None or valid.prob_runs is None:
        return None
    if model.name == FUSION:
        info = read_fusion_summary(models_dir / "fusion" / "fusion.json", stacker=False)
        thresholds = info.get("thresholds_runs")
        if not thresholds or len(thresholds) != test.prob_runs.shape[0]:
            raise EvaluationError(
                f"{models_dir / 'fusion' / 'fusion.json'}: 'thresholds_runs' does not match the "
                "seed runs of its predictions; re-run the fusion stage"
            )
    else:
        thresholds = [choose_threshold(valid.target, p, rule) for p in valid.prob_runs]
    scores = [compute_metrics(test.target, p, t) for p, t in zip(test.prob_runs, thresholds)]
    return {metric: np.array([s[metric] for s in scores]) for metric in COMPARED_METRICS}


def seed_ttests(a: dict[str, np.ndarray] | None, b: dict[str, np.ndarray] | None) -> dict[str, float]:
    """Paired t-tests across seed runs (run i of A against run i of B), when both are ensembles."""
    if a is None or b is None or len(a["accuracy"]) != len(b["accuracy"]):
        return {}
    out: dict[str, float] = {"n_runs": len(a["accuracy"])}
    for metric in COMPARED_METRICS:
        result = paired_ttest(a[metric], b[metric])
        out[f"{metric}_ttest_mean_diff"] = result["mean_diff"]
        out[f"{metric}_ttest_p"] = result["p_value"]
    return out
