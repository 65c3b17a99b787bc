"""The source bundle a SageMaker job runs: the files git tracks, plus the history.

Layout of the tar.gz (the job extracts it in /opt/ml/input/data/code):

    repo/...             every file `git ls-files --cached` lists, as it is on disk now;
                         with include_untracked, also the new unignored files
                         (`git ls-files --others --exclude-standard`)
    meta/files           the repo/ paths above, NUL-separated: what the entry script commits
    meta/source.bundle   `git bundle create - HEAD`, so the job's repository has the same
                         commit and `dvc exp` has a baseline

Never shipped: ignored paths (.venv, DVC outputs), .dvc/cache, .dvc/config.local (where
DVC keeps credentials), and untracked files that look like credentials (secret_paths.py).
A tracked file that looks like credentials, or one anywhere in HEAD's history, stops the
launch: the history ships whole, so leaving the file out of repo/ would not keep it home.
So does a file about to ship whose content holds credentials, whatever its name
(secret_content.py: AWS keys, private keys, tokens; a tracked .dvc/config with a
secret_access_key included): the message names file and line, never the value.
"""

from __future__ import annotations

import os
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from streamguard.cloud.secret_content import secrets_in_files
from streamguard.cloud.secret_paths import is_secret_path
from streamguard.errors import StreamGuardError
from streamguard.io.git import GitError, git_value, run_git

CODE_DIR = "repo"
META_DIR = "meta"
GIT_BUNDLE = f"{META_DIR}/source.bundle"
MANIFEST = f"{META_DIR}/files"
# never shipped, whatever .gitignore says
NEVER = (".dvc/config.local", ".dvc/cache", ".dvc/tmp", ".git")


@dataclass(frozen=True)
class SourceInfo:
    commit: str | None  # HEAD, or None in a repository without commits
    dirty: bool  # what ships differs from HEAD (uncommitted changes, or shipped new files)
    files: list[str]  # the repo/ paths that ship, sorted
    bytes: int = 0  # their size on disk
    include_untracked: bool = False
    untracked_left_out: list[str] = field(default_factory=list)  # new files not asked for
    secrets_left_out: list[str] = field(default_factory=list)  # new files that look like credentials


@dataclass(frozen=True)
class SourceBundle:
    path: Path
    info: SourceInfo
    size: int
    with_history: bool


def _listed(root: Path, *args: str) -> list[str]:
    try:
        listing = run_git(root, *args, "-z")
    except GitError as exc:
        if not exc.installed:
            raise StreamGuardError(
                "git is not installed; the SageMaker launcher ships the repository with it"
            ) from None
        raise StreamGuardError(
            f"{root}: not a git repository ({exc.reason}); run `streamguard sagemaker` from the repository root"
        ) from None
    return [os.fsdecode(f) for f in listing.split(b"\0") if f]


def _shipped(root: Path, rel: str) -> bool:
    # a tracked file deleted on disk does not ship (the job's commit records the deletion)
    never = any(rel == n or rel.startswith(n + "/") for n in NEVER)
    return not never and ((root / rel).is_file() or (root / rel).is_symlink())


def named(paths: list[str], shown: int = 5) -> str:
    """The first `shown` paths, then how many more: keeps messages short."""
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


def _refuse_tracked_secrets(root: Path, tracked: list[str], commit: str | None) -> None:
    """Stop when credentials are in the index or in the history that ships as meta/source.bundle."""
    in_index = sorted(f for f in tracked if is_secret_path(f))
    if in_index:
        raise StreamGuardError(
            f"{root}: git tracks {named(in_index)}, which look(s) like credentials; the SageMaker bundle will not "
            f"ship it. Untrack it: `git rm --cached <path>`, add it to .gitignore and commit; it then stays in the "
            f"history, which ships too, so remove it there as well (e.g. `git filter-repo --invert-paths --path "
            f"<path>`) and rotate the secret. Not a secret? Rename it (see streamguard/cloud/secret_paths.py)"
        )
    if commit is None:
        return
    objects = run_git(root, "rev-list", "--objects", "HEAD")
    paths = {os.fsdecode(line.split(b" ", 1)[1]) for line in objects.splitlines() if b" " in line}
    in_history = sorted(p for p in paths if is_secret_path(p))
    if in_history:
        raise StreamGuardError(
            f"{root}: the git history of HEAD contains {named(in_history)}, which look(s) like credentials, and "
            f"the SageMaker bundle ships that history ({GIT_BUNDLE}). Remove it from the history (e.g. "
            "`git filter-repo --invert-paths --path <path>`) and rotate the secret. Not a secret? Rename it "
            "(see streamguard/cloud/secret_paths.py)"
        )


