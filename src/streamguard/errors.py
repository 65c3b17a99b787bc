"""Errors meant for people: the CLI prints them without a traceback (exit 2).

The message must say what was wrong, where (file, line, key) and what to do.
"""


class StreamGuardError(Exception):
    """Base class for problems the user can fix."""
