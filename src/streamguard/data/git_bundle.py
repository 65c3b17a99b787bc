"""A git bundle (`git bundle create`) as a repository: cloned into a temporary folder for as long as it is read."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamguard.errors import StreamGuardError
from streamguard.io.git import GitError, run_git


def is_bundle(path: Path) -> bool:
    return path.is_file() and path.suffix == ".bundle"


@contextmanager
def cloned_bundle(bundle: Path, what: str) -> Iterator[Path]:
    """A bare clone of `bundle` (git objects only, nothing checked out), removed afterwards; `what` names it in errors."""
    with tempfile.TemporaryDirectory(prefix="streamguard-bundle-") as tmp:
        try:
            run_git(Path(tmp), "clone", "--bare", "--quiet", str(bundle.absolute()), tmp, timeout=3600)
        except GitError as exc:
            if not exc.installed:
                raise StreamGuardError(
                    f"{what}: could not run `git clone` on {bundle} ({exc.reason}); install git"
                ) from None
            raise StreamGuardError(f"{what}: {bundle} is not a readable git bundle: {exc.reason[:200]}") from None
        yield Path(tmp)
