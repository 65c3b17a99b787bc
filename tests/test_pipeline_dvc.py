"""End to end through real DVC: repro, caching, experiments, plots, S3 push/pull.

The repository is copied into a temp git repo with small params so the whole
pipeline runs in a few minutes on 2 cores: the default (stacker fitted on valid,
oof stages skipped), and each model's oof stage trained with fusion.fit_on: oof on two folds.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from conftest import REPO, copy_checkout, free_port, merge_params, sh

pytestmark = [pytest.mark.slow, pytest.mark.integration]

SMALL = {
    "data": {"limit": 400},
    "transformer": {
        "epochs": 1,
        "hidden_size": 32,
        "num_layers": 1,
        "num_heads": 2,
        "intermediate_size": 64,
        "max_length": 96,
        "vocab_size": 1000,
    },
    "gnn": {"epochs": 1, "hidden_size": 32, "num_layers": 2},
    "lexical": {"max_features": 5000},
    "evaluate": {"bootstrap_resamples": 200},
}


@pytest.fixture(scope="module")
def pipeline_repo(tmp_path_factory) -> Path:
    repo = copy_checkout(tmp_path_factory.mktemp("pipeline"))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump(merge_params(params, SMALL), sort_keys=False))
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "init")
    run = sh(repo, "dvc", "repro")
    (repo / "first_repro.log").write_text(run.stdout + run.stderr)
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "repro")
    return repo


def test_repro_leaves_metrics_for_every_model(pipeline_repo):
    shown = json.loads(sh(pipeline_repo, "dvc", "metrics", "show", "--json").stdout)[""]["data"]
    for model in ("lexical", "transformer", "gnn", "fusion"):
        headline = shown[f"metrics/test/{model}.json"]["data"]
        assert sorted(headline) == ["accuracy", "f1", "mcc", "pr_auc", "roc_auc"], headline
    table = sh(pipeline_repo, "dvc", "metrics", "show").stdout
    assert max(len(line) for line in table.splitlines()) < 200, table
    test = json.loads((pipeline_repo / "metrics" / "test_details.json").read_text())
    for model in ("lexical", "transformer", "gnn", "fusion"):
        assert 0.0 <= test[model]["accuracy"] <= 1.0
        assert test[model]["accuracy_ci_low"] <= test[model]["accuracy"] <= test[model]["accuracy_ci_high"]


def test_second_repro_is_up_to_date(pipeline_repo):
    out = sh(pipeline_repo, "dvc", "repro").stdout
    assert "Running stage" not in out
    status = sh(pipeline_repo, "dvc", "status").stdout
    assert "up to date" in status.lower()


def test_fusion_param_reruns_only_fusion_and_evaluate(pipeline_repo):
    out = sh(pipeline_repo, "dvc", "exp", "run", "-n", "fusion-c", "-S", "fusion.C=0.25").stdout
    ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
    assert ran == {"validate_params", "fusion", "evaluate"}, out
    shown = sh(pipeline_repo, "dvc", "exp", "show", "--no-pager", "--md").stdout
    assert "fusion-c" in shown
    diff = sh(pipeline_repo, "dvc", "params", "diff", "main", "fusion-c", "--md").stdout
    assert "fusion.C" in diff


def test_oof_stages_train_every_fold_through_dvc_when_fusion_fits_on_oof(pipeline_repo):
    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    params["fusion"]["fit_on"] = "oof"
    params["oof"].update(folds=2, epochs=1)  # any number of folds, without editing dvc.yaml
    (pipeline_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    stages = ["validate_params", "folds", "oof_lexical", "oof_transformer", "oof_gnn"]
    try:
        out = sh(pipeline_repo, "dvc", "repro", "--single-item", *stages).stdout
        ran = {line.split("'")[1] for line in out.splitlines() if line.startswith("Running stage")}
        assert ran == set(stages), out
        assigned = json.loads((pipeline_repo / "data/folds.json").read_text())
        for model in ("lexical", "transformer", "gnn"):
            written = sorted(p.name for p in (pipeline_repo / f"data/oof/{model}").iterdir())
            assert written == ["fold_0", "fold_1"], (model, written)
            for k in (0, 1):
                fold = json.loads((pipeline_repo / f"data/oof/{model}/fold_{k}/fold.json").read_text())
                assert fold["held_out_ids"] and not set(fold["held_out_ids"]) & set(fold["trained_on_ids"])
                predicted = (pipeline_repo / f"data/oof/{model}/fold_{k}/predictions.jsonl").read_text().splitlines()
                assert len(predicted) == len(fold["held_out_ids"]), model
                assert {i for i, f in assigned["fold_of"].items() if f == k} == set(fold["held_out_ids"]), model
    finally:  # back to the committed default for the other tests (HEAD: core.autostage staged the lock)
        sh(pipeline_repo, "git", "checkout", "-q", "HEAD", "--", "params.yaml", "dvc.lock")
        sh(pipeline_repo, "dvc", "checkout", "-q")


def test_plots_render(pipeline_repo):
    sh(pipeline_repo, "dvc", "plots", "show", "-o", "plots_html")
    html = (pipeline_repo / "plots_html" / "index.html").read_text()
    assert "roc" in html.lower() and "valid_f1" in html


def test_metrics_diff_between_commits(pipeline_repo):
    params = yaml.safe_load((pipeline_repo / "params.yaml").read_text())
    params["lexical"]["C"] = 0.05
    (pipeline_repo / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    sh(pipeline_repo, "dvc", "repro")
    diff = sh(pipeline_repo, "dvc", "metrics", "diff", "--md").stdout
    assert "metrics/test/lexical.json" in diff, diff
    # HEAD, not the index: core.autostage has staged the new dvc.lock
    sh(pipeline_repo, "git", "checkout", "-q", "HEAD", "--", "params.yaml", "dvc.lock", "metrics")
    sh(pipeline_repo, "dvc", "checkout", "-q")


def test_push_then_pull_from_local_s3_is_byte_identical(pipeline_repo, monkeypatch):
    boto3 = pytest.importorskip("boto3")
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
        }.items():
            monkeypatch.setenv(key, value)
        endpoint = f"http://127.0.0.1:{port}"
        boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket="streamguard-ml")
        sh(pipeline_repo, "dvc", "remote", "modify", "--local", "storage", "endpointurl", endpoint)
        tracked = [
            "data/processed/train.jsonl",
            "models/lexical/weights.npz",
            "models/transformer/model.pt",
            "data/graphs/train.pt",
            "data/oof/gnn/skipped.json",
            "models/fusion/fusion.json",
        ]
        before = {p: (pipeline_repo / p).read_bytes() for p in tracked}
        sh(pipeline_repo, "dvc", "push")
        objects = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").list_objects_v2(
            Bucket="streamguard-ml", Prefix="dvcstore/"
        )
        assert objects["KeyCount"] > 0
        # every DVC-cached output goes; metrics/ is small and versioned in git instead
        for out in ("data/raw", "data/processed", "data/graphs", "data/oof", "data/collected", "models"):
            shutil.rmtree(pipeline_repo / out)
        shutil.rmtree(pipeline_repo / ".dvc" / "cache")
        sh(pipeline_repo, "dvc", "pull")
        for path, content in before.items():
            assert (pipeline_repo / path).read_bytes() == content, path
        assert "up to date" in sh(pipeline_repo, "dvc", "status").stdout.lower()
    finally:
        server.stop()
        sh(pipeline_repo, "dvc", "remote", "modify", "--local", "--unset", "storage", "endpointurl", check=False)


def test_predict_scores_every_function_of_a_c_file(pipeline_repo):
    source = REPO / "tests" / "fixtures" / "predict" / "example.c"
    sh(pipeline_repo, "streamguard", "predict", str(source), "-o", "predictions.jsonl")
    rows = [json.loads(line) for line in (pipeline_repo / "predictions.jsonl").read_text().splitlines()]
    assert [r["origin"].rsplit(":", 1)[1] for r in rows] == ["copy_name", "checked_sum"]
    for row in rows:
        assert set(row["probabilities"]) == {"lexical", "transformer", "gnn"}
        assert 0 <= row["fused_probability"] <= 1 and row["predicted"] in (0, 1) and "label" not in row
    bad = sh(pipeline_repo, "streamguard", "predict", "missing.c", check=False)
    assert bad.returncode == 2 and "missing.c: no such file" in bad.stderr
