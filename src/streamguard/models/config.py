"""A model's own config: its architecture fields only (no epochs, learning rate or device).

Each model module defines one as a frozen dataclass; the code that holds a params section (a branch,
a stage) builds it with `Config.of(section)`, so models never read params.yaml's sections.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Self


@dataclass(frozen=True)
class ModelConfig:
    @classmethod
    def of(cls, section: Any) -> Self:
        """This config's fields, read by name from a params section (or any object that has them)."""
        return cls(**{f.name: getattr(section, f.name) for f in fields(cls)})
