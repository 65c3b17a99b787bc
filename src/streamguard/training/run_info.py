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
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from streamguard.training.ranks import is_main_process

LIBRARIES = ("torch", "transformers", "tokenizers", "torch-geometric", "scikit-learn", "tree-sitter", "dvc", "numpy")
RUN_INFO_FILE = "run_info.json"
TIMING_FILE = "timing.json"  # listed in .dvcignore


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


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
    **extra: Any,
) -> dict:
    """Write run_info.json and timing.json (wall_time_s, the commit, `timings`); return both merged."""
    info = {
        "seed": seed,
        "params": params,
        "data_sha256": data_sha256,
        "libraries": library_versions(),
        "device": device,
        **extra,
    }
    timing = {
        "wall_time_s": round(wall_time_s, 2),
        **{key: round(seconds, 2) for key, seconds in (timings or {}).items()},
        "git_commit": git_commit(),
    }
    if is_main_process():  # under torchrun, rank 0 alone writes
        out_dir.mkdir(parents=True, exist_ok=True)
        _write_json(out_dir / RUN_INFO_FILE, info)
        _write_json(out_dir / TIMING_FILE, timing)
    return {**info, **timing}
