"""`streamguard sagemaker`: the dry-run job definition, errors for people, and a submission
against a local moto server (S3 + SageMaker on 127.0.0.1; nothing reaches AWS)."""

from __future__ import annotations

import io
import json
import os
import re
import shlex
import subprocess
import sys
import tarfile

import pytest
from conftest import IMAGE, REPO, ROLE, SECRET, TESTS, git, sagemaker_dry_run, set_dummy_aws

from streamguard.cli import main
from streamguard.cloud.sagemaker import LaunchOptions, plan_job, submit

OVERRIDES = ["transformer.learning_rate=3e-4", "gnn.epochs=2", "data.limit=200"]


def test_dry_run_prints_the_whole_job_without_aws(small_repo, no_aws, capsys):
    args = [
        "--spot",
        "--max-run",
        "6h",
        "--instance-type",
        "ml.g5.2xlarge",
        "--name",
        "lr-sweep-1",
        "--stage",
        "train_transformer",
    ]
    for o in OVERRIDES:
        args += ["-S", o]
    job = sagemaker_dry_run(capsys, *args)

    assert job["training_image"] == IMAGE and job["role"] == ROLE and job["base_job_name"] == "lr-sweep-1"
    assert job["compute"] == {
        "instance_type": "ml.g5.2xlarge",
        "instance_count": 1,
        "volume_size_in_gb": 100,
        "enable_managed_spot_training": True,
    }
    assert job["stopping_condition"] == {"max_runtime_in_seconds": 6 * 3600, "max_wait_time_in_seconds": 7 * 3600}
    run = "s3://streamguard-ml/sagemaker/lr-sweep-1"  # the DVC remote's bucket, from .dvc/config
    assert job["checkpoint_config"] == {"s3_uri": f"{run}/checkpoints", "local_path": "/opt/ml/checkpoints"}
    assert job["output_data_config"]["s3_output_path"] == run
    # the overrides: as -S arguments of the entry script, and mirrored as hyperparameters
    source = job["source_code"]
    assert source["command"] == "bash repo/cloud/sagemaker_entry.sh"
    assert source["args"] == [
        "--name",
        "lr-sweep-1",
        "-S",
        OVERRIDES[0],
        "-S",
        OVERRIDES[1],
        "-S",
        OVERRIDES[2],
        "--",
        "train_transformer",
    ]
    assert source["source_dir"].startswith(f"{run}/source/") and source["source_dir"].endswith(".tar.gz")
    assert job["hyperparameters"] == {"transformer.learning_rate": "3e-4", "gnn.epochs": "2", "data.limit": "200"}
    assert job["dvc"]["command"] == (
        "dvc exp run -n lr-sweep-1 -S transformer.learning_rate=3e-4 -S gnn.epochs=2 "
        "-S data.limit=200 train_transformer"
    )
    env = job["environment"]
    assert env["SG_REGION"] == "us-east-1" and env["SG_DVC_REMOTE"] == "storage"
    assert env["SG_CHECKPOINT_CACHE"] == "1" and env["SG_SOURCE_DIRTY"] == "true"
    assert env["SG_SOURCE_COMMIT"] == git(small_repo, "rev-parse", "HEAD").strip()
    assert SECRET not in json.dumps(job)


def test_on_demand_repro_job(small_repo, no_aws, capsys):
    job = sagemaker_dry_run(
        capsys,
        "--repro",
        "--output",
        "s3://my-bucket/jobs/",
        "--name",
        "nightly",
        "--input",
        "devign=s3://my-bucket/corpora/devign",
        "--no-checkpoint-cache",
    )
    assert job["compute"]["enable_managed_spot_training"] is False
    assert "max_wait_time_in_seconds" not in job["stopping_condition"]
    assert job["source_code"]["args"] == ["--repro"]
    assert job["dvc"]["command"] == "dvc repro"
    assert job["checkpoint_config"]["s3_uri"] == "s3://my-bucket/jobs/nightly/checkpoints"
    assert job["input_data_config"] == [{"channel_name": "devign", "data_source": "s3://my-bucket/corpora/devign"}]
    assert job["environment"]["SG_CHECKPOINT_CACHE"] == "0"
    assert job["hyperparameters"] == {}


