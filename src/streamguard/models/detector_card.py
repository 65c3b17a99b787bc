"""A detector's card: what it was trained on and what it reaches on projects it never saw.

`card.json` (written by the `detector` stage, stages/detector.py) sits in the
detector's models folder beside its `params.yaml`; `MODEL_CARD.md` is the
same for people. The detector that ships with StreamGuard lives in
`SHIPPED_DIR` (git-tracked, inside the package); `scan` and `predict` use it
when the workspace has no trained models of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from streamguard.errors import StreamGuardError

CARD_FILE = "card.json"
MODEL_CARD_FILE = "MODEL_CARD.md"
PARAMS_FILE = "params.yaml"
SHIPPED_DIR = Path(__file__).resolve().parent.parent / "detector"


def is_detector(folder: Path) -> bool:
    return (folder / CARD_FILE).is_file()


def default_models_dir(workspace: Path = Path("models"), shipped: Path = SHIPPED_DIR) -> Path:
    """The workspace's models when they include a trained fusion, else the shipped detector (when it is there)."""
    if (workspace / "fusion" / "fusion.json").is_file() or not is_detector(shipped):
        return workspace
    return shipped


def read_card(folder: Path) -> dict[str, Any]:
    path = folder / CARD_FILE
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
        card["model"], card["unseen"], card["corpus"]  # noqa: B018 - the keys every reader needs
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StreamGuardError(
            f"{path}: not a detector card ({type(exc).__name__}: {exc}); retrain the detector "
            "(streamguard train-detector) or restore the folder"
        ) from None
    return card


def band_for(score: float, bands: list[dict[str, float]]) -> dict[str, float] | None:
    """The first band (best first) whose lowest held-out score `score` reaches; the last band otherwise."""
    for band in bands:
        if score >= band["min_score"]:
            return band
    return bands[-1] if bands else None


def _ci(row: dict[str, Any], key: str) -> str:
    if row.get(key) is None:
        return "–"
    low, high = row.get(f"{key}_ci_low"), row.get(f"{key}_ci_high")
    return f"{row[key]:.3f} [{low:.3f}, {high:.3f}]" if low is not None and high is not None else f"{row[key]:.3f}"


def _against_length(model: str, unseen: dict[str, Any]) -> str:
    """The model against sorting functions by length, in words, from the card's figures."""
    own = unseen["pooled"].get(model, {})
    per_project = [row for row in unseen["per_project"].values() if None not in (row.get(model), row.get("length"))]
    below = sum(row[model] < row["length"] for row in per_project)
    where = f"on {below} of {len(per_project)} held-out projects it ranks below the length rule"
    if own.get("roc_auc_minus_length", 0) > 0 and own.get("vs_length_p_value", 1) < 0.05:
        return (
            f"Pooled over unseen projects it ranks vulnerable functions above sorting them by length by only "
            f"{own['roc_auc_minus_length']:+.3f} ROC-AUC, and {where}."
        )
    return f"On projects it never saw it is no better than sorting functions by length; {where}."


