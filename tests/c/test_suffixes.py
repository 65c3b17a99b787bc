"""Which files are read as C: `predict` and `scan` read C/C++ by suffix; the data builders read plain C only."""

from __future__ import annotations

import pytest
from conftest import TESTS

from streamguard.c.suffixes import C_SOURCE_SUFFIXES, is_plain_c_file
from streamguard.predict import functions_from_inputs

MACRO_HEAVY = TESTS / "fixtures" / "c" / "macro_heavy.c"


@pytest.mark.parametrize("suffix", sorted(C_SOURCE_SUFFIXES))
def test_predict_reads_every_c_source_suffix_as_c_not_as_records(tmp_path, suffix):
    source = tmp_path / f"x{suffix}"
    source.write_bytes(MACRO_HEAVY.read_bytes())
    records = functions_from_inputs([source])
    assert [r.origin for r in records][:2] == [f"{source}:1:ff_init", f"{source}:6:co_drain"]


@pytest.mark.parametrize(
    ("path", "plain_c"),
    [("lib/a.c", True), ("include/a.h", True), ("SRC/MAIN.C", True), ("a.cpp", False), ("a.hpp", False)],
)
def test_the_data_builders_take_plain_c_in_any_letter_case_and_no_cpp(path, plain_c):
    assert is_plain_c_file(path) is plain_c
