"""The `detector` stage: the model the leave-project-out evaluation ranks best, trained on every project.

The model is chosen by pooled ROC-AUC on held-out projects (the `generalize`
stage's details file) among the trained models (`generalize.models`), then
trained with evaluation/generalization.py's own `fit_detector` on every
project of the corpus (or every project but `--without`, to scan a project
it never saw): the same code, settings and cross-fitted threshold as each
held-out fold. The output is a models folder `scan` and `predict` load like
the pipeline's (base models, `fusion/fusion.json`, the params file), plus
its card: `card.json` (what it was trained on, the commit, its figures on
unseen projects with CIs, the precision of each score band) and
`MODEL_CARD.md`, the same for people.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from streamguard.errors import StreamGuardError
from streamguard.evaluation.generalization import Corpus, Detector, fit_detector, load_corpus, training_index
from streamguard.io.run_info import write_timing
from streamguard.models.code_metrics import CodeMetricsModel
from streamguard.models.detector_card import CARD_FILE, MODEL_CARD_FILE, PARAMS_FILE, is_detector, render_card
from streamguard.models.fusion import Stacker, StackerConfig, save_stacker, to_logit
from streamguard.models.hashed_lexical import HashedLexicalModel
from streamguard.models.logistic import LogisticScorer
from streamguard.params import FusionParams, Params, load_params

# the folder name of each base model in a detector (the names fusion.json lists)
BASE_FOLDERS = {"lexical": "hashed_lexical", "code_metrics": "code_metrics"}
# what each selectable model scores with
MEMBERS = {"lexical": ["lexical"], "code_metrics": ["code_metrics"], "lexical_metrics": ["lexical", "code_metrics"]}
POOLED_SHOWN = (
    "roc_auc",
    "pr_auc",
    "macro_roc_auc",
    "precision",
    "recall",
    "mcc",
    "pairwise_accuracy",
    "tied",
    "retro_recall_top1pct",
    "n_functions",
    "n_vulnerable",
)


def read_details(path: Path) -> dict[str, Any]:
    try:
        details = json.loads(path.read_text(encoding="utf-8"))
        details["pooled"], details["per_project"]  # noqa: B018 - both keys must be there
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StreamGuardError(
            f"{path}: not a leave-project-out details file ({type(exc).__name__}: {exc}); "
            "run the generalize stage first (dvc repro generalize)"
        ) from None
    return details


def select_model(details: dict[str, Any], trained: list[str], where: str) -> str:
    """The trained model with the best pooled ROC-AUC on held-out projects."""
    measured = {m: details["pooled"][m].get("roc_auc") for m in trained if m in details["pooled"]}
    measured = {m: v for m, v in measured.items() if isinstance(v, (int, float))}
    if not measured:
        raise StreamGuardError(
            f"{where}: no pooled ROC-AUC for any of {', '.join(trained)}; rerun the generalize stage with "
            "these generalize.models"
        )
    return max(measured, key=lambda m: (measured[m], m))


def _identity_stacker(seed: int) -> Stacker:
    """A one-model fusion that passes the model's probability through: sigmoid(logit(p)) = p."""
    return Stacker(StackerConfig.of(FusionParams()), seed, scorer=LogisticScorer(np.array([1.0]), 0.0))


def save_detector(detector: Detector, model: str, corpus_oof_y: np.ndarray, out_dir: Path, params: Params) -> None:
    """Base models, fusion.json and the params file: a models folder models.scorer.Scorer loads."""
    members = MEMBERS[model]
    for name in members:
        base = detector.base[name]
        assert isinstance(base, (HashedLexicalModel, CodeMetricsModel))
        base.save(out_dir / BASE_FOLDERS[name])
    oof = np.column_stack([detector.oof[name] for name in members])
    if model == "lexical_metrics":
        assert detector.stacker is not None
        # fitted on the logits, as Stacker feeds it
        scorer = LogisticScorer.of(detector.stacker)
        stacker = Stacker(StackerConfig.of(FusionParams()), params.seed, scorer=scorer)
    else:
        stacker = _identity_stacker(params.seed)
    summary = {
        "models": [BASE_FOLDERS[name] for name in members],
        "features": [],
        "stacker": "logreg",
        "params": dataclasses.asdict(FusionParams()),
        "seed": params.seed,
        "threshold": detector.thresholds[model],
        "selected_by": "pooled ROC-AUC on held-out projects (leave-one-project-out)",
    }
    save_stacker(stacker, out_dir / "fusion", summary, corpus_oof_y, to_logit(oof), None)
    (out_dir / PARAMS_FILE).write_text(yaml.safe_dump(dataclasses.asdict(params), sort_keys=False))


