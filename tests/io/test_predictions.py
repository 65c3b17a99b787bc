"""io.predictions: the writer refuses what the reader would reject, and a refused write leaves the old file."""

from __future__ import annotations

import numpy as np
import pytest

from streamguard.io.errors import FileFormatError
from streamguard.io.predictions import OOF_SPLITS, read_predictions, write_predictions


def _row(id_: str, split: str = "test", prob: float = 0.25, **extra) -> dict:
    return {"id": id_, "split": split, "target": 1, "prob": prob, **extra}


def test_written_rows_read_back_sorted_by_id_with_seed_runs(tmp_path):
    path = tmp_path / "m" / "predictions.jsonl"
    write_predictions(path, [_row("b", prob=0.5, prob_runs=[0.4, 0.6]), _row("a", "valid", prob_runs=[0.2, 0.3])])
    read = read_predictions(path, "m")
    assert read.splits["test"].ids == ("b",) and read.splits["valid"].ids == ("a",)
    assert np.array_equal(read.splits["test"].prob_runs, [[0.4], [0.6]])
    assert [p.name for p in path.parent.iterdir()] == ["predictions.jsonl"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([_row("a"), _row("a")], r"row 2 to write: id 'a' given twice"),
        ([_row("a", prob=1.5)], r"row 1 to write: 'prob' must be a number in \[0, 1\]"),
        ([_row("a", prob_runs=[0.5])], r"'prob_runs' must be a list of 2\+ probabilities"),
        ([_row("a", split="train")], r"'split' must be 'valid' or 'test'"),
    ],
)
def test_a_row_the_reader_would_reject_is_not_written(tmp_path, rows, message):
    path = tmp_path / "predictions.jsonl"
    write_predictions(path, [_row("old")])
    before = path.read_bytes()
    with pytest.raises(FileFormatError, match=message):
        write_predictions(path, rows)
    assert path.read_bytes() == before


def test_out_of_fold_files_hold_the_train_split(tmp_path):
    path = tmp_path / "predictions.jsonl"
    write_predictions(path, [_row("a", "train", fold=0)], splits=OOF_SPLITS)
    assert read_predictions(path, "m", splits=OOF_SPLITS).splits["train"].ids == ("a",)
    with pytest.raises(FileFormatError, match="'split' must be 'valid' or 'test'"):
        read_predictions(path, "m")
