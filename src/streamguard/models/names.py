"""The base models' names, defined once: CLI choices, params checks and the branch registry read them."""

from __future__ import annotations

BASE_MODELS: tuple[str, ...] = ("lexical", "transformer", "gnn")
