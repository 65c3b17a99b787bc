"""Reading models/<name>/predictions.jsonl (and fusion.json), validated line by line.

Contract (DESIGN.md): one JSON object per line,
`{"id": str, "split": "valid"|"test", "target": 0|1, "prob": float}`, plus
`prob_runs` (one probability per seed) for a seed ensemble; other extra keys
are allowed and ignored. Any violation is an EvaluationError
naming the file, the line and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.evaluation.errors import EvaluationError
from streamguard.models.names import BASE_MODELS

MODEL_NAMES = (*BASE_MODELS, "fusion")
# the models whose use is to beat the lexical baseline
DEEP_MODELS = ("transformer", "gnn", "fusion")
SPLITS = ("valid", "test")

_REGENERATE = "re-run the stage that writes it (dvc repro)"


@dataclass(frozen=True)
class SplitPredictions:
    """One split's predictions, sorted by id."""

    ids: tuple[str, ...]
    target: np.ndarray  # int8, 0/1
    prob: np.ndarray  # float64, P(vulnerable)
    # [n_runs, n] per-seed probabilities when the model is a seed ensemble (n_runs > 1)
    prob_runs: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class ModelPredictions:
    name: str
    path: Path
    splits: dict[str, SplitPredictions]


def _check_runs(obj: dict, where: str) -> tuple[float, ...] | None:
    runs = obj.get("prob_runs")
    if runs is None:
        return None
    if not isinstance(runs, list) or len(runs) < 2 or not all(
        isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and 0 <= p <= 1 for p in runs
    ):
        raise EvaluationError(f"{where}: 'prob_runs' must be a list of 2+ probabilities in [0, 1]; {_REGENERATE}")
    return tuple(float(p) for p in runs)


def _check_line(obj: Any, where: str) -> tuple[str, str, int, float]:
    if not isinstance(obj, dict):
        raise EvaluationError(f"{where}: expected a JSON object, got {type(obj).__name__}; {_REGENERATE}")
    missing = [key for key in ("id", "split", "target", "prob") if key not in obj]
    if missing:
        raise EvaluationError(f"{where}: missing key(s) {', '.join(missing)}; {_REGENERATE}")
    id_, split, target, prob = obj["id"], obj["split"], obj["target"], obj["prob"]
    if not isinstance(id_, str) or not id_:
        raise EvaluationError(f"{where}: 'id' must be a non-empty string, got {id_!r}")
    if split not in SPLITS:
        raise EvaluationError(f"{where}: 'split' must be 'valid' or 'test', got {split!r}")
    if isinstance(target, bool) or target not in (0, 1):
        raise EvaluationError(f"{where}: 'target' must be 0 or 1, got {target!r}")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not math.isfinite(prob) or not 0 <= prob <= 1:
        raise EvaluationError(f"{where}: 'prob' must be a number in [0, 1], got {prob!r}")
    return id_, split, int(target), float(prob)


def read_predictions(path: Path, name: str) -> ModelPredictions:
    """All valid/test predictions in `path`, validated; ids unique across splits."""
    rows: dict[str, dict[str, tuple[int, float]]] = {split: {} for split in SPLITS}
    runs: dict[str, tuple[float, ...] | None] = {}
    seen_in: dict[str, str] = {}
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise EvaluationError(f"{where}: not valid JSON ({exc.msg}); {_REGENERATE}") from None
            id_, split, target, prob = _check_line(obj, where)
            if id_ in seen_in:
                other = seen_in[id_]
                detail = "twice" if other == split else f"in both '{other}' and '{split}' (a split leak)"
                raise EvaluationError(f"{where}: id {id_!r} appears {detail}; {_REGENERATE}")
            seen_in[id_] = split
            rows[split][id_] = (target, prob)
            runs[id_] = _check_runs(obj, where)
    run_counts = {len(r) if r else 1 for r in runs.values()}
    if len(run_counts) > 1:
        raise EvaluationError(f"{path}: rows disagree on the number of seed runs ({sorted(run_counts)}); {_REGENERATE}")
    splits = {}
    for split, by_id in rows.items():
        ids = tuple(sorted(by_id))
        splits[split] = SplitPredictions(
            ids=ids,
            target=np.array([by_id[i][0] for i in ids], dtype=np.int8),
            prob=np.array([by_id[i][1] for i in ids], dtype=float),
            prob_runs=np.array([runs[i] for i in ids], dtype=float).T if ids and runs[ids[0]] else None,
        )
    return ModelPredictions(name=name, path=path, splits=splits)


def read_fusion_threshold(path: Path) -> float:
    """The threshold the fusion stage chose on valid (models/fusion/fusion.json)."""
    if not path.exists():
        raise EvaluationError(f"{path}: not found, but fusion predictions exist; re-run the fusion stage (dvc repro fusion)")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{path}: not valid JSON ({exc.msg}); re-run the fusion stage") from None
    threshold = info.get("threshold") if isinstance(info, dict) else None
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not math.isfinite(threshold):
        raise EvaluationError(f"{path}: 'threshold' must be a finite number, got {threshold!r}; re-run the fusion stage")
    return float(threshold)


def load_available_models(models_dir: Path) -> tuple[dict[str, ModelPredictions], list[str]]:
    """Predictions of every model present under models_dir, and the names absent."""
    present: dict[str, ModelPredictions] = {}
    absent: list[str] = []
    for name in MODEL_NAMES:
        path = models_dir / name / "predictions.jsonl"
        if path.exists():
            present[name] = read_predictions(path, name)
        else:
            absent.append(name)
    if not present:
        raise EvaluationError(
            f"{models_dir}: no predictions found (looked for <model>/predictions.jsonl with model in "
            f"{', '.join(MODEL_NAMES)}); train at least one model first (dvc repro)"
        )
    return present, absent


def aligned_test_split(models: dict[str, ModelPredictions]) -> tuple[tuple[str, ...], np.ndarray, dict[str, np.ndarray]]:
    """(ids, targets, {model: test probabilities}) in one shared id order.

    Paired comparisons need every model scored on the very same test
    functions with the same labels; anything else is an error, not a silent
    intersection.
    """
    names = list(models)
    reference = models[names[0]].splits["test"]
    if len(reference) == 0:
        raise EvaluationError(f"{models[names[0]].path}: no 'test' predictions; {_REGENERATE}")
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
