"""TF-IDF + logistic regression over hashed token n-grams: the lexical model of the leave-project-out protocol.

The n-grams are the tokens of models/lexical.py, hashed into `n_features`
columns, so counts need no vocabulary: a corpus is counted once and every
fold learns only its idf and weights. With `min_projects` > 1 a column is a
feature only where that many training projects use it. Saved as plain
JSON/NumPy (config, idf, coefficients, the kept columns): loading never
unpickles anything.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression

from streamguard.errors import StreamGuardError
from streamguard.models.lexical import TOKEN_PATTERN
from streamguard.models.pair_ranking import fit_ranking

CONFIG_FILE = "hashed_lexical.json"
WEIGHTS_FILE = "weights.npz"
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]


@dataclass
class HashedLexicalConfig:
    ngram_max: int = 3
    C: float = 1.0
    # collisions are rare at 2**18 columns
    n_features: int = 2**18
    min_projects: int = 1


def hashed_counts(texts: list[str], config: HashedLexicalConfig) -> sparse.csr_matrix:
    """Token n-gram counts, hashed: nothing is learned from any text here."""
    vectorizer = HashingVectorizer(
        token_pattern=TOKEN_PATTERN,
        lowercase=False,
        ngram_range=(1, config.ngram_max),
        n_features=config.n_features,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    )
    return vectorizer.transform(texts).tocsr()


def shared_columns(counts: sparse.csr_matrix, project: np.ndarray, min_projects: int) -> np.ndarray:
    """A 0/1 vector keeping the columns that at least min_projects of the given projects use."""
    used_by = np.zeros(counts.shape[1], dtype=np.int32)
    for name in np.unique(project):
        used_by += np.asarray((counts[project == name] != 0).sum(axis=0)).ravel() > 0
    return (used_by >= min_projects).astype(counts.dtype)


class HashedLexicalModel:
    def __init__(self, config: HashedLexicalConfig, seed: int = 0) -> None:
        self.config = config
        self.keep: np.ndarray | None = None  # None: every column
        self.tfidf = TfidfTransformer(sublinear_tf=True)
        # liblinear's dual: fast and deterministic with far more sparse columns than rows, where lbfgs crawls
        self.classifier = LogisticRegression(
            C=config.C, solver="liblinear", dual=True, max_iter=1000, random_state=seed
        )

    def _kept(self, counts: sparse.csr_matrix) -> sparse.csr_matrix:
        return counts if self.keep is None else counts @ sparse.diags(self.keep, format="csr")

    def fit(
        self,
        counts: sparse.csr_matrix,
        labels: np.ndarray,
        weights: np.ndarray,
        pairs: Pairs | None = None,
        project: np.ndarray | None = None,
    ) -> HashedLexicalModel:
        """Fit on hashed counts; `project` (one name per row) is needed when min_projects > 1."""
        if self.config.min_projects > 1:
            if project is None:
                raise StreamGuardError("min_projects > 1 needs each training row's project")
            self.keep = shared_columns(counts, project, self.config.min_projects)
        counts = self._kept(counts)
        self.tfidf.fit(counts)
        fit_ranking(self.classifier, self.tfidf.transform(counts), labels, weights, pairs)
        return self

    def predict_counts(self, counts: sparse.csr_matrix) -> np.ndarray:
        return self.classifier.predict_proba(self.tfidf.transform(self._kept(counts)))[:, 1]

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.predict_counts(hashed_counts(texts, self.config))

    def save(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        arrays = {
            "idf": self.tfidf.idf_,
            "coef": self.classifier.coef_[0],
            "intercept": self.classifier.intercept_,
        }
        if self.keep is not None:
            arrays["keep"] = self.keep.astype(np.uint8)
        np.savez_compressed(out_dir / WEIGHTS_FILE, **arrays)

    @classmethod
    def load(cls, out_dir: Path) -> HashedLexicalModel:
        path = out_dir / CONFIG_FILE
        try:
            config = HashedLexicalConfig(**json.loads(path.read_text(encoding="utf-8")))
            with np.load(out_dir / WEIGHTS_FILE, allow_pickle=False) as arrays:
                idf, coef, intercept = arrays["idf"], arrays["coef"], arrays["intercept"]
                keep = arrays["keep"].astype(np.float32) if "keep" in arrays.files else None
        except (OSError, KeyError, TypeError, ValueError) as exc:
            raise StreamGuardError(
                f"{out_dir}: not a hashed lexical model ({type(exc).__name__}: {exc}); retrain it "
                "(streamguard train-detector)"
            ) from None
        if not (idf.shape == coef.shape == (config.n_features,)) or (keep is not None and keep.shape != idf.shape):
            raise StreamGuardError(
                f"{out_dir / WEIGHTS_FILE}: arrays of {idf.shape} / {coef.shape}, the config says "
                f"{config.n_features} columns; retrain it (streamguard train-detector)"
            )
        model = cls(config)
        model.keep = keep
        model.tfidf.idf_ = idf
        model.tfidf.n_features_in_ = config.n_features
        model.classifier.coef_ = coef[None, :].astype(np.float64)
        model.classifier.intercept_ = np.asarray(intercept, dtype=np.float64).reshape(1)
        model.classifier.classes_ = np.array([0, 1])
        model.classifier.n_features_in_ = config.n_features
        return model
