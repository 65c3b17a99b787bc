"""Shared fixtures: locations, and small real records from the bundled sample."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
DEVIGN_FULL = SHARED / "datasets" / "devign" / "devign.jsonl.gz"
SAMPLE = REPO / "data" / "sample" / "devign_sample.jsonl.gz"


@pytest.fixture(scope="session")
def sample_records():
    from streamguard.data.records import read_records

    return list(read_records(SAMPLE))


# params of the small processed sample: 300 records, 3 OOF folds, a small lexical model
SMALL_PARAMS = {"oof": {"models": ["lexical"], "folds": 3}, "lexical": {"max_features": 2000}, "data": {"limit": 300}}


@pytest.fixture
def small_processed(tmp_path, sample_records) -> Path:
    """A processed folder (train/valid/test.jsonl) of 300 sample records, split as preprocess splits them."""
    from streamguard.data.preprocess import preprocess_records
    from streamguard.data.records import Record, write_records
    from streamguard.params import params_from_dict

    records, _ = preprocess_records([Record(**r.to_dict()) for r in sample_records], params_from_dict(SMALL_PARAMS))
    out = tmp_path / "processed"
    for split in ("train", "valid", "test"):
        write_records(out / f"{split}.jsonl", [r for r in records if r.split == split])
    return out


class GitRepo:
    """A real git repository in a temporary folder, committed to with fixed authors and dates."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.commits = 0
        path.mkdir(parents=True)
        self.git("init", "-q")

    def git(self, *args: str) -> str:
        import subprocess

        identity = ["-c", "user.name=Test", "-c", "user.email=test@example.org", "-c", "commit.gpgsign=false"]
        env = {"GIT_AUTHOR_DATE": f"{1_600_000_000 + 1000 * self.commits} +0000", "PATH": "/usr/bin:/bin"}
        env["GIT_COMMITTER_DATE"] = env["GIT_AUTHOR_DATE"]
        done = subprocess.run(
            ["git", *identity, *args], cwd=self.path, check=True, capture_output=True, text=True, env=env
        )
        return done.stdout.strip()

    def commit(self, files: dict[str, str], message: str) -> str:
        for rel, text in files.items():
            (self.path / rel).parent.mkdir(parents=True, exist_ok=True)
            (self.path / rel).write_text(text)
            self.git("add", rel)
        self.commits += 1
        self.git("commit", "-q", "-m", message)
        return self.git("rev-parse", "HEAD")


@pytest.fixture
def git_repo(tmp_path):
    """Factory: git_repo("name") is a fresh GitRepo under tmp_path."""
    return lambda name: GitRepo(tmp_path / name)


BIN = Path(sys.executable).parent  # the venv's dvc and streamguard
# absolute, so a subprocess started in a temp repo imports the same code (PYTHONPATH=src)
PYTHONPATH = os.pathsep.join(str(Path(p).resolve()) for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p)


def command_env() -> dict[str, str]:
    """The environment for dvc/git/streamguard subprocesses: this venv first, a git identity."""
    # a command run here acts as one typed at a terminal, also when pytest itself runs under `make test`
    env = {key: value for key, value in os.environ.items() if key not in ("MAKELEVEL", "MAKEFLAGS", "MFLAGS")}
    env["PATH"] = f"{BIN}:{env['PATH']}"
    env["DVC_NO_ANALYTICS"] = "1"
    if PYTHONPATH:
        env["PYTHONPATH"] = PYTHONPATH
    env.setdefault("GIT_AUTHOR_NAME", "test")
    env.setdefault("GIT_AUTHOR_EMAIL", "test@example.com")
    env.setdefault("GIT_COMMITTER_NAME", "test")
    env.setdefault("GIT_COMMITTER_EMAIL", "test@example.com")
    return env


def merge_params(base: dict, over: dict) -> dict:
    """`over`'s keys written into `base`, nested sections merged key by key."""
    for key, value in over.items():
        if isinstance(value, dict):
            merge_params(base.setdefault(key, {}), value)
        else:
            base[key] = value
    return base


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


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` with a fixed identity; its stdout."""
    return subprocess.run(
        ["git", "-C", str(repo), *args],
        check=True,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            "GIT_AUTHOR_NAME": "t",
            "GIT_AUTHOR_EMAIL": "t@t",
            "GIT_COMMITTER_NAME": "t",
            "GIT_COMMITTER_EMAIL": "t@t",
        },
    ).stdout


def init_repo(repo: Path) -> Path:
    repo.mkdir(parents=True, exist_ok=True)
    git(repo, "init", "-q", "-b", "main")
    return repo


def commit(repo: Path, message: str) -> None:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture(scope="session")
def trained(tmp_path_factory, sample_records):
    """A trained models folder (lexical + fusion), its params file, and two test functions: the highest and
    lowest fused scores. Shared by every scan test module; treat it as read-only (copy it to tamper)."""
    from test_oof_fusion import PARAMS, _pipeline

    from streamguard.c_functions import extract_functions
    from streamguard.data.records import read_split
    from streamguard.evaluation.predictions import read_predictions

    root = tmp_path_factory.mktemp("scan_models")
    _pipeline(root, sample_records)
    params_file = root / "params.yaml"
    params_file.write_text(yaml.safe_dump(PARAMS))
    fused = read_predictions(root / "models/fusion/predictions.jsonl", "fusion").splits["test"]
    prob = dict(zip(fused.ids, fused.prob))
    # functions the extractor cuts out of a file exactly as written (so the pipeline's probability applies)
    clean = [
        r
        for r in read_split(root / "processed", "test")
        if [f.text for f in extract_functions(r.func)] == [r.func] and len(r.func) < 1500
    ]
    clean.sort(key=lambda r: prob[r.id])
    threshold = json.loads((root / "models/fusion/fusion.json").read_text())["threshold"]
    low, high = clean[0], clean[-1]
    assert prob[low.id] < threshold <= prob[high.id], "the planted functions must straddle the threshold"
    return {
        "models": root / "models",
        "params": params_file,
        "threshold": threshold,
        "low": (low.func, prob[low.id]),
        "high": (high.func, prob[high.id]),
    }


# the loopback S3 server fixture, for every cloud test (imported last: test_cloud_support reads REPO from here)
from test_cloud_support import moto_endpoint  # noqa: E402, F401, I001
