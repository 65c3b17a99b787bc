"""The hashed lexical model counts, weighs and scores exactly as scikit-learn's pipeline does.

Scan loads it without scikit-learn (MurmurHash3 and NumPy); the shipped detector's weights were
fitted on scikit-learn's columns, so any difference in a column or a weight's bit would silently
change every score. Only the final sigmoid may differ, in the last bit, where NumPy's exp and the
platform's (behind SciPy's expit) disagree.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
from sklearn.linear_model import LogisticRegression

from streamguard.models.hashed_lexical import HashedLexicalConfig, HashedLexicalModel, hashed_counts, tfidf
from streamguard.models.lexical import TOKEN_PATTERN

ODD_TEXTS = ["", ";", 'int é = 1; /* ☃ */ char *s = "naïve";', "a" * 5000, "x y"]


@pytest.fixture(scope="module")
def texts(sample_records):
    return [r.func for r in sample_records[:400]] + ODD_TEXTS


@pytest.mark.parametrize("config", [HashedLexicalConfig(), HashedLexicalConfig(ngram_max=2, n_features=2**10)])
def test_counts_are_scikit_learns_hashing_vectorizer(texts, config):
    expected = HashingVectorizer(
        token_pattern=TOKEN_PATTERN,
        lowercase=False,
        ngram_range=(1, config.ngram_max),
        n_features=config.n_features,
        alternate_sign=False,
        norm=None,
        dtype=np.float32,
    ).transform(texts)
    expected.sort_indices()
    counts = hashed_counts(texts, config)
    assert counts.dtype == expected.dtype and counts.shape == expected.shape
    assert np.array_equal(counts.indptr, expected.indptr)
    assert np.array_equal(counts.indices, expected.indices)
    assert np.array_equal(counts.data, expected.data)


def test_tfidf_is_scikit_learns_bit_for_bit_and_scores_match_it(texts):
    config = HashedLexicalConfig()
    counts = hashed_counts(texts, config)
    labels = np.arange(len(texts)) % 3 == 0
    transformer = TfidfTransformer(sublinear_tf=True).fit(counts)
    weighted = transformer.transform(counts)
    assert (tfidf(counts, transformer.idf_) != weighted).nnz == 0
    expected = (
        LogisticRegression(C=config.C, solver="liblinear", dual=True, max_iter=1000, random_state=0)
        .fit(weighted, labels, sample_weight=np.ones(len(texts)))
        .predict_proba(weighted)[:, 1]
    )
    model = HashedLexicalModel(config).fit(counts, labels.astype(int), np.ones(len(texts)))
    np.testing.assert_array_max_ulp(model.predict_counts(counts), expected, maxulp=2)


def test_an_unfitted_model_says_so():
    with pytest.raises(Exception, match="not fitted"):
        HashedLexicalModel(HashedLexicalConfig()).predict_proba(["int f(void) { return 0; }"])
