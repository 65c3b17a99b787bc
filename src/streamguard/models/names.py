"""Names defined once: the base models (CLI choices, params checks, the branch registry), the
leave-project-out models and reference rules, and the roles of the leave-project-out corpus's sources."""

from __future__ import annotations

BASE_MODELS: tuple[str, ...] = ("lexical", "transformer", "gnn")

# what the leave-project-out evaluation can train per held-out project (cheap enough to train once per
# project): TF-IDF + logistic regression, code metrics + logistic regression, flawfinder's findings +
# logistic regression, and a stacker over the others
GENERALIZE_MODELS: tuple[str, ...] = ("lexical", "code_metrics", "analyzers", "lexical_metrics")
# the base models of a shipped detector (stages/detector.py), scored from text without torch
TEXT_MODELS: tuple[str, ...] = ("hashed_lexical", "code_metrics")
# rules every model is reported beside, computed the same way
REFERENCE_RULES: tuple[str, ...] = ("length", "random")

# sources of the leave-project-out corpus (its records' `source`): pair sources give vulnerable/fixed
# pairs linked by `pair` ids; function sources give a project's labelled functions, the set its
# function-level figures are computed on
PAIR_SOURCES: tuple[str, ...] = ("git", "pairvul")
FUNCTION_SOURCES: tuple[str, ...] = ("snapshot", "devign")
CORPUS_SOURCES: tuple[str, ...] = (*PAIR_SOURCES, *FUNCTION_SOURCES)