def render_card(card: dict[str, Any]) -> str:
    corpus, unseen, settings = card["corpus"], card["unseen"], card.get("settings", {})
    model = card["model"]
    kind = {"sample": "the bundled sample (a demonstration, not a detector)", "build": "full data"}.get(
        corpus.get("kind"), str(corpus.get("kind"))
    )
    lines = [
        f"# StreamGuard detector: `{model}`",
        "",
        f"Scores each C/C++ function with {' + '.join(f'`{m}`' for m in card['scores_with'])}"
        + (" (stacked by logistic regression)" if len(card["scores_with"]) > 1 else "")
        + f"; reports it at fused probability ≥ {card['threshold']:.3f} (chosen by cross-fitting over the "
        "training projects). Chosen as the model with the best pooled ROC-AUC on held-out projects.",
        "",
        "## Training data",
        "",
        f"{corpus['functions']:,} functions of {len(card['training_projects'])} projects from {kind} "
        f"(`{corpus['path']}`)" + (f", without {corpus['without']}" if corpus.get("without") else "") + ".",
        # a stage-built card leaves the commit to timing.json, outside the folder's hash
        (f"Code commit: `{card['commit']}`." if "commit" in card else "Code commit: in `timing.json` beside this card.")
        + f" Command: `{card.get('command')}`.",
        f"Settings: `{json.dumps(settings.get('generalize', {}), sort_keys=True)}`.",
        "",
        "| project | functions | vulnerable |",
        "|---|---:|---:|",
        *(f"| {p} | {v['functions']:,} | {v['vulnerable']:,} |" for p, v in corpus["projects"].items()),
        "",
        "## On projects it never saw",
        "",
        f"Leave-one-project-out over {len(unseen['projects'])} projects (`{unseen['source']}`): the same "
        "configuration trained on all projects but one scores the one left out; pooled, 95 % CIs.",
        "",
        "| rule or model | ROC-AUC | PR-AUC | macro ROC-AUC | pairwise accuracy | recall in top 1 % | MCC |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in unseen["pooled"].items():
        macro = f"{row['macro_roc_auc']:.3f}" if row.get("macro_roc_auc") is not None else "–"
        lines.append(
            f"| {name} | {_ci(row, 'roc_auc')} | {_ci(row, 'pr_auc')} | {macro} | {_ci(row, 'pairwise_accuracy')} "
            f"| {_ci(row, 'retro_recall_top1pct')} | {_ci(row, 'mcc')} |"
        )
    own = unseen["pooled"].get(model, {})
    if own.get("roc_auc_minus_length") is not None:
        lines += [
            "",
            f"ROC-AUC minus the length rule's: {own['roc_auc_minus_length']:+.3f} "
            f"[{own.get('vs_length_ci_low', float('nan')):+.3f}, {own.get('vs_length_ci_high', float('nan')):+.3f}], "
            f"p = {own.get('vs_length_p_value', float('nan')):.3g} (paired bootstrap).",
        ]
    lines += ["", "Per held-out project, ROC-AUC of this model / of the length rule:", ""]
    lines += ["| project | model | length |", "|---|---|---|"]
    for project, row in unseen["per_project"].items():
        fmt = [f"{row[n]:.2f}" if row.get(n) is not None else "–" for n in (model, "length")]
        lines.append(f"| {project} | {fmt[0]} | {fmt[1]} |")
    bands = unseen.get("score_bands", [])
    if bands:
        lines += [
            "",
            "## What a finding is worth: precision by score band",
            "",
            "Over whole source trees of held-out repositories (each function of the tree at one commit; "
            f"vulnerable = changed by a later security fix; a random pick is right {bands[0]['base_rate']:.3f} "
            "of the time). A finding's band is the first whose lowest score it reaches.",
            "",
            "| band (share of ranking) | lowest score | functions | vulnerable | precision [95 % CI] |",
            "|---|---|---:|---:|---|",
            *(
                f"| top {100 * b['top_from']:.0f}-{100 * b['top_to']:.0f} % | {b['min_score']:.3f} | {b['functions']:.0f} "
                f"| {b['vulnerable']:.0f} | {b['precision']:.3f} [{b['precision_ci_low']:.3f}, "
                f"{b['precision_ci_high']:.3f}] |"
                for b in bands
            ),
        ]
    lines += ["", "## What it cannot do", "", f"- Find vulnerabilities reliably. {_against_length(model, unseen)}"]
    lines += [
        "  Treat findings as leads for review, not as hits.",
        "- Tell a vulnerable function from its fix: pairwise accuracy near 0.5 or below.",
        "- See beyond one function: no callers, callees, types or build configuration; C/C++ text only.",
        "- Point at the faulty line: the line ranking of `scan` measured no better than random lines "
        "(benchmarks/results/line-localisation.md).",
        "- Speak for code unlike its training projects (listed above).",
        "",
    ]
    return "\n".join(lines)
