"""`streamguard sagemaker --instance-count N`: one neural stage as one torchrun group over N
instances. The dry run's job and distribution settings (no AWS call), the rendezvous variables
each instance derives from SageMaker's, and the entry script on the leader and on a worker."""

from __future__ import annotations

import json

import pytest
import yaml
from conftest import IMAGE, ROLE, EntryScriptJob, make_small_repo, sagemaker_dry_run

from streamguard.cli import main
from streamguard.cloud.nodes import NodesError, rendezvous_env, stage_command, upstream_stages

SM_TWO_HOSTS = {
    "SM_HOSTS": json.dumps(["algo-2", "algo-1"]),
    "SM_HOST_COUNT": "2",
    "SM_MASTER_ADDR": "algo-1",
    "SM_MASTER_PORT": "7777",
    "SM_NETWORK_INTERFACE_NAME": "eth0",
}


def test_dry_run_of_two_instances_shows_the_torchrun_group(small_repo, no_aws, capsys):
    job = sagemaker_dry_run(
        capsys,
        "--instance-count",
        "2",
        "--instance-type",
        "ml.g5.12xlarge",
        "--stage",
        "train_transformer",
        "--name",
        "ddp-2",
        "-S",
        "transformer.epochs=2",
    )
    assert job["compute"]["instance_count"] == 2 and job["compute"]["instance_type"] == "ml.g5.12xlarge"
    dist = job["distributed"]
    assert dist["nnodes"] == 2 and dist["stage"] == "train_transformer"
    assert dist["nproc_per_node"] == "params transformer.nproc_per_node"
    assert dist["rendezvous"]["master_addr"].startswith("$SM_MASTER_ADDR")
    assert dist["rendezvous"]["node_rank"] == "$SM_CURRENT_HOST_RANK"
    assert {"PET_NNODES", "PET_NODE_RANK", "PET_MASTER_ADDR", "PET_MASTER_PORT"} <= set(dist["rendezvous"]["env"])
    assert "ml.p4d.24xlarge" in dist["written_for"] and "ml.g5.12xlarge" in dist["written_for"]
    # every instance runs the entry with the one stage; instance 0 forces it as the experiment
    assert job["source_code"]["args"] == ["--name", "ddp-2", "-S", "transformer.epochs=2", "--", "train_transformer"]
    assert job["dvc"]["command"] == "dvc exp run -n ddp-2 -f -s train_transformer"
    assert job["hyperparameters"] == {"transformer.epochs": "2"}


def test_one_instance_has_no_distribution(small_repo, no_aws, capsys):
    job = sagemaker_dry_run(capsys, "--stage", "train_transformer")
    assert "distributed" not in job and job["compute"]["instance_count"] == 1
    assert job["dvc"]["command"].endswith(" train_transformer") and " -f " not in job["dvc"]["command"]