def _refuse_secret_content(root: Path, files: list[str]) -> None:
    hits = secrets_in_files(root, files)
    if hits:
        dvc_config = any(h.path == ".dvc/config" for h in hits)
        raise StreamGuardError(
            f"{root}: credentials in files the SageMaker bundle would ship: {named([str(h) for h in hits])}. "
            "Take them out of the file"
            + (
                " (DVC: `dvc remote modify --local storage secret_access_key ...` keeps them in the untracked "
                ".dvc/config.local; remove them from .dvc/config)"
                if dvc_config
                else ""
            )
            + ", keep them out of git's history too, and rotate any key that was committed or pushed"
        )


def source_info(root: str | Path = ".", *, include_untracked: bool = False) -> SourceInfo:
    """What the bundle of `root` ships; raises StreamGuardError when git tracks something that looks secret."""
    root = Path(root)
    tracked = _listed(root, "ls-files", "--cached")
    untracked = [f for f in _listed(root, "ls-files", "--others", "--exclude-standard") if _shipped(root, f)]
    commit = git_value(root, "rev-parse", "--verify", "-q", "HEAD")
    _refuse_tracked_secrets(root, tracked, commit)

    secrets = sorted(f for f in untracked if is_secret_path(f))
    plain_untracked = sorted(f for f in untracked if not is_secret_path(f))
    files = sorted({f for f in tracked if _shipped(root, f)} | (set(plain_untracked) if include_untracked else set()))
    _refuse_secret_content(root, files)
    changed = run_git(root, "status", "--porcelain", "--untracked-files=no")
    dirty = commit is None or bool(changed.strip()) or (include_untracked and bool(plain_untracked))
    return SourceInfo(
        commit=commit,
        dirty=dirty,
        files=files,
        bytes=sum((root / f).lstat().st_size for f in files),
        include_untracked=include_untracked,
        untracked_left_out=[] if include_untracked else plain_untracked,
        secrets_left_out=secrets,
    )


def _normalise(ti: tarfile.TarInfo) -> tarfile.TarInfo:
    # the job extracts as root: files owned by a local uid would make git refuse the repository
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def build_source_bundle(root: str | Path, out: str | Path, info: SourceInfo | None = None) -> SourceBundle:
    """Write the tar.gz described in the module docstring to `out`: `info.files` (default: tracked files only)."""
    root, out = Path(root), Path(out)
    info = info or source_info(root)
    if "cloud/sagemaker_entry.sh" not in info.files:
        raise StreamGuardError(f"{root}/cloud/sagemaker_entry.sh is missing or untracked; the job has nothing to run")
    out.parent.mkdir(parents=True, exist_ok=True)
    with_history = False
    with tempfile.TemporaryDirectory() as tmp, tarfile.open(out, "w:gz") as tar:
        for rel in info.files:
            tar.add(root / rel, arcname=f"{CODE_DIR}/{rel}", recursive=False, filter=_normalise)
        manifest = Path(tmp) / "files"
        manifest.write_bytes(b"".join(os.fsencode(rel) + b"\0" for rel in info.files))
        tar.add(manifest, arcname=MANIFEST, filter=_normalise)
        if info.commit:
            git_bundle = Path(tmp) / "source.bundle"
            try:
                run_git(root, "bundle", "create", str(git_bundle), "HEAD")
            except GitError:
                pass  # shipped without history: the job still runs, `with_history` says so
            else:
                tar.add(git_bundle, arcname=GIT_BUNDLE, filter=_normalise)
                with_history = True
    return SourceBundle(path=out, info=info, size=out.stat().st_size, with_history=with_history)
