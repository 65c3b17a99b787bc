"""What every source collector returns, and the errors they raise."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from streamguard.data.records import Record
from streamguard.errors import StreamGuardError


class CollectError(StreamGuardError):
    """A collection problem the user can fix; says what, where (file/URL/record) and what to do."""


class SourceSkipped(Exception):
    """Raised by a collector whose inputs are not configured; `reason` goes in the report."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Collected:
    """A collector's raw harvest, before the noise rules.

    `pairs` are (vulnerable, fixed) records of one changed function; `singles`
    are records without a counterpart (Juliet). `dropped` counts what the
    collector itself set aside (unparseable files, unreachable commits...), and
    `details` holds source-specific figures for the report.
    """

    pairs: list[tuple[Record, Record]] = field(default_factory=list)
    singles: list[Record] = field(default_factory=list)
    dropped: Counter = field(default_factory=Counter)
    details: dict[str, Any] = field(default_factory=dict)
