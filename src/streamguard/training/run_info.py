"""run_info.json: enough to trace a model file found on its own."""

from __future__ import annotations

import json
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from streamguard.training.ranks import is_main_process

LIBRARIES = ("torch", "transformers", "tokenizers", "torch-geometric", "scikit-learn", "tree-sitter", "dvc", "numpy")


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


def write_run_info(
    out_dir: Path,
    *,
    seed: int,
    params: dict[str, Any],
    data_sha256: dict[str, str],
    device: str,
    wall_time_s: float,
    **extra: Any,
) -> dict:
    info = {
        "git_commit": git_commit(),
        "seed": seed,
        "params": params,
        "data_sha256": data_sha256,
        "libraries": library_versions(),
        "device": device,
        "wall_time_s": round(wall_time_s, 2),
        **extra,
    }
    if not is_main_process():  # under torchrun, rank 0 alone writes
        return info
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "run_info.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    return info
