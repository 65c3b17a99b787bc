"""TF-IDF + logistic regression over hashed token n-grams: the lexical model of the leave-project-out protocol.

The n-grams are the tokens of models/lexical.py, hashed into `n_features`
columns, so counts need no vocabulary: a corpus is counted once and every
fold learns only its idf and weights. With `min_projects` > 1 a column is a
feature only where that many training projects use it. Saved as plain
JSON/NumPy (config, idf, coefficients, the kept columns): loading never
unpickles anything.

Counting and scoring use MurmurHash3 and NumPy, with the columns and weights
scikit-learn's HashingVectorizer and TfidfTransformer give; scikit-learn is
imported to fit only, so a scan that loads a saved model never pays for it.
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import mmh3
import numpy as np
from scipy import sparse

from streamguard.errors import StreamGuardError
from streamguard.models.lexical import TOKEN_PATTERN
from streamguard.models.logistic import LogisticScorer

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


_TOKEN = re.compile(TOKEN_PATTERN)
_INT32_MIN = -(2**31)


def _ngrams(text: str, ngram_max: int) -> list[str]:
    """The text's tokens and their 2..ngram_max-grams joined by spaces (scikit-learn's word n-grams)."""
    tokens = _TOKEN.findall(text)
    grams = list(tokens)
    for n in range(2, min(ngram_max, len(tokens)) + 1):
        grams.extend(" ".join(tokens[i : i + n]) for i in range(len(tokens) - n + 1))
    return grams


def _columns(grams: list[str], n_features: int) -> np.ndarray:
    """Each n-gram's column: |signed 32-bit MurmurHash3 of its UTF-8, seed 0| mod n_features."""
    hashes = np.fromiter((mmh3.hash(gram, 0) for gram in grams), dtype=np.int64, count=len(grams))
    # |-2**31| does not fit 32 bits; scikit-learn maps it as (2**31 - 1 - (n_features - 1)) mod n_features
    columns = np.abs(hashes) % n_features
    columns[hashes == _INT32_MIN] = (2**31 - 1 - (n_features - 1)) % n_features
    return columns


def hashed_counts(texts: list[str], config: HashedLexicalConfig) -> sparse.csr_matrix:
    """Token n-gram counts, hashed: nothing is learned from any text here (float32, sorted columns)."""
    indptr = [0]
    indices: list[np.ndarray] = []
    data: list[np.ndarray] = []
    for text in texts:
        columns, counts = np.unique(_columns(_ngrams(text, config.ngram_max), config.n_features), return_counts=True)
        indices.append(columns)
        data.append(counts)
        indptr.append(indptr[-1] + len(columns))
    return sparse.csr_matrix(
        (
            np.concatenate(data).astype(np.float32) if data else np.zeros(0, np.float32),
            np.concatenate(indices).astype(np.int32) if indices else np.zeros(0, np.int32),
            np.asarray(indptr, dtype=np.int32),
        ),
        shape=(len(texts), config.n_features),
    )


def tfidf(counts: sparse.csr_matrix, idf: np.ndarray) -> sparse.csr_matrix:
    """(1 + log count) x idf, each row scaled to unit length: TfidfTransformer(sublinear_tf=True).transform."""
    weighted = counts.copy()
    np.log(weighted.data, out=weighted.data)
    weighted.data += 1.0
    weighted.data *= idf[weighted.indices]
    # squares in the data's precision, summed and divided in float64, as scikit-learn's normalize does
    squares = (weighted.data * weighted.data).astype(np.float64)
    rows = np.repeat(np.arange(weighted.shape[0]), np.diff(weighted.indptr))
    norms = np.sqrt(np.bincount(rows, weights=squares, minlength=weighted.shape[0]))
    norms[norms == 0.0] = 1.0
    weighted.data = (weighted.data / norms[rows]).astype(weighted.dtype)
    return weighted


def shared_columns(counts: sparse.csr_matrix, project: np.ndarray, min_projects: int) -> np.ndarray:
    """A 0/1 vector keeping the columns that at least min_projects of the given projects use."""
    used_by = np.zeros(counts.shape[1], dtype=np.int32)
    for name in np.unique(project):
        used_by += np.asarray((counts[project == name] != 0).sum(axis=0)).ravel() > 0
    return (used_by >= min_projects).astype(counts.dtype)


class HashedLexicalModel:
    def __init__(self, config: HashedLexicalConfig, seed: int = 0) -> None:
        self.config = config
        self.seed = seed
        self.keep: np.ndarray | None = None  # None: every column
        self.idf: np.ndarray | None = None
        self.scorer: LogisticScorer | None = None

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
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.linear_model import LogisticRegression

        from streamguard.models.pair_ranking import fit_ranking

        if self.config.min_projects > 1:
            if project is None:
                raise StreamGuardError("min_projects > 1 needs each training row's project")
            self.keep = shared_columns(counts, project, self.config.min_projects)
        counts = self._kept(counts)
        transformer = TfidfTransformer(sublinear_tf=True).fit(counts)
        self.idf = transformer.idf_
        # liblinear's dual: fast and deterministic with far more sparse columns than rows, where lbfgs crawls
        classifier = LogisticRegression(
            C=self.config.C, solver="liblinear", dual=True, max_iter=1000, random_state=self.seed
        )
        self.scorer = LogisticScorer.of(fit_ranking(classifier, transformer.transform(counts), labels, weights, pairs))
        return self

    def predict_counts(self, counts: sparse.csr_matrix) -> np.ndarray:
        if self.idf is None or self.scorer is None:
            raise StreamGuardError("the hashed lexical model is not fitted; fit or load it first")
        return self.scorer.predict_proba(tfidf(self._kept(counts), self.idf))

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        return self.predict_counts(hashed_counts(texts, self.config))

    def save(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / CONFIG_FILE).write_text(json.dumps(asdict(self.config), indent=2) + "\n")
        if self.idf is None or self.scorer is None:
            raise StreamGuardError("the hashed lexical model is not fitted; fit it before saving")
        arrays: dict[str, Any] = {
            "idf": self.idf,
            "coef": self.scorer.coef,
            "intercept": np.asarray([self.scorer.intercept]),
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
        model.idf = idf
        model.scorer = LogisticScorer(coef, float(np.ravel(intercept)[0]))
        return model
