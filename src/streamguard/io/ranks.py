"""Which process am I: rank and world size from the standard torchrun variables.

Only environment variables, no torch: stages that never train (lexical, fusion)
ask "am I rank 0?" without paying for importing torch
(`streamguard.training.distributed` has the collectives).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from streamguard.errors import StreamGuardError


@dataclass(frozen=True)
class DistContext:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def shard(self, global_idx: list[int]) -> list[int]:
        """This rank's items of one global batch (strided: shares differ by at most one)."""
        return global_idx[self.rank :: self.world_size] if self.enabled else global_idx


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "")
    if raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise StreamGuardError(f"environment variable {name}={raw!r} is not an integer (set by torchrun)") from None


def in_launched_group() -> bool:
    """True inside a process an outer launcher (torchrun, SageMaker) started: never launch again."""
    return "WORLD_SIZE" in os.environ


def context() -> DistContext:
    """Rank and world size from the standard torchrun variables (a single process without them)."""
    world = _env_int("WORLD_SIZE", 1)
    ctx = DistContext(_env_int("RANK", 0), world, _env_int("LOCAL_RANK", 0))
    if world < 1 or not 0 <= ctx.rank < world:
        raise StreamGuardError(f"RANK={ctx.rank} and WORLD_SIZE={world} are inconsistent; check the launcher")
    return ctx


def is_main_process() -> bool:
    """Whether this process writes files: rank 0, or the only process."""
    return context().is_main
