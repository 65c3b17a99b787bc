"""What a scan can honestly say about its precision on code from projects its models never saw.

The only such measurement is the leave-project-out evaluation (`streamguard
generalize`, evaluation/generalization.py), which trains its models on all
projects but one and scores the one left out.

- A detector (`streamguard train-detector`, models/detector_card.py) is that
  evaluation's configuration trained on every project: its card holds the
  figures the configuration reached on held-out projects and the precision of
  each score band, so the scan states them and each finding carries its band's
  precision (`detector_statement`).
- The pipeline's fusion (`train`, `fuse`) is never evaluated that way: the scan
  reports the evaluated lexical model's pooled figures from the generalize
  stage's details file and says the scan's own models were not evaluated
  (`unseen_projects`).

Both give the 95 % bootstrap intervals, and say when the figures are near
chance: the MCC's interval reaches 0, or the ROC-AUC is below `NEAR_CHANCE_AUC`,
and when the model is no better than the length rule.
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


def _near_chance(pooled: dict) -> bool:
    return pooled["mcc_ci_low"] <= 0 or pooled["roc_auc"] < NEAR_CHANCE_AUC


def _base_rate(pooled: dict) -> str:
    """The precision a random pick reaches on the evaluated functions, in words ('' when not recorded)."""
    if not pooled.get("n_functions"):
        return ""
    return f"; {pooled['n_vulnerable'] / pooled['n_functions']:.2f} of its {pooled['n_functions']:.0f} functions are vulnerable"


def detector_statement(card: dict, folder: Path) -> dict:
    """The scan's statement for a detector, from its card (models/detector_card.py)."""
    model = card["model"]
    unseen = card["unseen"]
    pooled = unseen["pooled"].get(model, {})
    projects = list(unseen.get("projects", []))
    where = f"{folder / 'MODEL_CARD.md'}"
    try:
        near_chance = _near_chance(pooled)
    except (KeyError, TypeError):
        return {"source": where, "statement": f"{where}: no pooled figures for {model}; its precision is unknown"}
    length = unseen["pooled"].get("length", {})
    beats_length = pooled.get("roc_auc_minus_length", 0) > 0 and pooled.get("vs_length_p_value", 1) < 0.05
    verdict = "near chance: treat findings as leads to review, not as measured hits" if near_chance else "above chance"
    if not beats_length:
        verdict += "; no better than ranking functions by length"
    elif "roc_auc" in length:
        verdict += f"; above ranking functions by length (ROC-AUC {length['roc_auc']:.2f}) by {pooled['roc_auc_minus_length']:+.3f}"
    return {
        "source": where,
        "evaluated_model": model,
        "scan_models_evaluated": True,
        "projects": projects,
        "figures": {k: v for k, v in pooled.items() if k.split("_ci_")[0] in SHOWN},
        "near_chance": near_chance,
        "score_bands": unseen.get("score_bands", []),
        "statement": (
            f"this detector ({model}) was evaluated leave-one-project-out over {len(projects)} projects; on each "
            f"held-out project, trained without it, it reached (pooled{_base_rate(pooled)}) "
            f"{', '.join(_figure(pooled, n) for n in SHOWN)}: {verdict}. Each finding carries the precision "
            f"measured in its score band ({where})"
        ),
    }


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
        near_chance = _near_chance(pooled)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return {
            "source": str(details),
            "statement": f"{details}: cannot be read ({type(exc).__name__}: {exc}); {unknown}",
        }
    figures = {k: v for k, v in pooled.items() if k.split("_ci_")[0] in SHOWN}
    base = f" ({_base_rate(pooled).removeprefix('; ')})" if pooled.get("n_functions") else ""
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
