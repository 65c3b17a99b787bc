"""models/fusion/fusion.json, the fitted fusion's summary: its one writer and its one reader.

The fusion stage writes it (`write_fusion_summary`); evaluation reads its
threshold, and `models.fusion.load_stacker` rebuilds the stacker from it. The
reader checks every key it hands on and reports a violation as a
FileFormatError naming the file and the key.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from streamguard.io.errors import FileFormatError

FUSION_FILE = "fusion.json"

_REFIT = "re-run the fusion stage (dvc repro fusion)"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def read_fusion_summary(path: Path, stacker: bool = True) -> dict:
    """models/fusion/fusion.json, checked: the threshold always, the fitted stacker's keys when `stacker`."""
    if not path.is_file():
        what = "a directory, not a file" if path.is_dir() else "not found"
        raise FileFormatError(f"{path}: {what}; {_REFIT}")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno}); {_REFIT}") from None
    except (UnicodeDecodeError, RecursionError):
        raise FileFormatError(f"{path}: not readable JSON text (not UTF-8, or nested too deeply); {_REFIT}") from None
    if not isinstance(info, dict):
        raise FileFormatError(f"{path}: expected a JSON object, got {type(info).__name__}; {_REFIT}")

    def bad(key: str, want: str) -> FileFormatError:
        return FileFormatError(f"{path}: '{key}' must be {want}, got {str(info.get(key))[:60]!r}; {_REFIT}")

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


def write_fusion_summary(path: Path, summary: dict) -> None:
    """`summary` as fusion.json (indented, in the order given)."""
    path.write_text(json.dumps(summary, indent=2) + "\n")
