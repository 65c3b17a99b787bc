"""Shared fixtures: locations, and small real records from the bundled sample."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEVIGN_FULL = SHARED / "datasets" / "devign" / "devign.jsonl.gz"
SAMPLE = REPO / "data" / "sample" / "devign_sample.jsonl.gz"


@pytest.fixture(scope="session")
def sample_records():
    from streamguard.data.records import read_records

    return list(read_records(SAMPLE))


BIN = Path(sys.executable).parent  # the venv's dvc and streamguard
# absolute, so a subprocess started in a temp repo imports the same code (PYTHONPATH=src)
PYTHONPATH = os.pathsep.join(str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


def command_env() -> dict[str, str]:
    """The environment for dvc/git/streamguard subprocesses: this venv first, a git identity."""
    env = dict(os.environ)
    env["PATH"] = f"{BIN}:{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    if PYTHONPATH:
        env["PYTHONPATH"] = PYTHONPATH
    env.setdefault("GIT_AUTHOR_NAME", "test")
    env.setdefault("GIT_AUTHOR_EMAIL", "test@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "test")
    env.setdefault("GIT_COMMITTER_EMAIL", "test@example.com")
    return env


def sh(cwd: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run a command in cwd; with check, a failure shows its output's tail."""
    proc = subprocess.run(list(args), cwd=cwd, env=command_env(), capture_output=True, text=True, timeout=1200)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
        )
    return proc


def needs_shared(path: Path = DEVIGN_FULL):
    return pytest.mark.skipif(not path.exists(), reason=f"{path} not present (no ../shared in this clone)")


# the loopback S3 server fixture, for every cloud test (imported last: test_cloud_support reads REPO from here)
from test_cloud_support import moto_endpoint  # noqa: E402, F401, I001