@pytest.mark.parametrize(
    "extra, words",
    [
        (["--instance-count", "2"], ["name it with --stage", "train_gnn", "one machine"]),
        (["--instance-count", "2", "--stage", "train_lexical"], ["--stage train_lexical", "one torchrun group"]),
        (["--instance-count", "3", "--stage", "train_gnn", "--stage", "train_transformer"], ["--stage"]),
        (["--instance-count", "0"], ["at least 1"]),
        (["--gpus-per-instance", "4", "--stage", "train_gnn"], ["--instance-count > 1"]),
        (["--instance-count", "2", "--stage", "oof_gnn", "--gpus-per-instance", "0"], ["at least 1"]),
        (["--stage", "oof_gnn@1"], ["--stage oof_gnn@1", "has no @ variants", "use --stage oof_gnn"]),
        (
            ["--instance-count", "2", "--stage", "train_gnn", "--gpus-per-instance", "1000"],
            ["--gpus-per-instance 1000", "ml.g5.xlarge has 1 GPU(s)", "at most 1"],
        ),
        (
            [
                "--instance-count",
                "2",
                "--stage",
                "train_gnn",
                "--gpus-per-instance",
                "2",
                "--instance-type",
                "ml.m5.xlarge",
            ],
            ["ml.m5.xlarge has 0 GPU(s)"],
        ),
    ],
)
def test_multi_instance_errors_say_what_to_do(small_repo, no_aws, capsys, extra, words):
    argv = ["sagemaker", "--role", ROLE, "--image", IMAGE, "--region", "us-east-1", "--dry-run", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    for word in words:
        assert word in err, err


def test_gpus_per_instance_sets_the_stage_sections_processes(small_repo, no_aws, capsys):
    job = sagemaker_dry_run(
        capsys,
        *("--instance-count", "2", "--stage", "oof_gnn", "--gpus-per-instance", "4", "--repro"),
        *("--instance-type", "ml.g5.12xlarge"),
    )
    assert job["distributed"]["nproc_per_node"] == 4
    assert job["source_code"]["args"] == ["--repro", "-S", "gnn.nproc_per_node=4", "--", "oof_gnn"]
    assert job["dvc"]["command"] == "dvc repro -f -s oof_gnn"


def test_each_instance_derives_its_rank_from_sagemakers_variables():
    worker = rendezvous_env(
        {**SM_TWO_HOSTS, "SM_CURRENT_HOST": "algo-2", "SM_CURRENT_INSTANCE_TYPE": "ml.p4d.24xlarge"}
    )
    assert worker["NODE_RANK"] == worker["PET_NODE_RANK"] == "1"
    assert worker["NNODES"] == worker["PET_NNODES"] == "2"
    assert worker["PET_MASTER_ADDR"] == "algo-1" and worker["PET_MASTER_PORT"] == "7777"
    assert worker["FI_PROVIDER"] == "efa" and worker["FI_EFA_USE_DEVICE_RDMA"] == "1"
    leader = rendezvous_env({**SM_TWO_HOSTS, "SM_CURRENT_HOST": "algo-1", "SM_CURRENT_INSTANCE_TYPE": "ml.g5.12xlarge"})
    assert leader["NODE_RANK"] == "0" and "FI_PROVIDER" not in leader and leader["NCCL_SOCKET_IFNAME"] == "eth0"
    assert rendezvous_env({"SM_HOSTS": '["algo-1"]', "SM_CURRENT_HOST": "algo-1"}) == {}
    with pytest.raises(NodesError, match="algo-9"):
        rendezvous_env({**SM_TWO_HOSTS, "SM_CURRENT_HOST": "algo-9"})


def test_upstream_stages_and_command_come_from_dvc_yaml(tmp_path):
    repo = make_small_repo(tmp_path / "repo")
    up = upstream_stages(repo, "train_transformer")
    assert {"download", "preprocess", "pretrain"} <= set(up)
    assert "graphs" not in up and "train_gnn" not in up and "train_transformer" not in up
    assert "graphs" in upstream_stages(repo, "oof_gnn")
    assert stage_command(repo, "oof_gnn") == (
        "streamguard oof gnn --processed data/processed --graphs data/graphs --folds data/folds.json "
        "--pretrained models/pretrain --checkpoints checkpoints --out data/oof"
    )


class TwoHostJob(EntryScriptJob):
    """The entry script's job with fake dvc/streamguard that also record the rendezvous variables."""

    def fake_tools(self) -> None:
        super().fake_tools()
        (self.fakebin / "dvc").rename(self.fakebin / "dvc-recorded")
        record = (
            'echo "$0 $* | NODE_RANK=${NODE_RANK:-} PET_NNODES=${PET_NNODES:-} PET_MASTER_ADDR=${PET_MASTER_ADDR:-}"'
        )
        (self.fakebin / "dvc").write_text(
            f'#!/usr/bin/env bash\ncase "$1 $2" in "exp run") {record} >> "$SG_TEST_LOG" ;; esac\n'
            f'exec "$(dirname "$0")/dvc-recorded" "$@"\n'
        )
        (self.fakebin / "streamguard").write_text(f'#!/usr/bin/env bash\n{record} >> "$SG_TEST_LOG"\n')
        for name in ("dvc", "streamguard"):
            (self.fakebin / name).chmod(0o755)


@pytest.fixture
def two_host_job(tmp_path) -> TwoHostJob:
    job = TwoHostJob(tmp_path, make_small_repo(tmp_path / "repo"))
    job.unpack()
    return job


def _host(name: str) -> dict:
    return {**SM_TWO_HOSTS, "SM_CURRENT_HOST": name, "SG_SKIP_INSTALL": "1"}


def test_the_leader_forces_the_stage_as_the_experiment_and_pushes(two_host_job):
    job = two_host_job
    proc = job.run("--name", "ddp", "-S", "transformer.epochs=2", "--", "train_transformer", **_host("algo-1"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = job.calls()
    repro = next(c for c in calls if c.startswith("dvc repro "))
    assert "preprocess" in repro and "train_transformer" not in repro  # the upstream, without rendezvous
    assert any(
        "dvc exp run -n ddp -f -s train_transformer | NODE_RANK=0 PET_NNODES=2 PET_MASTER_ADDR=algo-1" in c
        for c in calls
    ), calls
    assert calls.index(repro) < next(i for i, c in enumerate(calls) if "exp run -n ddp" in c)
    assert any(c.startswith("dvc push") for c in calls)
    assert (job.model / "job.json").exists() and (job.ckpt / "train").is_dir()
    params = yaml.safe_load((job.code / "repo" / "params.yaml").read_text())
    assert params["transformer"]["epochs"] == 2  # -S applied before the upstream ran


def test_a_worker_runs_the_stage_command_and_pushes_nothing(two_host_job):
    job = two_host_job
    proc = job.run("--name", "ddp", "--", "train_gnn", **_host("algo-2"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = job.calls()
    assert any(c.startswith("dvc repro ") and "graphs" in c for c in calls)
    command = "streamguard train gnn --graphs data/graphs --pretrained models/pretrain --checkpoints checkpoints"
    assert any(f"{command} --out models/gnn | NODE_RANK=1 PET_NNODES=2 PET_MASTER_ADDR=algo-1" in c for c in calls), (
        calls
    )
    assert not any(c.startswith(("dvc push", "dvc exp run")) or "exp run" in c for c in calls), calls
    assert not (job.model / "job.json").exists()
    assert not (job.ckpt / "train").exists()  # the leader's synced checkpoint folder is left alone


def test_several_instances_need_one_stage(two_host_job):
    proc = two_host_job.run("--name", "ddp", **_host("algo-1"))
    assert proc.returncode != 0 and "name exactly one" in proc.stderr
