"""The fold assignment file: which OOF fold each training record is held out in.

Written once by the folds stage (stages/folds.py), read by every oof fold stage, so
all models' fold k hold out the same records. JSON: {"folds": K, "seed": S,
"records": N, "fold_of": {record id: fold}} with sorted keys.
"""

from __future__ import annotations

import json
from pathlib import Path

from streamguard.errors import StreamGuardError


class FoldsError(StreamGuardError):
    pass


def write_folds(path: Path, fold_of: dict[str, int], folds: int, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    content = {"folds": folds, "seed": seed, "records": len(fold_of), "fold_of": fold_of}
    path.write_text(json.dumps(content, sort_keys=True, indent=0) + "\n", encoding="utf-8")


def read_folds(path: Path, folds: int, seed: int) -> dict[str, int]:
    """record id -> fold, checked against the oof.folds and seed the reader runs with."""
    redo = f"rerun the folds stage (`dvc repro folds`, or `streamguard folds --out {path}`)"
    if not path.is_file():
        raise FoldsError(f"{path}: no fold assignment file; {redo}")
    try:
        content = json.loads(path.read_text(encoding="utf-8"))
        fold_of = {str(k): int(v) for k, v in content["fold_of"].items()}
        written = (int(content["folds"]), int(content["seed"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise FoldsError(f"{path}: not a fold assignment file ({type(exc).__name__}: {exc}); {redo}") from None
    if written != (folds, seed):
        raise FoldsError(
            f"{path} assigns {written[0]} folds with seed {written[1]}, but params say oof.folds={folds}, "
            f"seed={seed}; {redo}"
        )
    outside = sorted({f for f in fold_of.values() if not 0 <= f < folds})
    if outside:
        raise FoldsError(f"{path}: fold(s) {outside} are outside 0..{folds - 1}; {redo}")
    return fold_of
