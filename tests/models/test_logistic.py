"""A saved logistic regression scores with NumPy as scikit-learn's predict_proba does.

The decision values X . coef + intercept are the same bits; the sigmoid's exp comes from NumPy
here and from the platform's maths library in SciPy's expit, which may differ in the last bit
on some CPUs, so probabilities are compared to within two units in the last place.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.linear_model import LogisticRegression

from streamguard.models.code_metrics import CodeMetricsModel, metrics_matrix
from streamguard.models.logistic import LogisticScorer


def test_dense_and_sparse_scores_match_scikit_learn():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 12))
    y = (x[:, 0] + rng.normal(size=300) > 0).astype(int)
    estimator = LogisticRegression(max_iter=1000).fit(x, y)
    scorer = LogisticScorer.of(estimator)
    assert np.array_equal(scorer.decision(x), estimator.decision_function(x))
    np.testing.assert_array_max_ulp(scorer.predict_proba(x), estimator.predict_proba(x)[:, 1], maxulp=2)
    xs = sparse.random(200, 50, density=0.1, format="csr", random_state=1)
    sparse_estimator = LogisticRegression(solver="liblinear").fit(xs, np.arange(200) % 2)
    assert np.array_equal(LogisticScorer.of(sparse_estimator).decision(xs), sparse_estimator.decision_function(xs))
    np.testing.assert_array_max_ulp(
        LogisticScorer.of(sparse_estimator).predict_proba(xs), sparse_estimator.predict_proba(xs)[:, 1], maxulp=2
    )


def test_code_metrics_model_scores_after_save_and_load_as_fitted(sample_records, tmp_path):
    texts = [r.func for r in sample_records[:200]]
    labels = np.array([r.target for r in sample_records[:200]])
    features = metrics_matrix(texts)
    model = CodeMetricsModel().fit(features, labels)
    expected = (
        LogisticRegression(C=1.0, max_iter=2000, random_state=0)
        .fit(model._standardise(features), labels, sample_weight=np.ones(200))
        .predict_proba(model._standardise(features))[:, 1]
    )
    np.testing.assert_array_max_ulp(model.predict_proba(features), expected, maxulp=2)
    model.save(tmp_path)
    np.testing.assert_array_max_ulp(CodeMetricsModel.load(tmp_path).predict_proba(features), expected, maxulp=2)
