"""predictions.jsonl, the file every model hands on: its one writer and its one reader.

Contract: one JSON object per line,
`{"id": str, "split": "valid"|"test", "target": 0|1, "prob": float}`, plus
`prob_runs` (one probability per seed) for a seed ensemble; other extra keys
(an OOF fold's `fold`) are allowed and ignored. Out-of-fold files under
data/oof/ hold split "train" instead. The writer checks every row against the
same rules the reader enforces, so a stage cannot write what evaluation would
reject; the reader reports any violation as a FileFormatError naming the
file, the line and the field.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.io.atomic import atomic_path
from streamguard.io.errors import FileFormatError
from streamguard.io.input_files import InputFileError
from streamguard.io.jsonl import iter_json_lines, write_json_lines

SPLITS = ("valid", "test")
# what out-of-fold predictions (data/oof/<model>/fold_<k>/predictions.jsonl) cover
OOF_SPLITS = ("train",)

REGENERATE = "re-run the stage that writes it (dvc repro)"


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
        raise FileFormatError(f"{where}: 'prob_runs' must be a list of 2+ probabilities in [0, 1]; {REGENERATE}")
    return tuple(float(p) for p in runs)


def _check_line(obj: Any, where: str, splits: tuple[str, ...]) -> tuple[str, str, int, float]:
    if not isinstance(obj, dict):
        raise FileFormatError(f"{where}: expected a JSON object, got {type(obj).__name__}; {REGENERATE}")
    missing = [key for key in ("id", "split", "target", "prob") if key not in obj]
    if missing:
        raise FileFormatError(f"{where}: missing key(s) {', '.join(missing)}; {REGENERATE}")
    id_, split, target, prob = obj["id"], obj["split"], obj["target"], obj["prob"]
    if not isinstance(id_, str) or not id_:
        raise FileFormatError(f"{where}: 'id' must be a non-empty string, got {str(id_)[:40]!r}")
    if split not in splits:
        raise FileFormatError(f"{where}: 'split' must be {' or '.join(map(repr, splits))}, got {str(split)[:40]!r}")
    if isinstance(target, bool) or target not in (0, 1):
        raise FileFormatError(f"{where}: 'target' must be 0 or 1, got {str(target)[:40]!r}")
    if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not math.isfinite(prob) or not 0 <= prob <= 1:
        raise FileFormatError(f"{where}: 'prob' must be a number in [0, 1], got {str(prob)[:40]!r}")
    return id_, split, int(target), float(prob)


def write_predictions(path: Path, rows: list[dict], splits: tuple[str, ...] = SPLITS) -> None:
    """Write `rows` as predictions.jsonl, each checked as `read_predictions` will check it."""
    seen: set[str] = set()
    for number, row in enumerate(rows, start=1):
        where = f"{path}: row {number} to write"
        id_, _, _, _ = _check_line(row, where, splits)
        _check_runs(row, where)
        if id_ in seen:
            raise FileFormatError(f"{where}: id {id_!r} given twice; each function gets one prediction")
        seen.add(id_)
    with atomic_path(path) as tmp:  # a stage killed mid-write leaves the old file, not half a new one
        write_json_lines(tmp, rows)


def _json_lines(path: Path) -> Iterator[tuple[int, Any]]:
    """(line number, parsed object) of every non-blank line; unreadable files are a FileFormatError."""
    if not path.is_file():
        what = "a directory, not a file" if path.is_dir() else "missing"
        raise FileFormatError(f"{path}: {what}; {REGENERATE}")
    try:
        yield from iter_json_lines(path)
    except InputFileError as exc:
        raise FileFormatError(f"{exc}; {REGENERATE}") from None


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
            raise FileFormatError(f"{where}: id {id_[:80]!r} appears {detail}; {REGENERATE}")
        seen_in[id_] = split
        rows[split][id_] = (target, prob)
        runs[id_] = _check_runs(obj, where)
    run_counts = {len(r) if r else 1 for r in runs.values()}
    if len(run_counts) > 1:
        raise FileFormatError(f"{path}: rows disagree on the number of seed runs ({sorted(run_counts)}); {REGENERATE}")
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
