"""predictions.jsonl, the file every model hands on: its one writer and its one reader (and fusion.json's).

Contract: one JSON object per line,
`{"id": str, "split": "valid"|"test", "target": 0|1, "prob": float}`, plus
`prob_runs` (one probability per seed) for a seed ensemble; other extra keys
(an OOF fold's `fold`) are allowed and ignored. Out-of-fold files under
data/oof/ hold split "train" instead. The writer checks every row against the
same rules the reader enforces, so a stage cannot write what evaluation would
reject; the reader reports any violation as an EvaluationError naming the
file, the line and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.evaluation.errors import EvaluationError
from streamguard.models.registry import EVALUATED_MODELS

SPLITS = ("valid", "test")
# what out-of-fold predictions (data/oof/<model>/fold_<k>/predictions.jsonl) cover
OOF_SPLITS = ("train",)

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
    if (
        not isinstance(runs, list)
        or len(runs) < 2
        or not all(
            isinstance(p, (int, float)) and not isinstance(p, bool) and math.isfinite(p) and 0 <= p <= 1 for p in runs
        )
    ):
        raise EvaluationError(f"{where}: 'prob_runs' must be a list of 2+ probabilities in [0, 1]; {_REGENERATE}")
    return tuple(float(p) for p in runs)


def _check_line(obj: Any, where: str, splits: tuple[str, ...]) -> tuple[str, str, int, float]:
    if not isinstance(obj, dict):
        raise EvaluationError(f"{where}: expected a JSON object, got {type(obj).__name__}; {_REGENERATE}")
    missing = [key for key in ("id", "split", "target", "prob") if key not in obj]
    if missing:
        raise EvaluationError(f"{where}: missing key(s) {', '.join(missing)}; {_REGENERATE}")
    id_, split, target, prob = obj["id"], obj["split"], obj["target"], obj["prob"]
    if not isinstance(id_, str) or not id_:
        raise EvaluationError(f"{where}: 'id' must be a non-empty string, got {str(id_)[:40]!r}")
    if split not in splits:
        raise EvaluationError(f"{where}: 'split' must be {' or '.join(map(repr, splits))}, got {str(split)[:40]!r}")
    if isinstance(target, bool) or target not in (0, 1):
        raise EvaluationError(f"{where}: 'target' must be 0 or 1, got {str(target)[:40]!r}")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not math.isfinite(prob) or not 0 <= prob <= 1:
        raise EvaluationError(f"{where}: 'prob' must be a number in [0, 1], got {str(prob)[:40]!r}")
    return id_, split, int(target), float(prob)


def write_predictions(path: Path, rows: list[dict], splits: tuple[str, ...] = SPLITS) -> None:
    """Write `rows` as predictions.jsonl, each checked as `read_predictions` will check it."""
    seen: set[str] = set()
    lines = []
    for number, row in enumerate(rows, start=1):
        where = f"{path}: row {number} to write"
        id_, _, _, _ = _check_line(row, where, splits)
        _check_runs(row, where)
        if id_ in seen:
            raise EvaluationError(f"{where}: id {id_!r} given twice; each function gets one prediction")
        seen.add(id_)
        lines.append(json.dumps(row, sort_keys=True) + "\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(lines), encoding="utf-8")
    tmp.replace(path)  # a stage killed mid-write leaves the old file, not half a new one


def _json_lines(path: Path):
    """(line number, parsed object) of every non-blank line; unreadable files are an EvaluationError."""
    if not path.is_file():
        what = "a directory, not a file" if path.is_dir() else "missing"
        raise EvaluationError(f"{path}: {what}; {_REGENERATE}")
    try:
        with path.open(encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield number, json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    why = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deeply"
                    raise EvaluationError(f"{path}:{number}: not valid JSON ({why}); {_REGENERATE}") from None
    except UnicodeDecodeError as exc:
        raise EvaluationError(f"{path}: not UTF-8 text (byte {exc.start}); {_REGENERATE}") from None


def read_predictions(path: Path, name: str, splits: tuple[str, ...] = SPLITS) -> ModelPredictions:
    """All predictions in `path` (of `splits`: valid/test, or OOF_SPLITS), validated; ids unique across splits."""
    rows: dict[str, dict[str, tuple[int, float]]] = {split: {} for split in splits}
    runs: dict[str, tuple[float, ...] | None] = {}
    seen_in: dict[str, str] = {}
    for number, obj in _json_lines(path):
        where = f"{path}:{number}"
        id_, split, target, prob = _check_line(obj, where, splits)
        if id_ in seen_in:
            other = seen_in[id_]
            detail = "twice" if other == split else f"in both '{other}' and '{split}' (a split leak)"
            raise EvaluationError(f"{where}: id {id_[:80]!r} appears {detail}; {_REGENERATE}")
        seen_in[id_] = split
        rows[split][id_] = (target, prob)
        runs[id_] = _check_runs(obj, where)
    run_counts = {len(r) if r else 1 for r in runs.values()}
    if len(run_counts) > 1:
        raise EvaluationError(f"{path}: rows disagree on the number of seed runs ({sorted(run_counts)}); {_REGENERATE}")
    by_split = {}
    for split, by_id in rows.items():
        ids = tuple(sorted(by_id))
        by_split[split] = SplitPredictions(
            ids=ids,
            target=np.array([by_id[i][0] for i in ids], dtype=np.int8),
            prob=np.array([by_id[i][1] for i in ids], dtype=float),
            prob_runs=np.array([runs[i] for i in ids], dtype=float).T if ids and runs[ids[0]] else None,
        )
    return ModelPredictions(name=name, path=path, splits=by_split)


_REFIT = "re-run the fusion stage (dvc repro fusion)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_fusion_summary(path: Path, stacker: bool = True) -> dict:
    """models/fusion/fusion.json, checked: the threshold always, the fitted stacker's keys when `stacker`."""
    if not path.is_file():
        what = "a directory, not a file" if path.is_dir() else "not found"
        raise EvaluationError(f"{path}: {what}; {_REFIT}")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise EvaluationError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}); {_REFIT}") from None
    except (UnicodeDecodeError, RecursionError):
        raise EvaluationError(f"{path}: not readable JSON text (not UTF-8, or nested too deeply); {_REFIT}") from None
    if not isinstance(info, dict):
        raise EvaluationError(f"{path}: expected a JSON object, got {type(info).__name__}; {_REFIT}")

    def bad(key: str, want: str) -> EvaluationError:
        return EvaluationError(f"{path}: '{key}' must be {want}, got {str(info.get(key))[:60]!r}; {_REFIT}")

    if not _is_number(info.get("threshold")):
        raise bad("threshold", "a finite number")
    if not stacker:
        return info
    for key in ("models", "features"):
        value = info.get(key, [] if key == "features" else None)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value) or (key == "models" and not value):
            raise bad(key, "a list of names")
    if info.get("stacker") not in ("logreg", "gbm"):
        raise bad("stacker", "'logreg' or 'gbm'")
    if not isinstance(info.get("params"), dict):
        raise bad("params", "an object (the fusion params section)")
    if isinstance(info.get("seed"), bool) or not isinstance(info.get("seed"), int):
        raise bad("seed", "an integer")
    if info["stacker"] == "logreg":
        coefficients = info.get("coefficients")
        inputs = info["models"] + info.get("features", [])
        if not isinstance(coefficients, dict) or not all(_is_number(coefficients.get(k)) for k in inputs):
            raise bad("coefficients", f"one number for each of {', '.join(inputs)[:120]}")
        if not _is_number(info.get("intercept")):
            raise bad("intercept", "a finite number")
    return info


def read_fusion_threshold(path: Path) -> float:
    """The threshold the fusion stage chose on valid (models/fusion/fusion.json)."""
    return float(read_fusion_summary(path, stacker=False)["threshold"])


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
