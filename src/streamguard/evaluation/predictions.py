"""Which models' predictions evaluation reads, and the one test split they must share.

The file format itself (predictions.jsonl) is `streamguard.io.predictions`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streamguard.evaluation.errors import EvaluationError
from streamguard.io.predictions import REGENERATE, ModelPredictions, read_predictions
from streamguard.models.registry import EVALUATED_MODELS


def load_available_models(models_dir: Path) -> tuple[dict[str, ModelPredictions], list[str]]:
    """Predictions of every model present under models_dir, and the names absent."""
    present: dict[str, ModelPredictions] = {}
    absent: list[str] = []
    for name in EVALUATED_MODELS:
        path = models_dir / name / "predictions.jsonl"
        if path.exists():
            present[name] = read_predictions(path, name)
        else:
            absent.append(name)
    if not present:
        raise EvaluationError(
            f"{models_dir}: no predictions found (looked for <model>/predictions.jsonl with model in "
            f"{', '.join(EVALUATED_MODELS)}); train at least one model first (dvc repro)"
        )
    return present, absent


def aligned_test_split(
    models: dict[str, ModelPredictions],
) -> tuple[tuple[str, ...], np.ndarray, dict[str, np.ndarray]]:
    """(ids, targets, {model: test probabilities}) in one shared id order.

    Paired comparisons need every model scored on the very same test
    functions with the same labels; anything else is an error, not a silent
    intersection.
    """
    names = list(models)
    reference = models[names[0]].splits["test"]
    if len(reference) == 0:
        raise EvaluationError(f"{models[names[0]].path}: no 'test' predictions; {REGENERATE}")
    for name in names[1:]:
        split = models[name].splits["test"]
        if split.ids != reference.ids:
            only_here = sorted(set(split.ids) - set(reference.ids))[:3]
            only_there = sorted(set(reference.ids) - set(split.ids))[:3]
            raise EvaluationError(
                f"{models[name].path}: test ids differ from {models[names[0]].path} "
                f"({len(split)} vs {len(reference)} ids; e.g. only in {name}: {only_here}, only in "
                f"{names[0]}: {only_there}); all models must predict the same test split, re-run them (dvc repro)"
            )
        if not np.array_equal(split.target, reference.target):
            bad = reference.ids[int(np.flatnonzero(split.target != reference.target)[0])]
            raise EvaluationError(
                f"{models[name].path}: test targets differ from {models[names[0]].path} (e.g. id {bad!r}); "
                "the models were trained on different data versions, re-run them (dvc repro)"
            )
    return reference.ids, reference.target, {name: models[name].splits["test"].prob for name in names}
