"""`streamguard summary`: the table and the plain-word verdicts a person reads after `make pipeline`."""

from __future__ import annotations

import json

from streamguard.cli import main


def _metrics(accuracy: float, f1: float) -> dict:
    out = {"threshold": 0.5}
    for key, value in {"accuracy": accuracy, "f1": f1, "roc_auc": 0.7, "mcc": 0.3}.items():
        out |= {key: value, f"{key}_ci_low": value - 0.02, f"{key}_ci_high": value + 0.02}
    return out


def _comparison(diff: float, low: float, high: float, p: float) -> dict:
    out = {"mcnemar_p": p, "mcnemar_b": 10, "mcnemar_c": 40}
    for metric in ("accuracy", "f1"):
        out |= {f"{metric}_diff": diff, f"{metric}_diff_ci_low": low, f"{metric}_diff_ci_high": high}
    return out


def _write(folder, test: dict, comparisons: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "test_details.json").write_text(json.dumps(test))
    (folder / "comparisons.json").write_text(json.dumps(comparisons))


def test_summary_prints_the_table_reference_and_verdicts(tmp_path, capsys):
    test = {
        "n_test": 2716,
        "n_test_vulnerable": 1238,
        "lexical": _metrics(0.642, 0.606),
        "transformer": _metrics(0.630, 0.502),
        "fusion": _metrics(0.672, 0.610),
    }
    comparisons = {
        "fusion_vs_lexical": _comparison(0.030, 0.012, 0.047, 0.001),
        "fusion_vs_transformer": _comparison(0.042, 0.020, 0.060, 0.0001),
        "transformer_vs_lexical": _comparison(-0.012, -0.034, 0.010, 0.29),
    }
    _write(tmp_path / "metrics", test, comparisons)
    assert main(["summary", "--metrics", str(tmp_path / "metrics")]) == 0
    out = capsys.readouterr().out
    assert "Test split: 2716 functions, 1238 vulnerable" in out
    for row in ("lexical", "transformer", "fusion"):
        assert row in out
    assert "0.672 [0.652, 0.692]" in out  # fusion accuracy with its CI
    # prevalence 1238/2716: all-vulnerable F1 = 2p/(1+p)
    assert "F1 = 0.626" in out
    assert "fusion beats lexical on accuracy: +0.030" in out
    assert "fusion beats transformer on accuracy" in out
    assert "transformer does NOT beat lexical on accuracy" in out
    assert "cannot rank models" not in out  # a full-size test set gets no small-sample warning


def test_small_test_set_is_flagged_and_an_insignificant_win_is_not_called_one(tmp_path, capsys):
    test = {"n_test": 160, "n_test_vulnerable": 73, "lexical": _metrics(0.54, 0.05), "fusion": _metrics(0.56, 0.1)}
    comparisons = {"fusion_vs_lexical": _comparison(0.02, -0.02, 0.06, 0.4)}
    _write(tmp_path / "m", test, comparisons)
    assert main(["summary", "--metrics", str(tmp_path / "m")]) == 0
    out = capsys.readouterr().out
    assert "cannot rank models" in out
    assert "fusion does NOT clearly beat lexical on accuracy" in out
    assert "fusion beats" not in out


def test_missing_metrics_is_an_error_saying_what_to_run(tmp_path, capsys):
    assert main(["summary", "--metrics", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "test_details.json: not found" in err and "dvc repro" in err


def test_a_constant_answer_is_named_and_its_win_qualified(tmp_path, capsys):
    # 160 functions, 73 vulnerable: calling all safe scores 87/160 = 0.544 accuracy
    all_safe = _metrics(0.544, 0.0) | {"recall": 0.0, "balanced_accuracy": 0.5}
    below_majority = _metrics(0.531, 0.026) | {"recall": 0.014, "balanced_accuracy": 0.49}
    test = {"n_test": 160, "n_test_vulnerable": 73, "lexical": below_majority, "fusion": all_safe}
    comparisons = {"fusion_vs_lexical": _comparison(0.10, 0.05, 0.15, 0.001)}
    _write(tmp_path / "m", test, comparisons)
    assert main(["summary", "--metrics", str(tmp_path / "m")]) == 0
    out = " ".join(capsys.readouterr().out.split())  # undo rich's line wrapping
    assert "calling every function safe accuracy = 0.544" in out
    assert "fusion calls every test function safe: a constant answer, not a detection." in out
    assert "lexical's accuracy 0.531 is below the 0.544 of calling every function safe." in out
    assert "fusion beats lexical on accuracy" in out
    assert "But fusion calls every function safe: a constant answer, not a detection." in out
