"""A fitted binary logistic regression, scored with NumPy alone.

scikit-learn fits the linear models; what a saved model needs at scan time
is only its weights, and importing scikit-learn (with SciPy's statistics and
pandas behind it) costs more than a whole small scan. The score is
scikit-learn's `predict_proba(X)[:, 1]`: sigmoid(X . coef + intercept).
"""

from __future__ import annotations

from typing import Any

import numpy as np


class LogisticScorer:
    def __init__(self, coef: np.ndarray, intercept: float) -> None:
        self.coef = np.asarray(coef, dtype=np.float64).ravel()
        self.intercept = float(intercept)

    @classmethod
    def of(cls, estimator: Any) -> LogisticScorer:
        """The weights of a fitted scikit-learn LogisticRegression with classes [0, 1]."""
        return cls(estimator.coef_[0], float(np.ravel(estimator.intercept_)[0]))

    def decision(self, x: Any) -> np.ndarray:
        """X . coef + intercept, for a dense array or a SciPy sparse matrix."""
        return np.asarray(x @ self.coef, dtype=np.float64).ravel() + self.intercept

    def predict_proba(self, x: Any) -> np.ndarray:
        """P(label 1) per row."""
        return 1.0 / (1.0 + np.exp(-self.decision(x)))
