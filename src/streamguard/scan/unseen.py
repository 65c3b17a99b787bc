"""What a scan can honestly say about its precision on code from projects its models never saw.

The only such measurement is the leave-project-out evaluation (`streamguard
generalize`, evaluation/generalization.py), which trains its own lexical
model (TF-IDF + logistic regression) on all projects but one and scores the
one left out. It never evaluates the models a scan loads (the fusion that
`train` and `fuse` build), so no finding gets a precision of its own: the scan
reports the evaluated model's pooled figures at its threshold, with their 95 %
bootstrap intervals, names that model and the file, and says when they are
near chance: the MCC's interval reaches 0, or the ROC-AUC is below
`NEAR_CHANCE_AUC`.
"""

from __future__ import annotations

import json
from pathlib import Path

DETAILS = Path("metrics/generalization_details.json")  # the generalize stage's output, beside params.yaml
MODEL = "lexical"  # the evaluated model of the scan's own kind
SHOWN = ("precision", "recall", "roc_auc", "mcc")
NEAR_CHANCE_AUC = 0.6


def _figure(pooled: dict, name: str) -> str:
    if name not in pooled:
        return f"{name} not recorded"
    return f"{name} {pooled[name]:.2f} [{pooled[f'{name}_ci_low']:.2f}, {pooled[f'{name}_ci_high']:.2f}]"


def unseen_projects(details: Path) -> dict:
    """The scan's statement on unseen projects, from the leave-project-out details file `details`."""
    unknown = "the precision of these models on projects they did not see is unknown"
    if not details.is_file():
        return {
            "source": None,
            "statement": f"no leave-project-out figures at {details} (`dvc repro generalize` writes them); {unknown}",
        }
    try:
        found = json.loads(details.read_text(encoding="utf-8"))
        pooled = found["pooled"][MODEL]
        projects = list(found["projects"])
        near_chance = pooled["mcc_ci_low"] <= 0 or pooled["roc_auc"] < NEAR_CHANCE_AUC
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {
            "source": str(details),
            "statement": f"{details}: cannot be read ({type(exc).__name__}: {exc}); {unknown}",
        }
    figures = {k: v for k, v in pooled.items() if k.split("_ci_")[0] in SHOWN}
    base = ""
    if pooled.get("n_functions"):  # the precision a random pick reaches
        base = f" ({pooled['n_vulnerable'] / pooled['n_functions']:.2f} of its {pooled['n_functions']:.0f} functions are vulnerable)"
    verdict = "near chance: treat findings as leads to review, not as measured hits" if near_chance else "above chance"
    return {
        "source": str(details),
        "evaluated_model": MODEL,
        "scan_models_evaluated": False,
        "projects": projects,
        "figures": figures,
        "near_chance": near_chance,
        "statement": (
            f"the scan's models were not evaluated on unseen projects; the leave-project-out evaluation "
            f"({details}, {len(projects)} projects: {', '.join(projects)}) trained its own {MODEL} model on the "
            f"other projects and reached on the held-out ones{base} {', '.join(_figure(pooled, n) for n in SHOWN)}: "
            f"{verdict}"
        ),
    }
