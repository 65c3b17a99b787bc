"""io.cpus: the CPUs this process may use, not the machine's count."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import command_env

from streamguard.io.cpus import cpu_count


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="CPU affinity is Linux-only")
def test_a_process_pinned_to_one_cpu_counts_one():
    one = min(os.sched_getaffinity(0))
    code = (
        f"import os; os.sched_setaffinity(0, {{{one}}}); from streamguard.io.cpus import cpu_count; print(cpu_count())"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=command_env()
    ).stdout
    assert out.strip() == "1"
    assert cpu_count() == len(os.sched_getaffinity(0))
