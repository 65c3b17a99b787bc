"""One logistic regression that learns two things at once: label functions, and rank each fix below its bug.

Function rows are (x, 1) with their labels. A vulnerable/fixed pair gives
the two mirrored rows (x_vulnerable - x_fixed, 0) labelled 1 and
(x_fixed - x_vulnerable, 0) labelled 0, so the model is rewarded for
scoring the vulnerable side higher whatever the pair's size. The last column
is an indicator of function rows: fitted without an intercept, its weight
is the function rows' intercept, and the mirrored pair rows need none. A
function's score is then sigmoid(w . (x, 1)), as a plain logistic
regression's would be.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression


def ranking_design(
    x: np.ndarray | sparse.csr_matrix,
    labels: np.ndarray,
    weights: np.ndarray,
    vulnerable: np.ndarray,
    fixed: np.ndarray,
    pair_weights: np.ndarray,
) -> tuple[np.ndarray | sparse.csr_matrix, np.ndarray, np.ndarray]:
    """(design, labels, weights) of function rows x and the mirrored difference rows of the pairs."""
    difference = x[vulnerable] - x[fixed]
    if sparse.issparse(x):
        rows = sparse.vstack([x, difference, -difference]).tocsr()
        indicator = sparse.csr_matrix(np.r_[np.ones(x.shape[0]), np.zeros(2 * len(vulnerable))][:, None])
        design = sparse.hstack([rows, indicator]).tocsr()
    else:
        rows = np.vstack([x, difference, -difference])
        design = np.column_stack([rows, np.r_[np.ones(len(x)), np.zeros(2 * len(vulnerable))]])
    y = np.r_[labels, np.ones(len(vulnerable)), np.zeros(len(vulnerable))].astype(int)
    w = np.r_[weights, pair_weights / 2, pair_weights / 2]
    return design, y, w


def fit_ranking(
    classifier: LogisticRegression,
    x: np.ndarray | sparse.csr_matrix,
    labels: np.ndarray,
    weights: np.ndarray,
    pairs: tuple[np.ndarray, np.ndarray, np.ndarray] | None,
) -> LogisticRegression:
    """Fit `classifier` on functions, and on pairs (vulnerable, fixed, weights) when given.

    With pairs, the classifier is fitted without an intercept on the ranking
    design, then its indicator weight becomes its intercept, so it scores plain
    function rows like any logistic regression.
    """
    if pairs is None or len(pairs[0]) == 0:
        return classifier.fit(x, labels, sample_weight=weights)
    design, y, w = ranking_design(x, labels, weights, *pairs)
    classifier.set_params(fit_intercept=False)
    classifier.fit(design, y, sample_weight=w)
    coef = classifier.coef_
    classifier.coef_ = coef[:, :-1]
    classifier.intercept_ = coef[:, -1].copy()
    classifier.n_features_in_ = coef.shape[1] - 1  # it scores plain function rows from here on
    return classifier
