"""Parallel sweeps: `dvc exp run --queue -S ...` + `dvc queue start -j 2` through the real stages,
and the checkpoint-folder claim that keeps two runs from training into one folder."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import REPO, TINY_NEURAL_PARAMS, command_env, merge_params, sh

from streamguard.training.checkpoint_claim import CheckpointInUseError, checkpoint_claim

HOLD = """
import sys, time
from pathlib import Path
from streamguard.training.checkpoint_claim import checkpoint_claim
with checkpoint_claim(Path(sys.argv[1])):
    print("claimed", flush=True)
    time.sleep(60)
"""


def test_a_claimed_checkpoint_folder_stops_a_second_run(tmp_path):
    folder = tmp_path / "checkpoints" / "transformer"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(folder)], stdout=subprocess.PIPE, text=True, env={**os.environ, "RANK": "0"}
    )
    try:
        assert holder.stdout.readline().strip() == "claimed"
        with pytest.raises(CheckpointInUseError) as err, checkpoint_claim(folder):
            pass
        message = str(err.value)
        assert str(folder) in message and f"pid {holder.pid}" in message and "dvc exp run --queue" in message
    finally:
        holder.kill()
        holder.wait()
    # the kernel drops a dead holder's lock: the folder is free again
    with checkpoint_claim(folder):
        pass


def test_ranks_other_than_zero_do_not_claim(tmp_path, monkeypatch):
    folder = tmp_path / "checkpoints" / "gnn"
    with checkpoint_claim(folder):
        monkeypatch.setenv("RANK", "1")
        monkeypatch.setenv("WORLD_SIZE", "2")
        with checkpoint_claim(folder):  # rank 1 writes no checkpoints, so it neither needs nor blocks the lock
            pass


# --- the queue, end to end ------------------------------------------------------------------

# validate_params -> download -> preprocess -> train_lexical + train_transformer -> evaluate, from the real dvc.yaml
STAGES = ("validate_params", "download", "preprocess", "train_lexical", "train_transformer", "evaluate")
SMALL = {
    "data": {"limit": 240},
    "lexical": {"max_features": 2000},
    # so each run really writes checkpoints while the other one trains
    "transformer": {**TINY_NEURAL_PARAMS["transformer"], "checkpoint_every": 2, "amp": False},
    "evaluate": {"bootstrap_resamples": 50},
}
SWEEP = "transformer.learning_rate=choice(0.0001,0.01)"


def _small_pipeline(repo: Path) -> None:
    """The real stages (cmds, code deps, params), cut to the ones a lexical + transformer sweep needs."""
    full = yaml.safe_load((repo / "dvc.yaml").read_text())
    stages = {name: full["stages"][name] for name in STAGES}
    stages["preprocess"]["deps"] = [d for d in stages["preprocess"]["deps"] if not d.startswith("data/collected")]
    stages["train_transformer"]["deps"].remove("models/pretrain")
    stages["evaluate"]["deps"] = [
        d
        for d in stages["evaluate"]["deps"]
        if not any(d.startswith(f"models/{m}") for m in ("gnn", "fusion"))
        and d.startswith(("models/", "src/", "data/"))
    ]
    (repo / "dvc.yaml").write_text(yaml.safe_dump({"stages": stages}, sort_keys=False))
    params = yaml.safe_load((repo / "params.yaml").read_text())
    (repo / "params.yaml").write_text(yaml.safe_dump(merge_params(params, SMALL), sort_keys=False))


def _experiments(shown: list) -> dict[str, dict]:
    """name -> {"state", "params", "metrics"} of every experiment in `dvc exp show --json`."""
    found = {}
    for baseline in shown:
        for exp in baseline.get("experiments") or []:
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                metrics = {
                    Path(path).stem: values.get("data") or {}
                    for path, values in (data.get("metrics") or {}).items()
                    if path.startswith("metrics/test/")
                }
                params = ((data.get("params") or {}).get("params.yaml") or {}).get("data") or {}
                found[rev.get("name") or exp.get("name") or rev["rev"]] = {
                    "state": rev.get("status") or data.get("status"),
                    "params": params,
                    "metrics": metrics,
                }
    return found


@pytest.mark.slow
@pytest.mark.integration
def test_a_queued_sweep_runs_two_experiments_in_parallel(tmp_path):
    repo = tmp_path / "repo"
    # what the stages read: the code, the sample, the DVC config and the top-level files
    tracked = ("src", "data/sample", ".dvc", ".dvcignore", "dvc.yaml", "params.yaml", "pyproject.toml", ".gitignore")
    for rel in sh(REPO, "git", "ls-files", "--", *tracked).stdout.split():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO / rel, repo / rel)
    _small_pipeline(repo)
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "small pipeline")

    # A run in this workspace holds its checkpoint folders for the whole sweep: a queued
    # experiment that trained into the workspace's checkpoints/ would stop on the claim.
    (repo / "checkpoints").mkdir()
    held = [open(repo / "checkpoints" / f".{m}.lock", "a+") for m in ("lexical", "transformer")]  # noqa: SIM115
    for fh in held:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    try:
        queued = sh(repo, "dvc", "exp", "run", "--queue", "-S", SWEEP).stdout
        assert queued.count("Queued experiment") == 2, queued
        sh(repo, "dvc", "queue", "start", "-j", "2")
        deadline = time.time() + 900
        while True:
            status = sh(repo, "dvc", "queue", "status").stdout
            if not any(word in status for word in ("Queued", "Running")):
                break
            assert time.time() < deadline, status
            time.sleep(5)
    finally:
        for fh in held:
            fh.close()
        subprocess.run(["dvc", "queue", "stop"], cwd=repo, env=command_env(), capture_output=True, timeout=120)
    assert "Failed" not in status, status + "\n" + _failed_logs(repo, status)

    exps = _experiments(json.loads(sh(repo, "dvc", "exp", "show", "--json").stdout))
    rates = {}
    for name, exp in exps.items():
        if exp["metrics"].get("transformer"):
            rates[exp["params"]["transformer"]["learning_rate"]] = (name, exp["metrics"]["transformer"])
    assert set(rates) == {0.0001, 0.01}, exps
    (slow_name, slow), (fast_name, fast) = rates[0.0001], rates[0.01]
    assert slow["roc_auc"] != fast["roc_auc"], (slow, fast)
    # the README's next step: paired tests between the two, by their `dvc exp show` names
    compared = sh(repo, "streamguard", "compare", slow_name, fast_name, "--md").stdout
    assert "transformer" in compared and "lexical" in compared, compared
    # the lexical branch had the same params in both: its metrics agree
    lexical = [exp["metrics"]["lexical"] for exp in exps.values() if exp["metrics"].get("lexical")]
    assert len(lexical) == 2 and lexical[0] == lexical[1]
    assert not (repo / "checkpoints" / "transformer").exists()


def _failed_logs(repo: Path, status: str) -> str:
    logs = []
    for line in status.splitlines():
        if "Failed" in line:
            name = line.split()[1]
            proc = subprocess.run(
                ["dvc", "queue", "logs", name], cwd=repo, env=command_env(), capture_output=True, text=True
            )
            logs.append(proc.stdout[-3000:])
    return "\n".join(logs)
