"""run_info.json: enough to trace a model file found on its own; timing.json: how long it took.

run_info.json is a pure function of the run's inputs (seed, params, data hashes,
library versions, device), so retraining unchanged inputs gives the same model
folder hash and `make pipeline` leaves dvc.lock as it was. What changes on every
run (wall time, the commit checked out) goes to timing.json beside it, which
.dvcignore keeps out of DVC's hash of the folder (and so out of the DVC cache):
the lock's own commit already records which code produced the outputs.
"""

from __future__ import annotations

import json
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from streamguard.io.git import head_commit

LIBRARIES = ("torch", "transformers", "tokenizers", "torch-geometric", "scikit-learn", "tree-sitter", "dvc", "numpy")
RUN_INFO_FILE = "run_info.json"
TIMING_FILE = "timing.json"  # listed in .dvcignore


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")


def write_run_info(
    out_dir: Path,
    *,
    seed: int,
    params: dict[str, Any],
    data_sha256: dict[str, str],
    device: str,
    wall_time_s: float,
    timings: dict[str, float] | None = None,
    write: bool = True,
    **extra: Any,
) -> dict:
    """Write run_info.json and timing.json (wall_time_s, the commit, `timings`); return both merged.

    `write`: False on the processes that do not write (under torchrun, rank 0 alone writes).
    """
    info = {
        "seed": seed,
        "params": params,
        "data_sha256": data_sha256,
        "libraries": library_versions(),
        "device": device,
        **extra,
    }
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_json(out_dir / RUN_INFO_FILE, info)
    return {**info, **write_timing(out_dir, wall_time_s, timings, write=write)}


def write_timing(
    out_dir: Path, wall_time_s: float, timings: dict[str, float] | None = None, *, write: bool = True
) -> dict[str, Any]:
    """timing.json: the wall time, `timings` and the commit checked out, all kept out of the folder's hash."""
    timing = {
        "wall_time_s": round(wall_time_s, 2),
        **{key: round(seconds, 2) for key, seconds in (timings or {}).items()},
        "git_commit": head_commit(Path.cwd()),
    }
    if write:
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_json(out_dir / TIMING_FILE, timing)
    return timing


def read_run_info(model_dir: Path) -> dict[str, Any]:
    """The run_info.json of a trained model folder."""
    return json.loads((model_dir / RUN_INFO_FILE).read_text())
