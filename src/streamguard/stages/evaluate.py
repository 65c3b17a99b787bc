"""The `evaluate` stage: test metrics with CIs, paired tests and plot data for every trained model.

What it reads and writes, and the rules (thresholds chosen on valid, outputs a
pure function of the inputs), are in evaluation/report.py's docstring; this
module runs them in order.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from streamguard.data.pairs import find_pairs
from streamguard.evaluation.curves import remove_plot_data, write_plot_data
from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.metrics import bootstrap_metrics
from streamguard.evaluation.pairs import pair_metrics, read_test_pair_ids
from streamguard.evaluation.predictions import aligned_test_split, load_available_models
from streamguard.evaluation.report import (
    HEADLINE_DIR,
    HEADLINE_KEYS,
    baseline_verdicts,
    check_settings,
    choose_model_threshold,
    per_run_scores,
    print_report,
    seed_ttests,
    write_json,
    write_predictions_csv,
)
from streamguard.evaluation.stats import paired_comparison
from streamguard.evaluation.summary import DETAILS_FILE
from streamguard.metrics import predict
from streamguard.models.registry import BASELINE, COMPARISON_PAIRS, EVALUATED_MODELS
from streamguard.params import Params, load_params


def run_evaluate(
    params: Params, models_dir: Path, metrics_dir: Path, test_records: Path | None = None
) -> dict[str, Any]:
    """Evaluate every model present under models_dir; write metrics_dir; return what was written.

    `test_records` (data/processed/test.jsonl) supplies pair ids; where test functions
    carry them, each model also gets the paired metrics of pairs.py.
    """
    settings = params.evaluate
    check_settings(settings)
    console = Console()
    if not console.is_terminal:
        console = Console(width=140)  # DVC captures output: do not squeeze the tables into 80 columns

    models, absent = load_available_models(models_dir)
    for name in absent:
        console.print(
            f"notice: {models_dir / name / 'predictions.jsonl'} not found; {name} is left out",
            highlight=False,
            soft_wrap=True,
        )

    thresholds = {
        name: choose_model_threshold(model, models_dir, params.fusion.threshold_rule) for name, model in models.items()
    }
    ids, y, probs = aligned_test_split(models)
    n_vulnerable = int(y.sum())
    if n_vulnerable in (0, len(y)):
        raise EvaluationError(
            f"{models_dir}: the test split has {len(y)} functions, all of one class; F1, ROC-AUC and the "
            "paired tests are undefined. Use more data (data.limit) or check the split."
        )
    preds = {name: predict(prob, thresholds[name]) for name, prob in probs.items()}
    pair_ids = read_test_pair_ids(test_records, ids) if test_records is not None else None

    test_metrics: dict[str, dict[str, Any]] = {
        name: {
            "threshold": thresholds[name],
            **bootstrap_metrics(
                y, probs[name], thresholds[name], settings.bootstrap_resamples, settings.confidence_level, settings.seed
            ),
        }
        for name in probs
    }
    if pair_ids is not None:
        pairs = find_pairs(pair_ids, y)
        for name in probs:
            test_metrics[name]["pairs"] = pair_metrics(
                y,
                probs[name],
                thresholds[name],
                pairs,
                settings.bootstrap_resamples,
                settings.confidence_level,
                settings.seed,
            )
    runs = {name: per_run_scores(model, models_dir, params.fusion.threshold_rule) for name, model in models.items()}
    comparisons = {
        f"{a}_vs_{b}": {
            **paired_comparison(
                y,
                probs[a],
                thresholds[a],
                probs[b],
                thresholds[b],
                settings.bootstrap_resamples,
                settings.confidence_level,
                settings.seed,
            ),
            **seed_ttests(runs[a], runs[b]),
        }
        for a, b in COMPARISON_PAIRS
        if a in probs and b in probs
    }
    verdicts = baseline_verdicts(comparisons, settings.confidence_level)

    metrics_dir.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"n_test": len(y), "n_test_vulnerable": n_vulnerable}
    if pair_ids is not None:
        summary["n_test_pairs"] = len(pairs)
    summary.update(test_metrics)
    write_json(metrics_dir / DETAILS_FILE, summary)
    for name in EVALUATED_MODELS:
        headline = metrics_dir / HEADLINE_DIR / f"{name}.json"
        if name in probs:
            headline.parent.mkdir(exist_ok=True)
            write_json(headline, {key: test_metrics[name][key] for key in HEADLINE_KEYS})
        else:
            headline.unlink(missing_ok=True)  # a model evaluated earlier, absent now
    write_json(metrics_dir / "comparisons.json", comparisons)
    write_predictions_csv(metrics_dir / "test_predictions.csv", ids, y, probs, preds, pair_ids)
    plots_dir = metrics_dir / "plots"
    for name in EVALUATED_MODELS:
        if name in probs:
            write_plot_data(plots_dir, name, y, probs[name], preds[name], settings.calibration_bins)
        else:
            remove_plot_data(plots_dir, name)

    print_report(console, len(y), n_vulnerable, settings.confidence_level, test_metrics, comparisons, verdicts)
    if BASELINE not in probs:
        console.print(f"notice: no {BASELINE} baseline, so no model is checked against it", soft_wrap=True)
    console.print(
        f"wrote {metrics_dir / HEADLINE_DIR}/, {DETAILS_FILE}, comparisons.json, test_predictions.csv and plots/",
        highlight=False,
        soft_wrap=True,
    )
    return {
        "n_test": len(y),
        "n_test_vulnerable": n_vulnerable,
        "metrics": test_metrics,
        "comparisons": comparisons,
        "verdicts": [{"outcome": v.outcome, "sentence": v.sentence} for v in verdicts],
    }


def main(args: argparse.Namespace) -> None:
    run_evaluate(load_params(args.params), Path(args.models), Path(args.metrics), Path(args.test_records))