def test_the_image_runs_the_python_the_lock_was_resolved_for(small_repo, no_aws, capsys):
    def image(*argv: str) -> tuple[int, str]:
        rc = main(["sagemaker", "--role", ROLE, "--region", "eu-west-1", "--dry-run", *argv])
        out = capsys.readouterr()
        return rc, json.loads(out.out)["training_image"] if rc == 0 else out.err

    assert "--python-version 3.11" in (small_repo / "requirements.lock").read_text()[:1000]
    # no --image: the newest AWS PyTorch training image on Python 3.11, from the SDK's table (no AWS call)
    assert image() == (0, "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.5.1-gpu-py311")
    assert image("--pytorch-version", "2.4") == (
        0,
        "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.4-gpu-py311",
    )
    # torch 2.6's images are Python 3.12: refused, with the versions that fit
    rc, err = image("--pytorch-version", "2.6")
    assert rc == 2 and "no AWS PyTorch training image on Python 3.11" in err and "2.5.1" in err, err
    rc, err = image("--image", "763104351884.dkr.ecr.eu-west-1.amazonaws.com/pytorch-training:2.6-gpu-py312")
    assert rc == 2 and "its tag says py312" in err and "--pytorch-version 2.5.1" in err, err


def test_the_job_installs_from_the_lock(small_repo, no_aws, capsys):
    job = sagemaker_dry_run(capsys)
    assert job["install"]["requirements"] == "requirements.lock" and job["install"]["python"] == "3.11"
    assert "--require-hashes" in job["install"]["hashes"] and "torch==2.13.0" in job["install"]["torch"]
    assert job["environment"]["SG_TORCH"] == "cuda"  # ml.g5.xlarge: the lock's torch version, CUDA build
    assert sagemaker_dry_run(capsys, "--instance-type", "ml.m5.xlarge")["environment"]["SG_TORCH"] == "cpu"
    assert sagemaker_dry_run(capsys, "--keep-image-torch")["environment"]["SG_TORCH"] == "image"
    (small_repo / "requirements.lock").unlink()
    assert main(["sagemaker", "--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--dry-run"]) == 2
    assert "requirements.lock: missing" in capsys.readouterr().err


def test_defaults_are_sized_from_measured_runs(small_repo, no_aws, capsys):
    job = sagemaker_dry_run(capsys)
    assert job["stopping_condition"] == {"max_runtime_in_seconds": 2 * 3600}
    job = sagemaker_dry_run(capsys, "--spot")
    assert job["stopping_condition"] == {"max_runtime_in_seconds": 2 * 3600, "max_wait_time_in_seconds": 3 * 3600}
    rc = main(["sagemaker", "--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--dry-run", "--spot"])
    err = capsys.readouterr().err
    assert rc == 0 and "at most 2 instance-hours of ml.g5.xlarge (spot" in err and "SageMaker costs" in err


