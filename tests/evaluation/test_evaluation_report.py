"""run_evaluate on synthetic prediction files: outputs, determinism, errors."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import pytest
from conftest import (
    EVALUATE_PARAMS,
    SYNTHETIC_N_TEST,
    SYNTHETIC_N_VALID,
    SYNTHETIC_SKILL,
    write_synthetic_models,
)

from streamguard.evaluation.errors import EvaluationError
from streamguard.evaluation.metrics import compute_metrics
from streamguard.evaluation.report import HEADLINE_KEYS
from streamguard.evaluation.thresholds import choose_threshold
from streamguard.io.errors import FileFormatError
from streamguard.metrics import METRIC_NAMES
from streamguard.params import params_from_dict
from streamguard.stages.evaluate import run_evaluate


def test_writes_metrics_comparisons_predictions_and_plots(tmp_path, capsys):
    data = write_synthetic_models(tmp_path / "models")
    result = run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")

    test = json.loads((tmp_path / "metrics" / "test_details.json").read_text())
    assert test["n_test"] == SYNTHETIC_N_TEST
    assert test["n_test_vulnerable"] == int(data["y"][SYNTHETIC_N_VALID:].sum())
    for name in SYNTHETIC_SKILL:
        headline = json.loads((tmp_path / "metrics" / "test" / f"{name}.json").read_text())
        assert headline == {key: test[name][key] for key in HEADLINE_KEYS}
        keys = {"threshold"} | {f"{m}{s}" for m in METRIC_NAMES for s in ("", "_ci_low", "_ci_high")}
        assert set(test[name]) == keys
        for metric in METRIC_NAMES:
            assert test[name][f"{metric}_ci_low"] <= test[name][metric] <= test[name][f"{metric}_ci_high"]
    assert test == json.loads(
        json.dumps(result["metrics"] | {"n_test": SYNTHETIC_N_TEST, "n_test_vulnerable": test["n_test_vulnerable"]})
    )

    comparisons = json.loads((tmp_path / "metrics" / "comparisons.json").read_text())
    assert set(comparisons) == {
        "fusion_vs_lexical",
        "fusion_vs_transformer",
        "fusion_vs_gnn",
        "transformer_vs_lexical",
        "gnn_vs_lexical",
    }
    for values in comparisons.values():
        for key in (
            "mcnemar_p",
            "accuracy_diff",
            "accuracy_diff_ci_low",
            "accuracy_diff_ci_high",
            "f1_diff",
            "f1_diff_ci_low",
            "f1_diff_ci_high",
        ):
            assert isinstance(values[key], float)
    assert comparisons["fusion_vs_lexical"]["accuracy_diff"] == pytest.approx(
        test["fusion"]["accuracy"] - test["lexical"]["accuracy"]
    )

    with (tmp_path / "metrics" / "test_predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["id", "target"] + [f"{n}_{k}" for n in SYNTHETIC_SKILL for k in ("prob", "pred")]
    assert [r["id"] for r in rows] == sorted(data["ids"][SYNTHETIC_N_VALID:])
    for row in rows:
        for name in SYNTHETIC_SKILL:
            assert int(row[f"{name}_pred"]) == int(float(row[f"{name}_prob"]) >= test[name]["threshold"])

    plots = tmp_path / "metrics" / "plots"
    headers = {
        "roc": "fpr,tpr",
        "pr": "recall,precision",
        "confusion": "actual,predicted",
        "calibration": "bin,mean_predicted,fraction_positive,count",
    }
    for kind, header in headers.items():
        for name in SYNTHETIC_SKILL:
            lines = (plots / kind / f"{name}.csv").read_text().splitlines()
            assert lines[0] == header and len(lines) > 2
    assert len((plots / "confusion" / "lexical.csv").read_text().splitlines()) == SYNTHETIC_N_TEST + 1
    calibration = list(csv.DictReader((plots / "calibration" / "gnn.csv").open()))
    assert sum(int(r["count"]) for r in calibration) == SYNTHETIC_N_TEST and len(calibration) <= 5
    roc = list(csv.DictReader((plots / "roc" / "fusion.csv").open()))
    assert (roc[0]["fpr"], roc[0]["tpr"], roc[-1]["fpr"], roc[-1]["tpr"]) == ("0", "0", "1", "1")


def test_thresholds_come_from_valid_and_fusion_json_only(tmp_path):
    data = write_synthetic_models(tmp_path / "models", fusion_threshold=0.37)
    result = run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")
    y = data["y"]
    for name in ("lexical", "transformer", "gnn"):
        expected = choose_threshold(y[:SYNTHETIC_N_VALID], data["prob"][name][:SYNTHETIC_N_VALID], "max_f1")
        assert result["metrics"][name]["threshold"] == expected
        assert result["metrics"][name]["f1"] == pytest.approx(
            compute_metrics(y[SYNTHETIC_N_VALID:], data["prob"][name][SYNTHETIC_N_VALID:], expected)["f1"]
        )
    assert result["metrics"]["fusion"]["threshold"] == 0.37

    accuracy_rule = params_from_dict(
        {"evaluate": {"bootstrap_resamples": 50}, "fusion": {"threshold_rule": "max_accuracy"}}
    )
    result = run_evaluate(accuracy_rule, tmp_path / "models", tmp_path / "metrics2")
    assert result["metrics"]["lexical"]["threshold"] == choose_threshold(
        y[:SYNTHETIC_N_VALID], data["prob"]["lexical"][:SYNTHETIC_N_VALID], "max_accuracy"
    )


def _all_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_outputs_depend_on_nothing_but_the_predictions(tmp_path, monkeypatch):
    write_synthetic_models(tmp_path / "one" / "models")
    shutil.copytree(tmp_path / "one" / "models", tmp_path / "two" / "elsewhere")
    # other files in a model folder (run info with times and hosts) must not leak into metrics
    (tmp_path / "one" / "models" / "lexical" / "run_info.json").write_text(
        '{"started": "2026-01-01T00:00:00", "host": "a"}'
    )
    (tmp_path / "two" / "elsewhere" / "lexical" / "run_info.json").write_text(
        '{"started": "2027-06-06T12:00:00", "host": "b"}'
    )
    run_evaluate(EVALUATE_PARAMS, tmp_path / "one" / "models", tmp_path / "one" / "metrics")
    monkeypatch.chdir(tmp_path / "two")
    run_evaluate(EVALUATE_PARAMS, Path("elsewhere"), Path("out"))

    first, second = _all_files(tmp_path / "one" / "metrics"), _all_files(tmp_path / "two" / "out")
    assert first.keys() == second.keys() and len(first) == 3 + 4 + 4 * 4
    assert first == second

    # ... and they do depend on the predictions
    write_synthetic_models(tmp_path / "one" / "models", seed=1)
    run_evaluate(EVALUATE_PARAMS, tmp_path / "one" / "models", tmp_path / "one" / "metrics")
    assert _all_files(tmp_path / "one" / "metrics")["test_details.json"] != second["test_details.json"]


def test_absent_models_are_skipped_with_a_notice_and_stale_plots_removed(tmp_path, capsys):
    write_synthetic_models(tmp_path / "models")
    run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")
    shutil.rmtree(tmp_path / "models" / "gnn")
    shutil.rmtree(tmp_path / "models" / "transformer")
    capsys.readouterr()

    result = run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")
    out = capsys.readouterr().out
    assert "gnn is left out" in out and "transformer is left out" in out
    assert set(result["metrics"]) == {"lexical", "fusion"}
    assert set(result["comparisons"]) == {"fusion_vs_lexical"}
    assert not (tmp_path / "metrics" / "plots" / "roc" / "gnn.csv").exists()
    assert (tmp_path / "metrics" / "plots" / "roc" / "fusion.csv").exists()
    assert sorted(p.name for p in (tmp_path / "metrics" / "test").iterdir()) == ["fusion.json", "lexical.json"]
    header = (tmp_path / "metrics" / "test_predictions.csv").read_text().splitlines()[0]
    assert header == "id,target,lexical_prob,lexical_pred,fusion_prob,fusion_pred"


def test_says_plainly_when_a_deep_model_does_not_beat_the_baseline(tmp_path, capsys):
    write_synthetic_models(tmp_path / "models")
    result = run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")
    out = " ".join(capsys.readouterr().out.split())  # undo rich's line wrapping
    outcomes = {
        v["sentence"].split(" ")[0] + ":" + v["sentence"].split(" on ")[1].split(":")[0]: v["outcome"]
        for v in result["verdicts"]
    }
    # transformer has far less skill than lexical; fusion far more
    assert outcomes["transformer:accuracy"] in ("worse", "inconclusive")
    assert outcomes["fusion:accuracy"] == outcomes["fusion:F1"] == "better"
    assert "transformer does NOT beat the lexical baseline on accuracy" in out
    assert "fusion beats the lexical baseline on F1" in out


def test_only_lexical_works(tmp_path):
    write_synthetic_models(tmp_path / "models", names=("lexical",))
    result = run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")
    assert result["comparisons"] == {} and result["verdicts"] == []
    assert json.loads((tmp_path / "metrics" / "comparisons.json").read_text()) == {}


def test_no_models_is_a_clear_error(tmp_path):
    (tmp_path / "models").mkdir()
    with pytest.raises(EvaluationError, match="no predictions found"):
        run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")


def test_bad_prediction_line_names_file_and_line(tmp_path):
    write_synthetic_models(tmp_path / "models", names=("lexical",))
    path = tmp_path / "models" / "lexical" / "predictions.jsonl"
    lines = path.read_text().splitlines()
    lines[4] = json.dumps({"id": "x", "split": "test", "target": 1, "prob": 1.5})
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FileFormatError, match=r"predictions.jsonl:5: 'prob' must be a number in \[0, 1\]"):
        run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")


@pytest.mark.parametrize(
    "line, message",
    [
        ("not json", "predictions.jsonl:321: malformed JSON"),
        ('{"id": "a", "split": "train", "target": 1, "prob": 0.5}', "'split' must be 'valid' or 'test'"),
        ('{"id": "a", "split": "test", "target": true, "prob": 0.5}', "'target' must be 0 or 1"),
        ('{"id": "a", "split": "test", "prob": 0.5}', "missing key"),
        ('{"id": "fn0000", "split": "test", "target": 1, "prob": 0.5}', "in both 'valid' and 'test'"),
    ],
)
def test_prediction_file_violations(tmp_path, line, message):
    write_synthetic_models(tmp_path / "models", names=("lexical",))
    with (tmp_path / "models" / "lexical" / "predictions.jsonl").open("a") as handle:
        handle.write(line + "\n")
    with pytest.raises(FileFormatError, match=message):
        run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")


def test_models_scored_on_different_test_sets_are_an_error(tmp_path):
    write_synthetic_models(tmp_path / "models", names=("lexical", "gnn"))
    path = tmp_path / "models" / "gnn" / "predictions.jsonl"
    kept = [line for line in path.read_text().splitlines() if '"fn0300"' not in line]
    path.write_text("\n".join(kept) + "\n")
    with pytest.raises(EvaluationError, match="test ids differ"):
        run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")


def test_fusion_without_fusion_json_is_an_error(tmp_path):
    write_synthetic_models(tmp_path / "models", names=("lexical", "fusion"))
    (tmp_path / "models" / "fusion" / "fusion.json").unlink()
    with pytest.raises(FileFormatError, match="fusion.json: not found"):
        run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")


def test_cli_reports_errors_without_traceback(tmp_path, capsys):
    from streamguard.cli import main

    (tmp_path / "models").mkdir()
    (tmp_path / "params.yaml").write_text("evaluate:\n  bootstrap_resamples: 50\n")
    code = main(
        [
            "--params",
            str(tmp_path / "params.yaml"),
            "evaluate",
            "--models",
            str(tmp_path / "models"),
            "--metrics",
            str(tmp_path / "m"),
        ]
    )
    assert code == 2
    assert "no predictions found" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.integration
def test_dvc_reads_the_metrics_and_renders_every_declared_plot(tmp_path):
    """The repo's dvc.yaml plots of evaluate's files render from run_evaluate's real output."""
    import subprocess
    import sys

    import yaml
    from conftest import REPO

    def dvc(*args: str) -> str:
        # a subprocess: in-process DVC commands print through a console that pytest's capture cannot see
        result = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=tmp_path, capture_output=True, text=True)
        assert result.returncode == 0, result.stderr
        return result.stdout

    declared_plots = yaml.safe_load((REPO / "dvc.yaml").read_text())["plots"]
    # training curves come from the train stages and the generalization plot from generalize; this test
    # covers evaluate's plots (its files under metrics/plots/)
    block = {"plots": [p for p in declared_plots if "metrics/plots/" in json.dumps(p)]}
    write_synthetic_models(tmp_path / "models")
    run_evaluate(EVALUATE_PARAMS, tmp_path / "models", tmp_path / "metrics")
    dvc_yaml = {"metrics": ["metrics/test"], **block}
    (tmp_path / "dvc.yaml").write_text(yaml.safe_dump(dvc_yaml, sort_keys=False))
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    dvc("init", "-q")
    shutil.copytree(REPO / ".dvc" / "plots", tmp_path / ".dvc" / "plots")  # the templates dvc.yaml names

    shown = json.loads(dvc("metrics", "show", "--json"))[""]["data"]  # "" = the workspace
    assert sorted(shown) == [f"metrics/test/{m}.json" for m in sorted(SYNTHETIC_SKILL)]
    for values in shown.values():
        assert sorted(values["data"]) == sorted(HEADLINE_KEYS)
    table = dvc("metrics", "show")
    assert len(table.splitlines()) == 1 + len(SYNTHETIC_SKILL)  # a header, then one row per model
    assert max(len(line) for line in table.splitlines()) < 200, table

    plots = json.loads(dvc("plots", "show", "--json"))
    assert "errors" not in plots
    declared = [next(iter(item)) for item in block["plots"]]
    assert sorted(plots["data"]) == sorted(declared)
    for name in declared:
        rendered = plots["data"][name][0]
        assert rendered["type"] == "vega"
        assert rendered["content"]["data"]["values"], name
        if name.startswith("ROC"):
            assert {v["filename"] for v in rendered["content"]["data"]["values"]} == {
                f"{m}.csv" for m in SYNTHETIC_SKILL
            }
