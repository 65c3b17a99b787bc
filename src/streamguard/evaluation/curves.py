"""Plot data for `dvc plots`: ROC, precision-recall, confusion and calibration.

One CSV per model and kind, `<plots_dir>/<kind>/<model>.csv`, so dvc.yaml can
overlay models in one plot (one y file per model) and a model's file simply
disappears when the model is not trained. Columns:

  roc/<model>.csv          fpr, tpr
  pr/<model>.csv           recall, precision
  confusion/<model>.csv    actual, predicted: "safe" | "vulnerable" (one row per test function)
  calibration/<model>.csv  bin, mean_predicted, fraction_positive, count
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

PLOT_KINDS = ("roc", "pr", "confusion", "calibration")
CLASS_NAMES = ("safe", "vulnerable")  # target 0 and 1, as the confusion plots label them
PLOT_COLUMNS = {
    "roc": ("fpr", "tpr"),
    "pr": ("recall", "precision"),
    "confusion": ("actual", "predicted"),
    "calibration": ("bin", "mean_predicted", "fraction_positive", "count"),
}


def roc_rows(y: np.ndarray, prob: np.ndarray) -> list[dict[str, float]]:
    fpr, tpr, _ = roc_curve(y, prob, drop_intermediate=True)
    return [{"fpr": float(f), "tpr": float(t)} for f, t in zip(fpr, tpr)]


def pr_rows(y: np.ndarray, prob: np.ndarray) -> list[dict[str, float]]:
    precision, recall, _ = precision_recall_curve(y, prob, drop_intermediate=True)
    # scikit-learn lists recall descending; ascending reads naturally left to right
    return [{"recall": float(r), "precision": float(p)} for r, p in zip(recall[::-1], precision[::-1])]


def confusion_rows(y: np.ndarray, pred: np.ndarray) -> list[dict[str, str]]:
    return [{"actual": CLASS_NAMES[int(a)], "predicted": CLASS_NAMES[int(p)]} for a, p in zip(y, pred)]


def calibration_rows(y: np.ndarray, prob: np.ndarray, bins: int) -> list[dict[str, float]]:
    """Reliability diagram: equal-width probability bins, empty bins left out."""
    # bin i holds [i/bins, (i+1)/bins); prob == 1.0 belongs to the last bin
    index = np.minimum((prob * bins).astype(int), bins - 1)
    rows = []
    for i in range(bins):
        members = index == i
        count = int(members.sum())
        if count:
            rows.append(
                {
                    "bin": i,
                    "mean_predicted": float(prob[members].mean()),
                    "fraction_positive": float(y[members].mean()),
                    "count": count,
                }
            )
    return rows


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return format(value, ".6g")  # six digits are plenty for a plot, and keep diffs small
    return str(value)


def write_csv(path: Path, columns: Iterable[str], rows: Iterable[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        columns = list(columns)
        writer.writerow(columns)
        for row in rows:
            writer.writerow([_cell(row[column]) for column in columns])


def write_plot_data(
    plots_dir: Path, model: str, y: np.ndarray, prob: np.ndarray, pred: np.ndarray, calibration_bins: int
) -> None:
    tables: dict[str, list[dict[str, Any]]] = {
        "roc": roc_rows(y, prob),
        "pr": pr_rows(y, prob),
        "confusion": confusion_rows(y, pred),
        "calibration": calibration_rows(y, prob, calibration_bins),
    }
    for kind, rows in tables.items():
        write_csv(plots_dir / kind / f"{model}.csv", PLOT_COLUMNS[kind], rows)


def remove_plot_data(plots_dir: Path, model: str) -> None:
    """Drop a model's files left from an earlier run, so plots show only what was evaluated now."""
    for kind in PLOT_KINDS:
        (plots_dir / kind / f"{model}.csv").unlink(missing_ok=True)
