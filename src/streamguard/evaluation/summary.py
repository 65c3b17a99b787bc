"""`streamguard summary`: the results of the last `evaluate`, for a person, from metrics/*.json.

It recomputes nothing: it reads metrics/test_details.json and metrics/comparisons.json
(the evaluate stage's details beside the headline `dvc metrics show` reads) and prints one table, model x accuracy / F1 /
ROC-AUC / MCC with their bootstrap CIs, the all-vulnerable reference F1 of this
test set, the fusion's paired verdicts against each base model and each deep
model's against the lexical baseline, in words (evaluation/verdicts.py), and the
pairwise metrics where the test set has vulnerable/fixed pairs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.stats import COMPARED_METRICS
from streamguard.evaluation.verdicts import Verdict, describe_difference, level_percent
from streamguard.io.input_files import decode_json, decode_utf8, read_bytes, require_file
from streamguard.models.registry import COMPARISON_PAIRS

DETAILS_FILE = "test_details.json"  # written by stages/evaluate.py
HEADLINE_METRICS = {"accuracy": "accuracy", "f1": "F1", "roc_auc": "ROC-AUC", "mcc": "MCC"}


def with_ci(values: dict[str, Any], key: str) -> str:
    """'0.642 [0.624, 0.661]', or 'undefined' where the metric is not defined on this test set."""
    point = values.get(key)
    if point is None or not math.isfinite(point):
        return "undefined"
    return f"{point:.3f} [{values[f'{key}_ci_low']:.3f}, {values[f'{key}_ci_high']:.3f}]"


def _read(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise EvaluationError(f"{path}: not found; run `dvc repro` (or `streamguard evaluate`) first")
    where = str(path)
    data = decode_json(decode_utf8(read_bytes(require_file(path)), where), where, document=True)
    if not isinstance(data, dict):
        raise EvaluationError(f"{path}: expected a JSON object; re-run `streamguard evaluate`")
    _require_numbers(data, path)
    return data


def _require_numbers(value: Any, path: Path, key: str = "") -> None:
    """Every value `evaluate` writes is a number (or null where a metric is undefined); an error names the key."""
    if isinstance(value, dict):
        for name, inner in value.items():
            _require_numbers(inner, path, f"{key}.{name}" if key else str(name))
    elif isinstance(value, list):
        for i, inner in enumerate(value):
            _require_numbers(inner, path, f"{key}[{i}]")
    elif value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
        raise EvaluationError(
            f"{path}: {key} is {str(value)[:60]!r}, not a number; the file was edited or damaged. "
            "Re-run `streamguard evaluate` (or `dvc repro evaluate`)"
        )


def summary_verdicts(comparisons: dict[str, dict[str, Any]], level: float) -> list[Verdict]:
    """The fusion against each base model, then each deep model against the lexical baseline."""
    return comparison_verdicts(comparisons, list(COMPARISON_PAIRS), level)


def comparison_verdicts(
    comparisons: dict[str, dict[str, Any]],
    wanted: list[tuple[str, str]],
    level: float,
    name_other: Callable[[str], str] = str,
) -> list[Verdict]:
    """A verdict per metric of COMPARED_METRICS for each (model, other) that comparisons.json holds."""
    verdicts = []
    for model, other in wanted:
        values = comparisons.get(f"{model}_vs_{other}")
        if values is None:
            continue
        for metric in COMPARED_METRICS:
            verdicts.append(
                describe_difference(
                    model,
                    name_other(other),
                    metric,
                    values[f"{metric}_diff"],
                    values[f"{metric}_diff_ci_low"],
                    values[f"{metric}_diff_ci_high"],
                    level,
                    mcnemar_p=values.get("mcnemar_p") if metric == "accuracy" else None,
                )
            )
    return verdicts


def constant_answer(values: dict[str, Any]) -> str | None:
    """ "safe" or "vulnerable" for a model that gave every test function that label, else None.

    All safe: recall 0 and specificity 1; all vulnerable: recall 1 and specificity 0. Either way
    balanced accuracy = (recall + specificity) / 2 is exactly 0.5.
    """
    recall, balanced = values.get("recall"), values.get("balanced_accuracy")
    if not isinstance(recall, (int, float)) or not isinstance(balanced, (int, float)) or balanced != 0.5:
        return None
    if recall == 0:
        return "safe"
    return "vulnerable" if recall == 1 else None


def _reference_notes(models: dict[str, dict[str, Any]], prevalence: float) -> list[str]:
    """What a constant answer scores, and which models score no better than one."""
    notes = [
        f"Reference: calling every function vulnerable scores F1 = {2 * prevalence / (1 + prevalence):.3f} "
        f"and accuracy = {prevalence:.3f}, calling every function safe accuracy = {1 - prevalence:.3f}, "
        "on this test set; MCC and ROC-AUC are 0 and 0.5 at chance."
    ]
    for name, values in models.items():
        answer = constant_answer(values)
        accuracy = values.get("accuracy")
        if answer:
            notes.append(f"{name} calls every test function {answer}: a constant answer, not a detection.")
        elif isinstance(accuracy, (int, float)) and accuracy < max(prevalence, 1 - prevalence):
            notes.append(
                f"{name}'s accuracy {accuracy:.3f} is below the {max(prevalence, 1 - prevalence):.3f} of "
                f"calling every function {'vulnerable' if prevalence > 0.5 else 'safe'}."
            )
    return notes


def _qualified(verdict: Verdict, constant: dict[str, str]) -> tuple[str, str | None]:
    """The verdict's sentence and style; a win of a constant-answer model says what it is."""
    styles = {"better": "green", "worse": "red"}
    model = verdict.sentence.split(" ", 1)[0]  # describe_difference's sentences start with the model
    if verdict.outcome == "better" and model in constant:
        return (
            f"{verdict.sentence} But {model} calls every function {constant[model]}: "
            "a constant answer, not a detection.",
            "bold yellow",
        )
    return verdict.sentence, styles.get(verdict.outcome)


