"""A git bundle (`git bundle create`) as a repository: cloned into a temporary folder for as long as it is read."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from streamguard.errors import StreamGuardError


def is_bundle(path: Path) -> bool:
    return path.is_file() and path.suffix == ".bundle"


@contextmanager
def cloned_bundle(bundle: Path, what: str) -> Iterator[Path]:
    """A bare clone of `bundle` (git objects only, nothing checked out), removed afterwards; `what` names it in errors."""
    with tempfile.TemporaryDirectory(prefix="streamguard-bundle-") as tmp:
        try:
            done = subprocess.run(
                ["git", "clone", "--bare", "--quiet", str(bundle), tmp], capture_output=True, text=True, timeout=3600
            )
        except (OSError, subprocess.SubprocessError) as exc:
            raise StreamGuardError(f"{what}: could not run `git clone` on {bundle} ({exc}); install git") from None
        if done.returncode != 0:
            reason = " ".join(done.stderr.split())[:200]
            raise StreamGuardError(f"{what}: {bundle} is not a readable git bundle: {reason}")
        yield Path(tmp)
