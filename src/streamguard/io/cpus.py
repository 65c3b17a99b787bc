"""How many CPUs this process may run on."""

from __future__ import annotations

import os


def cpu_count() -> int:
    """The CPUs this process may run on (its affinity mask on Linux, else the machine's count); at least 1."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1
