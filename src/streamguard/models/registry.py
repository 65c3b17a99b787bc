"""Every model by name, with what the code around it needs to know: the one list of model names.

A `ModelSpec` holds only what stages, loaders and reports branch on. Adding a base model is one entry
here, its module under models/ and its branch: loading and predicting in models/branches.py, fitting in
training/branches.py (each file's BRANCH_CLASSES).

This module is data and imports no other project module, so every layer reads it, params.py's
validation included (tests/test_layers.py places it below params).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True)
class ModelSpec:
    name: str
    # base: trained by `streamguard train/oof NAME` on the split, fused and evaluated;
    # fusion: the stacker over the base models; text: a shipped detector's member, scored from text
    role: Literal["base", "fusion", "text"]
    # what it scores: a function's text, or the function's graph (the graphs stage's output)
    inputs: Literal["text", "graphs"] = "text"
    # trained by the torch loop: may run under torchrun (its params section's nproc_per_node),
    # `oof.epochs` overrides its epochs for fold models, and scoring it imports torch
    neural: bool = False
    # the model every other model is compared with
    baseline: bool = False


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("lexical", "base", baseline=True),
        ModelSpec("transformer", "base", neural=True),
        ModelSpec("gnn", "base", inputs="graphs", neural=True),
        ModelSpec("fusion", "fusion"),
        ModelSpec("hashed_lexical", "text"),
        ModelSpec("code_metrics", "text"),
    )
}

# CLI choices of `train` and `oof`, oof.models, the branches
BASE_MODELS: tuple[str, ...] = tuple(name for name, spec in MODELS.items() if spec.role == "base")
FUSION = next(name for name, spec in MODELS.items() if spec.role == "fusion")
# what `evaluate` reads, in report order
EVALUATED_MODELS: tuple[str, ...] = (*BASE_MODELS, FUSION)
BASELINE = next(name for name, spec in MODELS.items() if spec.baseline)
# the models whose use is to beat the baseline
DEEP_MODELS: tuple[str, ...] = tuple(name for name in EVALUATED_MODELS if name != BASELINE)
# the base models of a shipped detector (stages/detector.py), scored from text without torch
TEXT_MODELS: tuple[str, ...] = tuple(name for name, spec in MODELS.items() if spec.role == "text")
NEURAL_MODELS: tuple[str, ...] = tuple(name for name, spec in MODELS.items() if spec.neural)
# the models that score graphs: scoring them needs the graph vocabulary
GRAPH_MODELS: tuple[str, ...] = tuple(name for name, spec in MODELS.items() if spec.inputs == "graphs")

# (model, against) pairs `evaluate` compares: the fusion against each base model, then each deep base
# model against the baseline
COMPARISON_PAIRS: tuple[tuple[str, str], ...] = (
    *((FUSION, name) for name in BASE_MODELS),
    *((name, BASELINE) for name in BASE_MODELS if name != BASELINE),
)

# what the leave-project-out evaluation can train per held-out project (cheap enough to train once per
# project): TF-IDF over hashed n-grams + logistic regression, code metrics + logistic regression,
# C analyzers' findings + logistic regression, and a stacker over the others. Its own namespace:
# its `lexical` is the hashed lexical model
GENERALIZE_MODELS: tuple[str, ...] = ("lexical", "code_metrics", "analyzers", "lexical_metrics")
# the C analyzers whose findings per function (models/analyzer_findings.py) the analyzers model reads
ANALYZERS: tuple[str, ...] = ("flawfinder", "cppcheck")
