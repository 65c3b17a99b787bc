"""`streamguard predict --format jsonl|csv|table`: the same scores in each, `predicted` instead of a
ground-truth-looking `label`, and no progress bar of the model library in the output."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streamguard.cli import main

HERE = Path(__file__).parent


@pytest.fixture
def two_functions(tmp_path, trained) -> Path:
    """A C file holding the fixture's highest- and lowest-scoring functions: one on each side of the threshold."""
    source = tmp_path / "two.c"
    source.write_text("#include <string.h>\n\n" + trained["high"][0] + "\n\n" + trained["low"][0] + "\n")
    return source


def _predict(trained, capsys, *args: str) -> str:
    capsys.readouterr()
    code = main(["--params", str(trained["params"]), "predict", "--models", str(trained["models"]), *args])
    assert code in (0, None)
    return capsys.readouterr().out


def test_jsonl_by_default_with_predicted_at_the_threshold(trained, two_functions, capsys):
    rows = [json.loads(line) for line in _predict(trained, capsys, str(two_functions)).splitlines()]
    assert len(rows) == 2
    for row in rows:
        assert "label" not in row
        assert row["predicted"] == int(row["fused_probability"] >= trained["threshold"])
    assert [r["predicted"] for r in rows] == [1, 0]  # the high function first, the low one second
    assert [r["fused_probability"] for r in rows] == [
        pytest.approx(trained["high"][1], abs=1e-6),
        pytest.approx(trained["low"][1], abs=1e-6),
    ]


def test_csv_and_table_carry_the_same_scores(trained, two_functions, capsys, tmp_path):
    rows = [json.loads(line) for line in _predict(trained, capsys, str(two_functions)).splitlines()]
    out = tmp_path / "scores.csv"
    _predict(trained, capsys, str(two_functions), "--format", "csv", "-o", str(out))
    table_rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(table_rows[0]) == ["id", "origin", "fused_probability", "predicted", "threshold", "lexical"]
    for row, line in zip(rows, table_rows, strict=True):
        assert line["origin"] == row["origin"]
        assert int(line["predicted"]) == row["predicted"]
        assert float(line["fused_probability"]) == pytest.approx(row["fused_probability"], abs=1e-6)
        assert float(line["lexical"]) == pytest.approx(row["probabilities"]["lexical"], abs=1e-6)

    table = _predict(trained, capsys, str(two_functions), "--format", "table").splitlines()
    assert table[0].split() == ["id", "origin", "fused_probability", "predicted", "threshold", "lexical"]
    assert len(table) == 3
    for row, line in zip(rows, table[1:], strict=True):
        cells = line.split()
        assert cells[1] == row["origin"] and cells[3] == str(row["predicted"])
        assert float(cells[2]) == pytest.approx(row["fused_probability"], abs=1e-6)


def test_unknown_format_is_a_usage_error(trained, two_functions, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(two_functions), "--format", "xml"])
    assert exc.value.code == 2 and "invalid choice: 'xml'" in capsys.readouterr().err


_SAVE_TINY_TRANSFORMER = """
import json, sys
from pathlib import Path
sys.path.insert(0, sys.argv[2])
from tiny_training import CFG
from conftest import SAMPLE
from streamguard.data.records import read_records
from streamguard.models import transformer as tf
recs = list(read_records(SAMPLE))[:40]
tok = tf.train_tokenizer([r.func for r in recs], CFG.vocab_size, CFG.max_length)
out = Path(sys.argv[1])
tf.save(tf.build_model(tf.TransformerConfig.of(CFG), tok), tok, out)
(out / "run_info.json").write_text(json.dumps({"max_length": CFG.max_length}))
"""

_LOAD_AS_PREDICT_DOES = """
import sys
from pathlib import Path
from streamguard.params import Params
from streamguard.models.scorer import load_member
load_member("transformer", Params(), Path(sys.argv[1]), Path(sys.argv[1]))
print("loaded")
"""


@pytest.mark.slow
@pytest.mark.integration
def test_loading_a_transformer_draws_no_library_progress_bar(tmp_path):
    """Each step in a fresh process: transformers' progress-bar switch is process-wide."""
    folder = tmp_path / "transformer"
    env = {**os.environ, "PYTHONPATH": str(HERE.parent / "src")}
    subprocess.run(
        [sys.executable, "-c", _SAVE_TINY_TRANSFORMER, str(folder), str(HERE)], check=True, env=env, timeout=300
    )
    loaded = subprocess.run(
        [sys.executable, "-c", _LOAD_AS_PREDICT_DOES, str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.strip() == "loaded"
    assert "Loading weights" not in loaded.stderr and "it/s]" not in loaded.stderr, loaded.stderr
