"""Errors meant for people: the CLI prints them without a traceback (exit 2).

The message must say what was wrong, where (file, line, key) and what to do.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class StreamGuardError(Exception):
    """Base class for problems the user can fix."""


def exit_code(run: Callable[[], int]) -> int:
    """An entry point's exit code: a StreamGuardError is one `error:` line on stderr and code 2, no traceback."""
    try:
        return run()
    except StreamGuardError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