@pytest.mark.slow
@pytest.mark.integration
def test_metric_definitions_parse_the_lines_the_training_loop_prints(small_repo, no_aws, capsys, tmp_path):
    definitions = sagemaker_dry_run(capsys)["metric_definitions"]
    names = {d["name"] for d in definitions}
    assert {"train:loss", "train:samples_per_second", "epoch:train_loss", "epoch:valid_mcc"} <= names
    # the loop's real output: a tiny transformer training into a pipe, one progress line per step
    run = subprocess.run(
        [sys.executable, str(TESTS / "tiny_training.py"), str(tmp_path / "out"), str(tmp_path / "ckpt"), "0"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO / "src"), "STREAMGUARD_PROGRESS_SECONDS": "0"},
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    lines = run.stderr.splitlines()
    step_lines = [line for line in lines if " step " in line and "/" in line]
    epoch_lines = [line for line in lines if " epoch " in line and ": train_loss " in line]
    assert len(step_lines) == 24 and len(epoch_lines) == 2, lines
    pretrain_only = {"epoch:valid_perplexity", "epoch:valid_neg_loss"}  # the MLM stage's curves
    for d in definitions:
        regex = re.compile(d["regex"])
        assert regex.groups == 1, d
        found = [float(m.group(1)) for line in lines if (m := regex.search(line))]
        if d["name"] in pretrain_only:
            assert found == [], d
            continue
        expected = len(epoch_lines) if d["name"].startswith("epoch:") else len(step_lines)
        assert len(found) == expected, (d, found)
    # the values are the ones printed: step numbers 1..24, the last ETA 0
    steps = [float(re.search(_regex(definitions, "train:step"), line).group(1)) for line in step_lines]
    assert steps == [float(i) for i in range(1, 25)]
    mcc = [re.search(_regex(definitions, "epoch:valid_mcc"), line).group(1) for line in epoch_lines]
    assert all(f"valid_mcc {value} " in line for value, line in zip(mcc, epoch_lines))


def _regex(definitions: list[dict], name: str) -> str:
    return next(d["regex"] for d in definitions if d["name"] == name)


def test_pretraining_epoch_lines_carry_its_curves(capsys):
    """The MLM stage's epoch line, as the loop formats it, parsed by the same definitions."""
    from streamguard.cloud.sagemaker import metric_definitions
    from streamguard.progress import epoch_line

    line = epoch_line(
        "pretrain",
        {
            "epoch": 3,
            "step": 90,
            "train_loss": 6.2,
            "valid_loss": 6.04,
            "valid_perplexity": 421.9,
            "valid_neg_loss": -6.04,
        },
    )
    values = {}
    for d in metric_definitions():
        m = re.search(d["regex"], line)
        if m:
            values[d["name"]] = float(m.group(1))
    assert values == {
        "epoch:train_loss": 6.2,
        "epoch:valid_loss": 6.04,
        "epoch:valid_perplexity": 421.9,
        "epoch:valid_neg_loss": -6.04,
    }


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--image", IMAGE, "--region", "us-east-1"], ["--role", "STREAMGUARD_SAGEMAKER_ROLE"]),
        (["--role", "my-role", "--image", IMAGE, "--region", "us-east-1"], ["IAM role ARN"]),
        (["--role", ROLE, "--image", IMAGE], ["--region", "AWS_DEFAULT_REGION"]),
        (
            ["--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "-S", "transformer.learning_rat=0.1"],
            ["transformer.learning_rat", "did you mean 'transformer.learning_rate'"],
        ),
        (
            ["--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "-S", "transformer.epochs=zero"],
            ["transformer.epochs", "must be int"],
        ),
        (
            ["--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--stage", "trian_gnn"],
            ["did you mean 'train_gnn'"],
        ),
        (["--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--repro", "-S", "seed=1"], ["drop --repro"]),
        (
            [
                "--role",
                ROLE,
                "--image",
                IMAGE,
                "--region",
                "us-east-1",
                "--spot",
                "--max-run",
                "2h",
                "--max-wait",
                "1h",
            ],
            ["--max-wait", "at least --max-run"],
        ),
        (["--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--instance-count", "2"], ["one machine"]),
        (
            ["--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--input", "code=s3://b/x"],
            ["used by SageMaker"],
        ),
    ],
)
def test_errors_say_what_to_set(small_repo, no_aws, capsys, monkeypatch, argv, words):
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.delenv("STREAMGUARD_SAGEMAKER_ROLE", raising=False)
    monkeypatch.delenv("STREAMGUARD_SAGEMAKER_IMAGE", raising=False)
    assert main(["sagemaker", *argv, "--dry-run"]) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err


def test_submit_without_credentials_says_what_to_set(small_repo, no_aws, capsys):
    rc = main(["sagemaker", "--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--no-wait"])
    err = capsys.readouterr().err
    assert rc == 2
    assert "no AWS credentials" in err and "AWS_ACCESS_KEY_ID" in err and "AWS_PROFILE" in err


