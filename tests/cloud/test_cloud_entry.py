"""cloud/sagemaker_entry.sh, run the way a SageMaker job runs it: from the extracted source
bundle, with the /opt/ml paths moved under tmp. The fast tests put recording stand-ins for
dvc/pip on PATH; the slow one runs the real dvc against a moto S3 server on 127.0.0.1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import BIN, REPO, EntryScriptJob, copy_checkout, git, make_small_repo, set_dummy_aws

ENTRY = REPO / "cloud" / "sagemaker_entry.sh"


@pytest.fixture
def job(tmp_path) -> EntryScriptJob:
    job = EntryScriptJob(tmp_path, make_small_repo(tmp_path / "repo"))
    job.unpack()
    return job


def _in_order(calls: list[str], expected: list[str]) -> None:
    pos = -1
    for want in expected:
        matches = [i for i, line in enumerate(calls) if line == want and i > pos]
        assert matches, f"{want!r} missing after position {pos} in:\n" + "\n".join(calls)
        pos = matches[0]


def test_entry_script_is_valid_bash():
    proc = subprocess.run(["bash", "-n", str(ENTRY)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_install_pull_exp_run_push_then_results(job):
    source_commit = git(job.repo, "rev-parse", "HEAD").strip()
    proc = job.run(
        "--name",
        "run1",
        "-S",
        "transformer.learning_rate=3e-4",
        "-S",
        "collect.nvd_keyword=buffer overflow",
        "--",
        "train_transformer",
        SG_RUN_NAME="run1",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    calls = job.calls()
    _in_order(
        calls,
        [
            f"pip install -q --require-hashes --no-deps -r {job.code}/install/requirements.lock",
            "pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cu126",
            "pip install -q --no-deps -e .",
            "dvc remote default",
            "dvc remote modify --local storage region us-east-1",
            f"dvc cache dir --local {job.ckpt}/dvc-cache",
            "dvc pull --run-cache --allow-missing -r storage",
            r"dvc exp run -n run1 -S transformer.learning_rate=3e-4 -S collect.nvd_keyword=buffer\ overflow "
            "train_transformer",
            f"checkpoints -> {job.ckpt}/train",
            "dvc push --run-cache -r storage",
        ],
    )
    # every pin of the lock but torch's, hash-checked; torch: the lock's version, CUDA build
    reqs = [c for c in calls if c.startswith("req: ")]
    assert "req: torch-geometric==2.8.1 \\" in reqs and "req: dvc==3.67.1 \\" in reqs
    assert not any(r.startswith("req: torch==") for r in reqs)
    # training wrote its checkpoint through the link into the synced folder
    assert (job.ckpt / "train" / "transformer" / "checkpoint.pt").read_text() == "step\n"
    # results for model.tar.gz
    assert json.loads((job.model / "metrics" / "test.json").read_text()) == {"lexical": {"f1": 0.5}}
    assert (job.model / "dvc.lock").exists()
    assert yaml.safe_load((job.model / "params.yaml").read_text())["seed"] == 42
    info = json.loads((job.model / "job.json").read_text())
    assert info["overrides"] == ["transformer.learning_rate=3e-4", "collect.nvd_keyword=buffer overflow"]
    assert info["source_commit"] == source_commit and info["mode"] == "exp" and info["name"] == "run1"
    heads = subprocess.run(
        ["git", "bundle", "list-heads", str(job.model / "experiment.bundle")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"refs/exps/ab/{'0' * 38}/run1" in heads and "EXEC_HEAD" not in heads
    # the job's repository: the launcher's commit, uncommitted changes as one commit on top
    work = job.code / "repo"
    assert git(work, "rev-parse", "HEAD~1").strip() == source_commit
    assert "NOTES.md" in git(work, "show", "--name-only", "--format=", "HEAD")
    assert not (work / ".dvc" / "config.local").exists()  # the launcher's DVC credentials stayed home


@pytest.mark.parametrize("include_untracked", [False, True])
def test_the_job_commits_what_the_bundle_shipped_and_nothing_else(tmp_path, include_untracked):
    job = EntryScriptJob(tmp_path, make_small_repo(tmp_path / "repo"))
    git(job.repo, "rm", "-q", "requirements.txt")  # a deletion is an uncommitted change too
    job.unpack(include_untracked=include_untracked)
    work = job.code / "repo"
    for junk in (".env", "scratch/notes.txt"):  # in the tree before the script runs, never shipped
        (work / junk).parent.mkdir(parents=True, exist_ok=True)
        (work / junk).write_text("TOKEN=CANARY\n")
    proc = job.run("--name", "exact", SG_SKIP_INSTALL="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    committed = set(git(work, "ls-tree", "-r", "--name-only", "HEAD").split())
    shipped = set(git(job.repo, "ls-files").split()) | ({"draft.md"} if include_untracked else set())
    assert committed == shipped
    assert git(work, "show", "HEAD:NOTES.md") == "uncommitted\n"
    assert git(work, "status", "--porcelain", "--", ".env", "scratch").count("??") == 2  # left alone


def test_clean_tree_runs_on_the_same_commit(tmp_path):
    job = EntryScriptJob(tmp_path, make_small_repo(tmp_path / "repo", dirty=False))
    job.unpack()
    proc = job.run("--name", "clean", SG_SKIP_INSTALL="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert git(job.code / "repo", "rev-parse", "HEAD") == git(job.repo, "rev-parse", "HEAD")
    assert not any(c.startswith("pip ") for c in job.calls())


def test_a_restarted_job_finds_the_checkpoints_of_the_first(job):
    assert job.run("--name", "spot", SG_SKIP_INSTALL="1").returncode == 0
    assert not any(c.startswith("found ") for c in job.calls())
    job.log.unlink()
    job.unpack()  # a spot restart: fresh container, same synced /opt/ml/checkpoints
    proc = job.run("--name", "spot", SG_SKIP_INSTALL="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "found checkpoints/transformer/checkpoint.pt" in job.calls()


def test_a_failing_pipeline_pushes_nothing_and_says_why(job):
    proc = job.run("--name", "bad", SG_SKIP_INSTALL="1", FAKE_DVC_FAIL="3")
    assert proc.returncode == 3
    assert not any(c.startswith("dvc push") for c in job.calls())
    assert "failed with exit status 3" in (job.output / "failure").read_text()
    assert not (job.model / "metrics").exists()


def test_sigterm_reaches_the_pipeline(job):
    job.fake_tools()
    job.output.mkdir(exist_ok=True)
    env = job.env(
        PATH=f"{job.fakebin}:/usr/bin:/bin",
        SG_PYTHON=str(job.fakebin / "python3"),
        SG_SKIP_INSTALL="1",
        FAKE_DVC_HANG="1",
    )
    proc = subprocess.Popen(
        job.command("--name", "spot"),
        cwd=job.code,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.time() + 60
        while "pipeline running" not in job.calls():
            assert proc.poll() is None and time.time() < deadline, proc.stdout.read() if proc.poll() else "timeout"
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)  # what SageMaker sends on a spot interruption
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 143, out
    assert "pipeline got SIGTERM" in job.calls()
    assert not any(c.startswith("dvc push") for c in job.calls())
    assert "SIGTERM" in (job.output / "failure").read_text()


def test_repro_mode_and_its_limits(job):
    proc = job.run("--repro", "--", "evaluate", SG_SKIP_INSTALL="1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    _in_order(
        job.calls(),
        ["dvc pull --run-cache --allow-missing -r storage", "dvc repro evaluate", "dvc push --run-cache -r storage"],
    )
    assert not (job.model / "experiment.bundle").exists()
    bad = job.run("--repro", "-S", "seed=1", SG_SKIP_INSTALL="1")
    assert bad.returncode != 0 and "drop --repro" in bad.stderr


def test_keep_image_torch_installs_everything_else(job):
    assert job.run("--name", "t", SG_TORCH="image").returncode == 0
    calls = job.calls()
    reqs = [c for c in calls if c.startswith("req: ")]
    assert not any(r.startswith("req: torch==") for r in reqs)
    assert "req: torch-geometric==2.8.1 \\" in reqs and "req: dvc==3.67.1 \\" in reqs
    assert not any(c.startswith("pip install -q torch") for c in calls), calls


def test_a_cpu_instance_installs_the_locked_torch_wheel_by_hash(job):
    assert job.run("--name", "t", SG_TORCH="cpu").returncode == 0
    calls = job.calls()
    torch_install = (
        "pip install -q --require-hashes --no-deps --extra-index-url https://download.pytorch.org/whl/cpu "
        f"-r {job.code}/install/torch.lock"
    )
    assert torch_install in calls, calls
    given = []  # the requirements file of that call: torch's entry of the lock and nothing else
    for line in calls[calls.index(torch_install) + 1 :]:
        if not line.startswith("req: "):
            break
        given.append(line)
    assert given[0] == "req: torch==2.13.0+cpu \\" and given[1].startswith("req:     --hash=sha256:6746dbcb")
    assert len(given) == 2, given


def test_an_image_on_another_python_than_the_lock_stops_before_installing(job):
    lock = job.code / "repo" / "requirements.lock"
    lock.write_text(lock.read_text().replace("--python-version 3.11", "--python-version 3.12", 1))
    proc = job.run("--name", "t")
    assert proc.returncode != 0
    assert "the image's Python is 3.11 but requirements.lock is locked for Python 3.12" in proc.stderr
    assert not any(c.startswith("pip ") for c in job.calls())


@pytest.mark.slow
@pytest.mark.integration
def test_real_dvc_round_trip_through_local_s3(tmp_path, moto_endpoint, monkeypatch):
    """The entry script with the real dvc and streamguard: pull from an empty remote, an
    experiment of two cheap stages, push to S3 (moto); then, on the launcher's side, the
    experiment comes back from experiment.bundle and its data from the remote."""
    import boto3

    set_dummy_aws(monkeypatch, None)
    repo = copy_checkout(tmp_path / "repo")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "init")
    bucket = "streamguard-ml"  # the bucket .dvc/config names
    boto3.client("s3", endpoint_url=moto_endpoint).create_bucket(Bucket=bucket)

    job = EntryScriptJob(tmp_path, repo)
    job.unpack()
    job.output.mkdir()
    env = job.env(
        PATH=f"{BIN}:{os.environ['PATH']}",
        SG_PYTHON=sys.executable,
        SG_SKIP_INSTALL="1",
        SG_DVC_ENDPOINT_URL=moto_endpoint,
        DVC_NO_ANALYTICS="1",
    )
    proc = subprocess.run(
        job.command("--name", "cloud-exp", "-S", "data.limit=120", "--", "preprocess"),
        cwd=job.code,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    keys = boto3.client("s3", endpoint_url=moto_endpoint).list_objects_v2(Bucket=bucket, Prefix="dvcstore/")
    assert keys["KeyCount"] > 0
    lock = yaml.safe_load((job.model / "dvc.lock").read_text())
    assert {"download", "preprocess"} <= set(lock["stages"])
    assert yaml.safe_load((job.model / "params.yaml").read_text())["data"]["limit"] == 120
    # the DVC cache went to the synced checkpoint folder
    assert any((job.ckpt / "dvc-cache").rglob("*"))

    # back on the launcher's machine
    local_env = {**env, "PATH": f"{BIN}:{os.environ['PATH']}"}

    def run(*args: str) -> str:
        done = subprocess.run(list(args), cwd=repo, env=local_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        return done.stdout

    run("git", "fetch", "-q", str(job.model / "experiment.bundle"), "refs/exps/*:refs/exps/*")
    assert "cloud-exp" in run("dvc", "exp", "list", "--name-only")
    for name in ("dvc.lock", "params.yaml"):  # = tar xzf model.tar.gz dvc.lock params.yaml
        shutil.copy2(job.model / name, repo / name)
    run("dvc", "remote", "modify", "--local", "storage", "endpointurl", moto_endpoint)
    run("dvc", "pull", "preprocess")
    job_train = (job.code / "repo" / "data" / "processed" / "train.jsonl").read_bytes()
    assert (repo / "data" / "processed" / "train.jsonl").read_bytes() == job_train
    assert "cloud-exp" in run("dvc", "exp", "show", "--no-pager", "--md")
