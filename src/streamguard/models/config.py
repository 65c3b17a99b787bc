"""A model's own config: its architecture fields only (no epochs, learning rate or device).

Each model module defines one as a frozen dataclass; the code that holds a params section (a branch,
a stage) builds it with `Config.of(section)`; the model never sees the section itself.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, TypeVar

C = TypeVar("C", bound="ModelConfig")


@dataclass(frozen=True)
class ModelConfig:
    @classmethod
    def of(cls: type[C], section: Any) -> C:
        """This config's fields, read by name from a params section (or any object that has them)."""
        return cls(**{f.name: getattr(section, f.name) for f in fields(cls)})