def _object(s3, uri: str) -> bytes:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return s3.get_object(Bucket=bucket, Key=key)["Body"].read()


def test_submit_uploads_the_bundle_and_creates_the_job(small_repo, moto_endpoint, monkeypatch, tmp_path):
    import boto3
    import sagemaker.core.telemetry.telemetry_logging as telemetry

    set_dummy_aws(monkeypatch, moto_endpoint)
    monkeypatch.setenv("SAGEMAKER_VALIDATE_ROLE", "false")  # moto has no iam:SimulatePrincipalPolicy

    telemetry_sent: list = []  # recorded, not raised: the SDK's wrapper swallows exceptions from it
    monkeypatch.setattr(telemetry, "_send_telemetry_request", lambda *a, **k: telemetry_sent.append(a))
    plan = plan_job(
        LaunchOptions(
            role=ROLE,
            image=IMAGE,
            region="us-east-1",
            spot=True,
            name="moto-run",
            output="s3://sg-jobs/runs",
            overrides=OVERRIDES[:2],
        ),
        small_repo,
    )
    import botocore.client

    created: list[dict] = []  # CreateTrainingJob's parameters, as boto3 sends them to moto
    make_api_call = botocore.client.BaseClient._make_api_call

    def record(self, operation, params):
        if operation == "CreateTrainingJob":
            created.append(params)
        return make_api_call(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", record)
    said: list[str] = []
    job_name = submit(plan, small_repo, wait=True, logs=False, say=said.append)  # moto's jobs finish at once
    assert job_name.startswith("moto-run-")
    assert telemetry_sent == [], "the launcher must opt out of SageMaker SDK telemetry"

    s3 = boto3.client("s3")
    # the source bundle: tracked files as on disk (uncommitted change included) and the history; nothing
    # ignored, no untracked file (not asked for)
    bundle = _object(s3, plan.bundle_uri)
    with tarfile.open(fileobj=io.BytesIO(bundle)) as tar:
        members = {m.name: m for m in tar.getmembers()}
        names = set(members)
        assert {
            "repo/cloud/sagemaker_entry.sh",
            "repo/params.yaml",
            "repo/dvc.yaml",
            "repo/.dvc/config",
            "repo/NOTES.md",
            "meta/source.bundle",
        } <= names
        assert not any(n.startswith(("repo/.venv", "repo/models", "repo/.git/")) for n in names), names
        assert "repo/.dvc/config.local" not in names and "repo/draft.md" not in names
        assert all(m.uid == 0 and m.gid == 0 for m in members.values())
        assert all(SECRET.encode() not in tar.extractfile(m).read() for m in members.values() if m.isfile())
        (tmp_path / "source.bundle").write_bytes(tar.extractfile("meta/source.bundle").read())
    heads = subprocess.run(
        ["git", "bundle", "list-heads", str(tmp_path / "source.bundle")], capture_output=True, text=True, check=True
    ).stdout
    assert git(small_repo, "rev-parse", "HEAD").strip() in heads

    # the job as SageMaker (moto) recorded it
    desc = boto3.client("sagemaker").describe_training_job(TrainingJobName=job_name)
    assert desc["AlgorithmSpecification"]["TrainingImage"] == IMAGE
    assert desc["RoleArn"] == ROLE
    assert desc["EnableManagedSpotTraining"] is True
    assert desc["CheckpointConfig"]["S3Uri"] == "s3://sg-jobs/runs/moto-run/checkpoints"
    assert desc["StoppingCondition"]["MaxWaitTimeInSeconds"] >= desc["StoppingCondition"]["MaxRuntimeInSeconds"]
    assert desc["ResourceConfig"]["InstanceType"] == "ml.g5.xlarge"
    assert desc["HyperParameters"] == {"transformer.learning_rate": "3e-4", "gnn.epochs": "2"}
    # moto answers DescribeTrainingJob with fixed metric definitions: read what was sent instead
    sent = created[0]["AlgorithmSpecification"]["MetricDefinitions"]
    assert {m["Name"]: m["Regex"] for m in sent} == {d["name"]: d["regex"] for d in plan.metric_definitions}
    assert "train:loss" in {m["Name"] for m in sent}
    channels = {c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"] for c in desc["InputDataConfig"]}
    assert channels["code"] == plan.bundle_uri
    # the SDK's container script runs our entry script with the overrides, quoted as one argument each
    driver_prefix = channels["sm_drivers"][len("s3://sg-jobs/") :]
    assert driver_prefix.startswith("runs/moto-run/")
    train_sh = s3.get_object(Bucket="sg-jobs", Key=f"{driver_prefix.rstrip('/')}/sm_train.sh")["Body"].read().decode()
    expected = "bash repo/cloud/sagemaker_entry.sh " + shlex.join(
        ["--name", "moto-run", "-S", OVERRIDES[0], "-S", OVERRIDES[1]]
    )
    assert expected in train_sh
    assert "tar -xzf " + plan.bundle_uri.rsplit("/", 1)[1] in train_sh
    assert any("source:" in line and "+ uncommitted changes" in line for line in said), said


def _moto_job(name: str, metric_names: list[str]) -> None:
    import boto3

    boto3.client("sagemaker").create_training_job(
        TrainingJobName=name,
        AlgorithmSpecification={
            "TrainingImage": IMAGE,
            "TrainingInputMode": "File",
            "MetricDefinitions": [{"Name": n, "Regex": f"{n} ([0-9.]+)"} for n in metric_names],
        },
        RoleArn=ROLE,
        OutputDataConfig={"S3OutputPath": "s3://sg-watch/out"},
        ResourceConfig={"InstanceType": "ml.g5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 30},
        StoppingCondition={"MaxRuntimeInSeconds": 7200},
    )


def test_watch_shows_the_status_and_the_latest_metrics(small_repo, moto_endpoint, monkeypatch, capsys):
    from datetime import timedelta

    import boto3

    set_dummy_aws(monkeypatch, moto_endpoint)
    _moto_job("watched-1", ["train:loss", "epoch:valid_mcc", "train:samples_per_second"])
    start = boto3.client("sagemaker").describe_training_job(TrainingJobName="watched-1")["TrainingStartTime"]
    host = [{"Name": "Host", "Value": "watched-1/algo-1"}]
    boto3.client("cloudwatch").put_metric_data(  # what SageMaker publishes from the log, a minute apart
        Namespace="/aws/sagemaker/TrainingJobs",
        MetricData=[
            {"MetricName": "train:loss", "Dimensions": host, "Value": 0.69, "Timestamp": start + timedelta(seconds=5)},
            {
                "MetricName": "train:loss",
                "Dimensions": host,
                "Value": 0.52,
                "Timestamp": start + timedelta(seconds=125),
            },
            {
                "MetricName": "epoch:valid_mcc",
                "Dimensions": host,
                "Value": 0.31,
                "Timestamp": start + timedelta(seconds=90),
            },
        ],
    )
    rc = main(["sagemaker", "--watch", "watched-1", "--region", "us-east-1"])
    err = capsys.readouterr().err
    assert rc == 0, err
    line = err.strip()
    assert line.startswith("watched-1: Completed"), line  # moto's jobs complete at once
    assert "train:loss 0.52" in line and "epoch:valid_mcc 0.31" in line  # the latest point of each
    assert "train:samples_per_second" not in line  # no data point: not shown


def test_watch_says_why_a_job_cannot_be_watched(small_repo, moto_endpoint, monkeypatch, capsys):
    set_dummy_aws(monkeypatch, moto_endpoint)
    assert main(["sagemaker", "--watch", "never-submitted", "--region", "us-east-1"]) == 2
    err = capsys.readouterr().err
    assert "no training job named 'never-submitted' in us-east-1" in err and "list-training-jobs" in err
