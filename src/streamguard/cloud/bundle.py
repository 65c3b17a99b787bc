"""The source bundle a SageMaker job runs: the working tree as git sees it, plus its history.

Layout of the tar.gz (the job extracts it in /opt/ml/input/data/code):

    repo/...             every file `git ls-files --cached --others --exclude-standard` lists
                         (tracked files and new unignored ones, as they are on disk now)
    meta/source.bundle   `git bundle create - HEAD`, so the job's repository has the same
                         commit and `dvc exp` has a baseline

Ignored paths never go in: .venv, DVC outputs, .dvc/cache and .dvc/config.local
(where DVC keeps credentials) stay on this machine.
"""

from __future__ import annotations

import subprocess
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from streamguard.errors import StreamGuardError

CODE_DIR = "repo"
META_DIR = "meta"
GIT_BUNDLE = f"{META_DIR}/source.bundle"
# never shipped, whatever .gitignore says
NEVER = (".dvc/config.local", ".dvc/cache", ".dvc/tmp", ".git")


@dataclass(frozen=True)
class SourceInfo:
    commit: str | None  # HEAD, or None in a repository without commits
    dirty: bool  # the working tree differs from HEAD (uncommitted or new files)
    files: list[str]


@dataclass(frozen=True)
class SourceBundle:
    path: Path
    info: SourceInfo
    size: int
    with_history: bool


def _git(root: Path, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    except FileNotFoundError:
        raise StreamGuardError("git is not installed; the SageMaker launcher ships the repository with it") from None


def _shipped(rel: str) -> bool:
    return not any(rel == n or rel.startswith(n + "/") for n in NEVER)


def source_info(root: str | Path = ".") -> SourceInfo:
    root = Path(root)
    listed = _git(root, "ls-files", "--cached", "--others", "--exclude-standard", "-z")
    if listed.returncode != 0:
        raise StreamGuardError(f"{root}: not a git repository ({listed.stderr.decode(errors='replace').strip()}); "
                               "run `streamguard sagemaker` from the repository root")
    files = sorted({f for f in listed.stdout.decode().split("\0") if f and _shipped(f)
                    and ((root / f).is_file() or (root / f).is_symlink())})
    head = _git(root, "rev-parse", "--verify", "-q", "HEAD")
    commit = head.stdout.decode().strip() if head.returncode == 0 else None
    status = _git(root, "status", "--porcelain")
    return SourceInfo(commit=commit, dirty=bool(status.stdout.strip()) or commit is None, files=files)


def _normalise(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    # the job extracts as root: files owned by a local uid would make git refuse the repository
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def build_source_bundle(root: str | Path, out: str | Path) -> SourceBundle:
    """Write the tar.gz described in the module docstring to `out`."""
    root, out = Path(root), Path(out)
    info = source_info(root)
    if "cloud/sagemaker_entry.sh" not in info.files:
        raise StreamGuardError(f"{root}/cloud/sagemaker_entry.sh is missing; the job has nothing to run")
    out.parent.mkdir(parents=True, exist_ok=True)
    with_history = False
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(out, "w:gz") as tar:
        for rel in info.files:
            tar.add(root / rel, arcname=f"{CODE_DIR}/{rel}", recursive=False, filter=_normalise)
        if info.commit:
            git_bundle = Path(tmp) / "source.bundle"
            made = _git(root, "bundle", "create", str(git_bundle), "HEAD")
            if made.returncode == 0:
                tar.add(git_bundle, arcname=GIT_BUNDLE, filter=_normalise)
                with_history = True
    return SourceBundle(path=out, info=info, size=out.stat().st_size, with_history=with_history)
