"""Markdown tables of a leave-one-project-out run: pooled with CIs, then per project.

    python benchmarks/generalization_report.py metrics/generalization_details.json [--lever NAME]

Reads `streamguard generalize`'s details file, or a benchmarks/generalization_levers.py output
(then --lever picks one lever; without it, one pooled table row per lever and model).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

POOLED = (
    "roc_auc",
    "pr_auc",
    "macro_roc_auc",
    "pairwise_accuracy",
    "tied",
    "pairwise_accuracy_same_length",
    "retro_recall_top1pct",
    "mcc",
)


def _ci(row: dict, key: str) -> str:
    value = row.get(key)
    if value is None:
        return "–"
    low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    return f"{value:.3f} [{low:.3f}, {high:.3f}]" if low is not None and high is not None else f"{value:.3f}"


def _versus_length(row: dict) -> str:
    if row.get("roc_auc_minus_length") is None:
        return "–"
    return (
        f"{row['roc_auc_minus_length']:+.3f} [{row['vs_length_ci_low']:+.3f}, {row['vs_length_ci_high']:+.3f}], "
        f"p={row['vs_length_p_value']:.3g}"
    )


def pooled_table(details: dict, label: str = "") -> list[str]:
    head = ["model", *POOLED, "ROC-AUC − length"]
    lines = ["| " + " | ".join(([label] if label else []) + head) + " |"]
    lines.append("|" + "---|" * (len(head) + bool(label)))
    for model, row in details["pooled"].items():
        cells = [model, *(_ci(row, k) for k in POOLED), _versus_length(row)]
        lines.append("| " + " | ".join(([label] if label else []) + cells) + " |")
    return lines


def project_table(details: dict) -> list[str]:
    models = list(next(iter(details["per_project"].values()))["models"])
    lines = ["| project | functions (vulnerable) | pairs | " + " | ".join(models) + " |"]
    lines.append("|" + "---|" * (3 + len(models)))
    for project, entry in details["per_project"].items():
        rows = entry["models"]
        first = rows[models[0]]
        size = f"{int(first.get('n_functions', 0))} ({int(first.get('n_vulnerable', 0))})"
        cells = []
        for m in models:
            auc, pairwise = rows[m].get("roc_auc"), rows[m].get("pairwise_accuracy")
            cells.append(
                (f"{auc:.2f}" if auc is not None else "–")
                + " / "
                + (f"{pairwise:.2f}" if pairwise is not None else "–")
            )
        lines.append(f"| {project} | {size} | {int(first.get('n_pairs', 0))} | " + " | ".join(cells) + " |")
    return lines


RETRO = ("retro_recall_top1pct", "retro_recall_top50", "retro_precision_top50")


def retro_table(details: dict) -> list[str]:
    """Per repository with a snapshot: where the functions later fixes changed land in each model's ranking."""
    lines = ["| repository | model | recall top 1 % | recall top 50 | precision top 50 | ROC-AUC | PR-AUC |"]
    lines.append("|---|---|---|---|---|---|---|")
    for project, entry in details["per_project"].items():
        for model, row in entry["models"].items():
            if "retro_recall_top1pct" not in row:
                break
            cells = [_ci(row, k) for k in (*RETRO, "roc_auc", "pr_auc")]
            lines.append(f"| {project} | {model} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("details", type=Path)
    ap.add_argument("--lever", default=None)
    args = ap.parse_args()
    data = json.loads(args.details.read_text())
    if "pooled" in data or args.lever:
        details = data if "pooled" in data else data[args.lever]
        print("\n".join(pooled_table(details) + [""] + project_table(details) + [""] + retro_table(details)))
    else:
        lines: list[str] = []
        for i, (lever, details) in enumerate(data.items()):
            table = pooled_table(details, label=f"`{lever}`")
            lines += table if i == 0 else table[2:]
        print("\n".join(lines))


if __name__ == "__main__":
    main()
