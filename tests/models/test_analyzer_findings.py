"""Project-neutral signals of the leave-project-out levers: flawfinder's findings, literal placeholders."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_twin_corpus
from sklearn.metrics import roc_auc_score

from streamguard.evaluation.generalization import held_out_scores, load_corpus
from streamguard.models.analyzer_findings import FINDING_NAMES, findings_matrix
from streamguard.params import ParamsError, params_from_dict

UNSAFE_COPY = """int copy_name(char *dst, const char *src, int n)
{
    strcpy(dst, src);
    sprintf(dst + n, "%s", src);
    return n;
}
"""
CLEAN = """int add(int a, int b)
{
    return a + b;
}
"""


def _counts(row: np.ndarray) -> dict[str, float]:
    """A findings row as plain numbers: hit counts (log1p undone) and the highest level + 1."""
    return {
        name: (value if name == "max_level" else round(float(np.expm1(value)), 6))
        for name, value in zip(FINDING_NAMES, row)
        if value
    }


def test_flawfinder_counts_the_hits_of_a_function_and_none_in_a_clean_one():
    unsafe, clean = findings_matrix([UNSAFE_COPY, CLEAN])
    # strcpy and sprintf with a %s format: two buffer hits at flawfinder's risk level 4
    assert _counts(unsafe) == {"log_hits": 2.0, "log_level4": 2.0, "log_buffer": 2.0, "max_level": 5.0}
    assert _counts(clean) == {}
    assert findings_matrix([]).shape == (0, len(FINDING_NAMES))


def _params(**generalize):
    return params_from_dict(
        {"generalize": {"threshold_folds": 2, **generalize}, "evaluate": {"bootstrap_resamples": 20}}
    )


def test_the_analyzers_model_and_the_metrics_option_learn_a_finding_across_projects(tmp_path):
    """chmod(path) and fchmod(fd) look alike to the code metrics; only flawfinder tells them apart."""
    path = write_twin_corpus(tmp_path, "chmod(path, mode)", "fchmod(fd, mode)")
    for metrics_findings, code_metrics_auc in ((False, 0.5), (True, 1.0)):
        params = _params(models=["code_metrics", "analyzers"], metrics_findings=metrics_findings)
        corpus = load_corpus(path, params)
        held = held_out_scores(corpus, "delta", params)
        y = corpus.y[held.index]
        assert roc_auc_score(y, held.scores["analyzers"]) == 1.0
        assert roc_auc_score(y, held.scores["code_metrics"]) == pytest.approx(code_metrics_auc, abs=0.05)


def test_normalise_literals_removes_what_only_literals_tell_apart(tmp_path):
    """Twins that differ in one string literal: the lexical model sees them as one text once normalised."""
    path = write_twin_corpus(tmp_path, 'puts("unchecked")', 'puts("checked")')
    for normalise, distinct in ((False, True), (True, False)):
        corpus = load_corpus(path, _params(models=["lexical"], normalise_literals=normalise))
        twins = corpus.counts[0] != corpus.counts[1]
        assert (twins.nnz > 0) is distinct
        held = held_out_scores(corpus, "delta", _params(models=["lexical"], normalise_literals=normalise))
        auc = roc_auc_score(corpus.y[held.index], held.scores["lexical"])
        assert auc == (1.0 if distinct else 0.5)


@pytest.mark.parametrize(
    ("generalize", "message"),
    [
        ({"normalise_literals": "yes"}, "key 'generalize.normalise_literals' must be bool, got 'yes'"),
        ({"metrics_findings": 1}, "key 'generalize.metrics_findings' must be bool, got 1"),
        ({"models": ["analyzer"]}, r"unknown models \['analyzer'\]; use lexical, code_metrics, analyzers"),
    ],
)
def test_the_lever_params_are_checked(generalize, message):
    with pytest.raises(ParamsError, match=message):
        params_from_dict({"generalize": generalize})


def test_the_default_models_leave_the_analyzers_out():
    assert "analyzers" not in params_from_dict({}).generalize.models
