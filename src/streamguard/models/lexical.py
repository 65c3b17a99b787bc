"""TF-IDF over C tokens + logistic regression: the baseline every deep model must beat.

Saved as plain JSON/NumPy (vocabulary, idf, coefficients), so loading never
unpickles anything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streamguard.models.config import ModelConfig

if TYPE_CHECKING:  # imported where a model is built: TOKEN_PATTERN's users need no scikit-learn
    from sklearn.feature_extraction.text import TfidfVectorizer

# identifiers, numbers, and C's multi-character operators as tokens
TOKEN_PATTERN = r"[A-Za-z_]\w*|\d[\w.]*|->|\+\+|--|<<=?|>>=?|[<>=!]=|&&|\|\||[^\s\w]"


@dataclass(frozen=True)
class LexicalConfig(ModelConfig):
    max_features: int  # vocabulary size: the most frequent n-grams of the training split
    ngram_max: int
    C: float  # inverse regularisation strength of the logistic regression


class LexicalModel:
    def __init__(self, config: LexicalConfig, seed: int = 0) -> None:
        from sklearn.linear_model import LogisticRegression

        self.config = config
        self.vectorizer = self._vectorizer()
        self.classifier = LogisticRegression(C=config.C, max_iter=2000, random_state=seed)

    def _vectorizer(self, vocabulary: dict | None = None) -> TfidfVectorizer:
        from sklearn.feature_extraction.text import TfidfVectorizer

        return TfidfVectorizer(
            token_pattern=TOKEN_PATTERN,
            lowercase=False,
            ngram_range=(1, self.config.ngram_max),
            max_features=self.config.max_features,
            sublinear_tf=True,
            vocabulary=vocabulary,
            dtype=np.float32,
        )

    def fit(self, texts: list[str], labels: list[int], weights: np.ndarray) -> LexicalModel:
        X = self.vectorizer.fit_transform(texts)
        self.classifier.fit(X, labels, sample_weight=weights)
        return self

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.classifier.predict_proba(self.vectorizer.transform(texts))[:, 1]

    def save(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        vocab = {term: int(i) for term, i in self.vectorizer.vocabulary_.items()}
        (out_dir / "vocabulary.json").write_text(json.dumps(vocab, sort_keys=True))
        np.savez(
            out_dir / "weights.npz",
            idf=self.vectorizer.idf_,
            coef=self.classifier.coef_,
            intercept=self.classifier.intercept_,
        )
        (out_dir / "config.json").write_text(json.dumps(vars(self.config), indent=2))

    @classmethod
    def load(cls, out_dir: Path) -> LexicalModel:
        model = cls(LexicalConfig(**json.loads((out_dir / "config.json").read_text())))
        model.vectorizer = model._vectorizer(json.loads((out_dir / "vocabulary.json").read_text()))
        arrays = np.load(out_dir / "weights.npz", allow_pickle=False)
        model.vectorizer.idf_ = arrays["idf"]
        model.classifier.coef_ = arrays["coef"]
        model.classifier.intercept_ = arrays["intercept"]
        model.classifier.classes_ = np.array([0, 1])
        return model
