"""io.jsonl: rows in and out, plain or gzip, the same bytes on every run, errors naming file and line."""

from __future__ import annotations

import gzip
import time

import pytest

from streamguard.io.input_files import InputFileError
from streamguard.io.jsonl import iter_json_lines, write_json_lines

ROWS = [{"b": 1, "a": "naïve"}, {"a": [1, 2]}]


@pytest.mark.parametrize("name", ["rows.jsonl", "rows.jsonl.gz"])
def test_rows_come_back_with_their_line_numbers(tmp_path, name):
    path = tmp_path / "sub" / name
    assert write_json_lines(path, ROWS) == 2
    assert list(iter_json_lines(path)) == [(1, ROWS[0]), (2, ROWS[1])]


def test_gzip_output_is_byte_identical_across_runs_and_keys_are_sorted(tmp_path, monkeypatch):
    first, second = tmp_path / "a" / "rows.jsonl.gz", tmp_path / "b" / "rows.jsonl.gz"  # gzip records the name
    write_json_lines(first, ROWS, ensure_ascii=False)
    later = time.time() + 3600
    monkeypatch.setattr(time, "time", lambda: later)  # a run an hour later
    write_json_lines(second, ROWS, ensure_ascii=False)
    assert first.read_bytes() == second.read_bytes()  # no timestamp in the gzip header
    assert gzip.decompress(first.read_bytes()).decode("utf-8").splitlines()[0] == '{"a": "naïve", "b": 1}'


def test_blank_lines_are_skipped_and_a_bad_line_is_named(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text('{"a": 1}\n\n   \n{"a": \n')
    rows = iter_json_lines(path)
    assert next(rows) == (1, {"a": 1})
    with pytest.raises(InputFileError, match=r"rows.jsonl:4: malformed JSON"):
        next(rows)
