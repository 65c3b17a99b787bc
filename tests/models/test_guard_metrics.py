"""The guard deficit: memory operations on operands a function never checks, on a real tree-sitter parse."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import write_twin_corpus
from sklearn.metrics import roc_auc_score

from streamguard.evaluation.generalization import held_out_scores, load_corpus, metrics_features
from streamguard.models.code_metrics import FEATURE_NAMES
from streamguard.models.guard_metrics import GUARD_FEATURE_NAMES, guard_matrix, guard_metrics
from streamguard.params import ParamsError, params_from_dict

UNCHECKED_COPY = """int read_name(char *src, size_t n)
{
    char buf[16];
    memcpy(buf, src, n);
    return buf[n - 1];
}
"""
CHECKED_COPY = """int read_name(char *src, size_t n)
{
    char buf[16];
    if (n > sizeof buf)
        return -1;
    memcpy(buf, src, n);
    return buf[n - 1];
}
"""
UNCHECKED_POINTER = """int length(struct str *s)
{
    return s->len + *s->data;
}
"""
CHECKED_POINTER = """int length(struct str *s)
{
    if (!s || !s->data)
        return -1;
    return s->len + *s->data;
}
"""


def _features(text: str) -> dict[str, float]:
    return dict(zip(GUARD_FEATURE_NAMES, guard_metrics(text).tolist()))


def test_a_size_check_lowers_the_deficit_of_the_copy_and_the_index_it_guards():
    bug, fix = _features(UNCHECKED_COPY), _features(CHECKED_COPY)
    for kind in ("copy", "index"):
        assert bug[f"guard_log_uses_{kind}"] == fix[f"guard_log_uses_{kind}"] == pytest.approx(np.log1p(1))
        assert (bug[f"guard_deficit_{kind}"], fix[f"guard_deficit_{kind}"]) == (1.0, 0.0)
        assert bug[f"guard_log_unchecked_{kind}"] > fix[f"guard_log_unchecked_{kind}"] == 0.0
    assert bug["guard_parse_error"] == fix["guard_parse_error"] == 0.0


def test_a_null_check_lowers_the_deficit_of_the_dereferences_it_guards():
    bug, fix = _features(UNCHECKED_POINTER), _features(CHECKED_POINTER)
    # s->len, s->data and *s->data dereference s, s and s->data; the fix checks both pointers (and
    # dereferences s->data once more in its own check)
    assert bug["guard_log_uses_pointer"] == pytest.approx(np.log1p(3))
    assert bug["guard_deficit_pointer"] == 1.0
    assert fix["guard_log_uses_pointer"] == pytest.approx(np.log1p(4))
    assert fix["guard_deficit_pointer"] == 0.0


def test_a_comparison_anywhere_an_assert_like_call_and_a_bare_condition_are_checks():
    compared = _features(
        "int copy(char *dst, const char *src, size_t len)\n{\n    int fits = len < 64;\n"
        "    memcpy(dst, src, len);\n    return fits;\n}\n"
    )
    asserted = _features("int size(struct str *s)\n{\n    g_return_val_if_fail(s, -1);\n    return s->len;\n}\n")
    unasserted = _features("int size(struct str *s)\n{\n    return s->len;\n}\n")
    tested = _features("int size(struct str *s)\n{\n    if (s)\n        return s->len;\n    return 0;\n}\n")
    assert (compared["guard_log_uses_copy"], compared["guard_deficit_copy"]) == (pytest.approx(np.log1p(1)), 0.0)
    assert (asserted["guard_deficit_pointer"], unasserted["guard_deficit_pointer"]) == (0.0, 1.0)
    assert tested["guard_deficit_pointer"] == 0.0


def test_size_arithmetic_counts_as_unchecked_until_its_operand_is_compared():
    unchecked = _features("void *grow(size_t n)\n{\n    return malloc(n * 4 + HEADER);\n}\n")
    checked = _features(
        "void *grow(size_t n)\n{\n    if (n >= LIMIT)\n        return NULL;\n    return malloc(n * 4);\n}\n"
    )
    assert (unchecked["guard_deficit_size_arith"], checked["guard_deficit_size_arith"]) == (1.0, 0.0)
    assert checked["guard_log_uses_size_arith"] == pytest.approx(np.log1p(1))


@pytest.mark.parametrize(
    "text", ["", "\x00\xff )))} {{ garbage @@ #", "int f(char *p) { return p[", "}" * 5000 + "{" * 5000]
)
def test_unreadable_text_gives_a_row_of_the_right_width_flagged(text):
    row = guard_metrics(text)
    assert row.shape == (len(GUARD_FEATURE_NAMES),)
    assert np.isfinite(row).all()
    assert row[GUARD_FEATURE_NAMES.index("guard_parse_error")] == 1.0


def test_guard_matrix_stacks_one_row_per_text():
    matrix = guard_matrix([UNCHECKED_COPY, CHECKED_COPY])
    assert matrix.shape == (2, len(GUARD_FEATURE_NAMES))
    assert guard_matrix([]).shape == (0, len(GUARD_FEATURE_NAMES))


def _params(**generalize):
    return params_from_dict(
        {"generalize": {"threshold_folds": 2, **generalize}, "evaluate": {"bootstrap_resamples": 20}}
    )


def test_the_guard_metrics_lever_widens_the_code_metrics_and_teaches_them_a_missing_check(tmp_path):
    """Twins that compare a different name before the same index: the same constructs to the code
    metrics, an unchecked index to the guard deficit only."""
    path = write_twin_corpus(tmp_path, "if (fd > 0) total += path[mode]", "if (mode > 0) total += path[mode]")
    for guard, width, code_metrics_auc in ((False, 0, 0.5), (True, len(GUARD_FEATURE_NAMES), 1.0)):
        params = _params(models=["code_metrics"], guard_metrics=guard)
        corpus = load_corpus(path, params)
        assert metrics_features(corpus, "code_metrics", params.generalize).shape == (
            len(corpus.y),
            len(FEATURE_NAMES) + width,
        )
        held = held_out_scores(corpus, "delta", params)
        auc = roc_auc_score(corpus.y[held.index], held.scores["code_metrics"])
        assert auc == pytest.approx(code_metrics_auc, abs=0.05)
        # computed only when the lever reads them, then once per corpus
        assert ("guards" in vars(corpus)) is guard
    assert corpus.guards is corpus.guards


def test_the_guard_metrics_key_is_checked():
    with pytest.raises(ParamsError, match="key 'generalize.guard_metrics' must be bool, got 'yes'"):
        params_from_dict({"generalize": {"guard_metrics": "yes"}})
    assert params_from_dict({}).generalize.guard_metrics is False