def build_card(
    model: str, detector: Detector, details: dict[str, Any], corpus_info: dict[str, Any], params: Params
) -> dict[str, Any]:
    pooled = details["pooled"]
    unseen = {
        "source": corpus_info["details"],
        "projects": list(details.get("projects", [])),
        "pooled": {
            name: {k: v for k, v in pooled[name].items() if k.split("_ci_")[0] in POOLED_SHOWN or "length" in k}
            for name in (model, "length", "random")
            if name in pooled
        },
        "per_project": {
            project: {name: row["models"][name].get("roc_auc") for name in (model, "length") if name in row["models"]}
            for project, row in details["per_project"].items()
        },
        "score_bands": details.get("score_bands", {}).get(model, []),
    }
    return {
        "model": model,
        "command": "streamguard " + " ".join(sys.argv[1:]),
        "scores_with": [BASE_FOLDERS[name] for name in MEMBERS[model]],
        "threshold": detector.thresholds[model],
        "corpus": corpus_info,
        "training_projects": detector.training_projects,
        "settings": {
            "generalize": dataclasses.asdict(params.generalize),
            "lexical": {"ngram_max": params.lexical.ngram_max, "C": params.lexical.C},
            "max_chars": params.data.max_chars,
            "seed": params.seed,
        },
        "unseen": unseen,
    }


def run_detector(
    params: Params,
    corpus_path: Path,
    details_path: Path,
    out_dir: Path,
    without: str | None = None,
    code_metrics: Path | None = None,
) -> dict[str, Any]:
    # a detector scores raw function text with the plain base models; these settings change what they read
    unshippable = {
        "generalize.stack_length": params.generalize.stack_length,
        "generalize.normalise_literals": params.generalize.normalise_literals,
        "generalize.metrics_findings": params.generalize.metrics_findings,
        "generalize.guard_metrics": params.generalize.guard_metrics,
        "generalize.metrics_scaling": params.generalize.metrics_scaling == "project",
    }
    if on := [key for key, value in unshippable.items() if value]:
        raise StreamGuardError(
            f"{', '.join(on)}: a detector cannot ship what these settings add to its inputs; set them to false "
            "(they are leave-project-out levers, measured in benchmarks/results/generalization.md)"
        )
    details = read_details(details_path)
    return build_detector(
        load_corpus(corpus_path, params, code_metrics), corpus_path, details, details_path, out_dir, params, without
    )


def build_detector(
    corpus: Corpus,
    corpus_path: Path,
    details: dict[str, Any],
    details_path: Path,
    out_dir: Path,
    params: Params,
    without: str | None = None,
) -> dict[str, Any]:
    """Train the selected model on `corpus` (but `without`), write the folder and its card; the card."""
    started = time.perf_counter()
    trained = [m for m in params.generalize.models if m in MEMBERS]  # the models a detector can ship
    model = select_model(details, trained, str(details_path))
    projects = sorted(set(corpus.project.tolist()))
    if without is not None and without not in projects:
        raise StreamGuardError(f"--without {without}: no such project in {corpus_path}; it has {', '.join(projects)}")
    train = training_index(corpus, params, without=without)
    print(f"detector: training {model} on {len(train)} functions of {len(set(corpus.project[train]))} projects")
    detector = fit_detector(corpus, train, params, where=f"{corpus_path}: ")
    report_path = corpus_path.parent / "report.json"
    report = json.loads(report_path.read_text()) if report_path.is_file() else {}
    corpus_info = {
        "path": str(corpus_path),
        "kind": report.get("corpus", "unknown"),  # "sample": the bundled sample; "build": built from full data
        "details": str(details_path),
        "without": without,
        "functions": len(train),
        "projects": {
            p: {
                "functions": int((corpus.project[train] == p).sum()),
                "vulnerable": int(corpus.y[train][corpus.project[train] == p].sum()),
            }
            for p in detector.training_projects
        },
    }
    if out_dir.is_dir() and any(out_dir.iterdir()):
        if not is_detector(out_dir):  # never empty a folder this command did not write
            raise StreamGuardError(f"--out {out_dir}: exists and is not a detector folder; give a new or empty folder")
        shutil.rmtree(out_dir)
    save_detector(detector, model, corpus.y[detector.oof_index], out_dir, params)
    card = build_card(model, detector, details, corpus_info, params)
    (out_dir / CARD_FILE).write_text(json.dumps(card, indent=2, sort_keys=True) + "\n")
    (out_dir / MODEL_CARD_FILE).write_text(render_card(card))
    # the commit checked out changes with every commit: timing.json keeps it out of the folder's hash
    write_timing(out_dir, time.perf_counter() - started)
    print(f"detector: {model}, threshold {detector.thresholds[model]:.3f} -> {out_dir}")
    return card


def main(args: argparse.Namespace) -> None:
    run_detector(
        load_params(args.params),
        Path(args.corpus),
        Path(args.details),
        Path(args.out),
        without=args.without,
        code_metrics=args.code_metrics,
    )
