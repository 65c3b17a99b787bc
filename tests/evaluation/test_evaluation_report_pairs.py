"""run_evaluate with pair ids in the test split: paired metrics in test_details.json and the pair column in the CSV."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from conftest import EVALUATE_PARAMS, SYNTHETIC_N_VALID, SYNTHETIC_SKILL, write_synthetic_models

from streamguard.evaluation.errors import EvaluationError
from streamguard.stages.evaluate import run_evaluate


def write_test_records(path, ids, y, n_pairs):
    """test.jsonl with the first n_pairs vulnerable functions paired with the first n_pairs fixed ones."""
    vulnerable = [i for i in ids if y[i] == 1][:n_pairs]
    fixed = [i for i in ids if y[i] == 0][:n_pairs]
    pair_of = {v: f"p{k}" for k, v in enumerate(vulnerable)} | {f: f"p{k}" for k, f in enumerate(fixed)}
    lines = []
    for i in ids:
        row = {"id": i, "func": f"int f_{i}(void) {{ return 0; }}", "target": int(y[i]), "split": "test"}
        if i in pair_of:
            row["pair"] = pair_of[i]
        lines.append(json.dumps(row))
    path.write_text("\n".join(lines) + "\n")
    return list(zip(vulnerable, fixed))


def test_paired_metrics_reach_test_details_and_the_csv(tmp_path):
    data = write_synthetic_models(tmp_path / "models")
    index = {id_: k for k, id_ in enumerate(data["ids"])}
    test_ids = data["ids"][SYNTHETIC_N_VALID:]
    y = {i: int(data["y"][index[i]]) for i in test_ids}
    pairs = write_test_records(tmp_path / "test.jsonl", test_ids, y, n_pairs=40)
    result = run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics", tmp_path / "test.jsonl")

    test = json.loads((tmp_path / "metrics" / "test_details.json").read_text())
    assert test["n_test_pairs"] == 40
    for name in SYNTHETIC_SKILL:
        got = test[name]["pairs"]  # `dvc metrics show` flattens this to <model>.pairs.<metric>
        prob = data["prob"][name]
        p_vul = np.array([prob[index[v]] for v, _ in pairs])
        p_fix = np.array([prob[index[f]] for _, f in pairs])
        assert got["pairwise_accuracy"] == pytest.approx(np.mean(p_vul > p_fix))
        called_v, called_f = p_vul >= test[name]["threshold"], p_fix >= test[name]["threshold"]
        assert got["p_c"] == pytest.approx(np.mean(called_v & ~called_f))
        assert got["p_r"] == pytest.approx(np.mean(~called_v & called_f))
        assert got["p_c"] + got["p_v"] + got["p_b"] + got["p_r"] == pytest.approx(1.0)
        for metric in ("p_c", "p_v", "p_b", "p_r", "pairwise_accuracy", "tied", "vd_s"):
            assert got[f"{metric}_ci_low"] <= got[metric] <= got[f"{metric}_ci_high"]
    assert result["metrics"]["fusion"]["pairs"] == test["fusion"]["pairs"]
    # the most skilled model ranks more pairs right than the least
    assert test["fusion"]["pairs"]["pairwise_accuracy"] > test["transformer"]["pairs"]["pairwise_accuracy"]

    with (tmp_path / "metrics" / "test_predictions.csv").open() as handle:
        rows = {r["id"]: r for r in csv.DictReader(handle)}
    assert list(next(iter(rows.values())))[:3] == ["id", "target", "pair"]
    v, f = pairs[0]
    assert rows[v]["pair"] == rows[f]["pair"] == "p0"
    assert sum(1 for r in rows.values() if r["pair"]) == 80


def test_no_pair_ids_no_paired_metrics(tmp_path):
    data = write_synthetic_models(tmp_path / "models", names=("lexical",))
    test_ids = data["ids"][SYNTHETIC_N_VALID:]
    y = {i: int(data["y"][k]) for k, i in enumerate(data["ids"]) if k >= SYNTHETIC_N_VALID}
    write_test_records(tmp_path / "test.jsonl", test_ids, y, n_pairs=0)
    run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics", tmp_path / "test.jsonl")
    test = json.loads((tmp_path / "metrics" / "test_details.json").read_text())
    assert "n_test_pairs" not in test and "pairs" not in test["lexical"]
    header = (tmp_path / "metrics" / "test_predictions.csv").read_text().splitlines()[0]
    assert header == "id,target,lexical_prob,lexical_pred"


def test_test_records_of_another_data_version_are_an_error(tmp_path):
    data = write_synthetic_models(tmp_path / "models", names=("lexical",))
    test_ids = data["ids"][SYNTHETIC_N_VALID:]
    y = {i: int(data["y"][k]) for k, i in enumerate(data["ids"]) if k >= SYNTHETIC_N_VALID}
    write_test_records(tmp_path / "test.jsonl", test_ids[1:], y, n_pairs=5)
    with pytest.raises(EvaluationError, match="1 of 200 test ids the models predicted are not in it"):
        run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics", tmp_path / "test.jsonl")
