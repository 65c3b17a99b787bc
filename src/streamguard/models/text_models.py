"""The detector's base models (registry.TEXT_MODELS), as `models.scorer.Scorer` members: each scores records from
their text, without torch.

- `hashed_lexical`: models/hashed_lexical.py (TF-IDF over hashed n-grams + logistic regression);
- `code_metrics`: models/code_metrics.py (code metrics + logistic regression).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streamguard.models.code_metrics import CodeMetricsModel, metrics_matrix
from streamguard.models.hashed_lexical import HashedLexicalModel


class TextModel:
    """A loaded text model with the members' interface: predict(records) -> P(vulnerable)."""

    def __init__(self, name: str, model: HashedLexicalModel | CodeMetricsModel) -> None:
        self.name = name
        self.model = model

    def predict(self, items: Sequence[Any]) -> np.ndarray:
        texts = [r.func for r in items]
        if isinstance(self.model, HashedLexicalModel):
            return self.model.predict_proba(texts)
        return self.model.predict_proba(metrics_matrix(texts))


# one class per name in registry.TEXT_MODELS (tests/models/test_registry.py checks they agree)
TEXT_MODEL_CLASSES: dict[str, type[HashedLexicalModel] | type[CodeMetricsModel]] = {
    "hashed_lexical": HashedLexicalModel,
    "code_metrics": CodeMetricsModel,
}


def load_text_model(name: str, folder: Path) -> TextModel:
    return TextModel(name, TEXT_MODEL_CLASSES[name].load(folder))
