"""One writer per checkpoint folder: an exclusive lock held while a stage trains into it."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from streamguard.errors import StreamGuardError
from streamguard.io.ranks import is_main_process


class CheckpointInUseError(StreamGuardError):
    pass


@contextlib.contextmanager
def checkpoint_claim(checkpoint_dir: Path) -> Iterator[None]:
    """Hold an exclusive lock on `checkpoint_dir` while a stage trains into it.

    Two processes writing one folder would resume from each other's checkpoints
    (two manual `streamguard train` runs in one workspace, or a `checkpoints` link to
    one shared disk). The second one stops here, saying why. The lock file sits next
    to the folder (the loop empties the folder itself); the kernel drops the lock when
    the process ends, however it ends. Only the process that writes checkpoints
    claims: under torchrun that is rank 0; the other ranks write none.
    """
    if not is_main_process():
        yield
        return
    import fcntl

    checkpoint_dir.parent.mkdir(parents=True, exist_ok=True)
    lock_path = checkpoint_dir.parent / f".{checkpoint_dir.name}.lock"
    with open(lock_path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another process"
            raise CheckpointInUseError(
                f"{checkpoint_dir}: the checkpoint folder is in use by {holder} ({lock_path} is locked). "
                "Concurrent runs must not share a checkpoint folder: run parallel experiments with "
                "`dvc exp run --queue` and `dvc queue start -j N` (each gets its own workspace), or wait "
                "for the other run to finish"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(f"pid {os.getpid()} (`{' '.join(sys.argv)[:200]}` in {Path.cwd()})\n")
        fh.flush()
        yield