def print_summary(metrics_dir: Path, level: float, console: Console) -> None:
    test = _read(metrics_dir / DETAILS_FILE)
    comparisons = _read(metrics_dir / "comparisons.json")
    models = {name: values for name, values in test.items() if isinstance(values, dict) and "accuracy" in values}
    if not models:
        raise EvaluationError(f"{metrics_dir / DETAILS_FILE}: holds no model's metrics; re-run `streamguard evaluate`")
    n, n_vuln = int(test.get("n_test", 0)), int(test.get("n_test_vulnerable", 0))
    table = Table(title=f"Test split: {n} functions, {n_vuln} vulnerable ({level_percent(level)} bootstrap CI)")
    table.add_column("model")
    for label in HEADLINE_METRICS.values():
        table.add_column(label, justify="right")
    for name, values in models.items():
        table.add_row(name, *(with_ci(values, key) for key in HEADLINE_METRICS))
    console.print(table)
    if n and n_vuln:
        for note in _reference_notes(models, n_vuln / n):
            console.print(note, highlight=False, soft_wrap=True)
    if n and n < 1000:
        console.print(
            f"With {n} test functions the CIs are wide: this run checks the pipeline, it cannot rank models.",
            highlight=False,
            soft_wrap=True,
        )
    constant = {name: answer for name, values in models.items() if (answer := constant_answer(values))}
    for verdict in summary_verdicts(comparisons, level):
        sentence, style = _qualified(verdict, constant)
        console.print(f"- {sentence}", style=style, highlight=False, soft_wrap=True)
    paired = {name: v["pairs"] for name, v in models.items() if isinstance(v.get("pairs"), dict)}
    if paired:
        table = Table(title=f"Vulnerable/fixed pairs in test (n = {test.get('n_test_pairs', '?')} pairs)")
        table.add_column("model")
        for label in ("pairwise accuracy", "tied", "P-C (both right)", "P-R (both wrong)"):
            table.add_column(label, justify="right")
        for name, values in paired.items():
            table.add_row(name, *(with_ci(values, k) for k in ("pairwise_accuracy", "tied", "p_c", "p_r")))
        console.print(table)
        console.print("Pairwise accuracy 0.5 is chance: the model cannot tell a function from its fix.")
