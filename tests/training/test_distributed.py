"""Data-parallel training on CPU: real torchrun processes, gloo, the tiny models of the other tests."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from conftest import TESTS, TINY_SAFE_FUNCTIONS, TINY_VULNERABLE_FUNCTIONS

from streamguard.errors import StreamGuardError

SCRIPT = TESTS / "tiny_distributed.py"

# 2 processes sum gradients in another order than 1 process does (rank sums, then across ranks),
# and each rank pads its own token batches: float32 rounding (~1e-7 relative a step) compounds through
# AdamW's few dozen steps. Differences beyond this mean a different computation, not rounding.
ATOL = 2e-5


def _env() -> dict:
    # one intra-op thread per process: 2 processes share this 2-core machine
    path = os.pathsep.join(p for p in (str(TESTS), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}


def _spec(tmp: Path, name: str, **spec) -> Path:
    base = {"model": "transformer", "out": str(tmp / f"{name}_out_{{rank}}"), "ckpt": str(tmp / f"{name}_ck_{{rank}}")}
    path = tmp / f"{name}.json"
    path.write_text(json.dumps({"seed": 7, **base, **spec}))
    return path


def _start(spec: Path, nproc: int) -> subprocess.Popen:
    launcher = [sys.executable]
    if nproc > 1:
        launcher += ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", str(nproc)]
    return subprocess.Popen(
        [*launcher, str(SCRIPT), str(spec)], env=_env(), stderr=subprocess.PIPE, text=True, start_new_session=True
    )


def _run(spec: Path, nproc: int) -> None:
    proc = _start(spec, nproc)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err[-3000:]


def _out(tmp: Path, name: str, rank: int = 0) -> Path:
    return tmp / f"{name}_out_{rank}"


def _result(tmp: Path, name: str) -> dict:
    return json.loads((_out(tmp, name) / "result.json").read_text())


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _assert_close_histories(a: list[dict], b: list[dict], valid_pairs: int) -> None:
    """Equal within ATOL, except ROC-AUC: within 3 of the valid set's (vulnerable, safe) pairs.

    ROC-AUC counts ordered pairs. The tiny models' valid probabilities lie within ~1e-3 of each
    other, so a rounding difference of 1e-7 can turn a tie into an order (half a pair) or swap
    two near-equal ones (a pair); a different computation moves it by far more.
    """
    assert [h.keys() for h in a] == [h.keys() for h in b]
    for ha, hb in zip(a, b):
        for key in ha:
            tolerance = 3 / valid_pairs if key == "valid_roc_auc" else ATOL
            assert ha[key] == pytest.approx(hb[key], abs=tolerance), (ha["epoch"], key)


def _tiny_valid_pairs(n_train: int) -> int:
    """(vulnerable, safe) pairs of tiny_training's valid set: the 32 sample records after the training ones."""
    from conftest import SAMPLE

    from streamguard.data.records import read_records

    labels = [r.target for r in list(read_records(SAMPLE))[n_train : n_train + 32]]
    return sum(labels) * (len(labels) - sum(labels))


def _max_weight_gap(a: Path, b: Path) -> float:
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys()
    return max(float((wa[k].float() - wb[k].float()).abs().max()) for k in wa)


# dropout 0: dropout masks are drawn per process, so with dropout 2 processes drop other units than
# 1 process; without it the only difference left is float rounding (ATOL). 97 functions in batches of 8:
# the last global batch holds 1 function, so rank 1's slice of it is empty. grad_accum 2: accumulation
# and the loss-weighted global mean across ranks are both exercised.
EQUIVALENCE = {"cfg": {"dropout": 0.0, "grad_accum": 2, "epochs": 2, "learning_rate": 3e-3}, "n_train": 97}


@pytest.mark.slow
@pytest.mark.integration
def test_two_processes_end_with_the_weights_and_metrics_of_one(tmp_path):
    _run(_spec(tmp_path, "one", **EQUIVALENCE), 1)
    _run(_spec(tmp_path, "two", **EQUIVALENCE), 2)
    one, two = _result(tmp_path, "one"), _result(tmp_path, "two")
    assert len(one["history"]) == 2 and one["best_epoch"] == two["best_epoch"]
    _assert_close_histories(one["history"], two["history"], _tiny_valid_pairs(EQUIVALENCE["n_train"]))
    gap = _max_weight_gap(_out(tmp_path, "one") / "model.pt", _out(tmp_path, "two") / "model.pt")
    assert gap < ATOL
    # rank 0 alone wrote: rank 1's folders were never made, rank 0's hold the curves and the model
    assert not _out(tmp_path, "two", 1).exists() and not (tmp_path / "two_ck_1").exists()
    curve = _out(tmp_path, "two") / "live" / "plots" / "metrics" / "valid_loss.tsv"
    assert len(curve.read_text().splitlines()) == 1 + 2
    # positive control: another learning rate moves the weights far beyond ATOL
    other = {**EQUIVALENCE, "cfg": {**EQUIVALENCE["cfg"], "learning_rate": 2e-3}}
    _run(_spec(tmp_path, "other", **other), 2)
    assert _max_weight_gap(_out(tmp_path, "one") / "model.pt", _out(tmp_path, "other") / "model.pt") > 100 * ATOL


@pytest.mark.slow
@pytest.mark.integration
def test_sigterm_mid_epoch_then_resume_under_two_processes_ends_as_uninterrupted(tmp_path):
    # dropout stays on: under 2 processes its draws depend on (seed, epoch, batch, rank), so resume is exact
    spec = {"cfg": {"checkpoint_every": 2, "epochs": 2}}
    _run(_spec(tmp_path, "straight", **spec), 2)

    cut = _spec(tmp_path, "cut", delay=0.3, **spec)
    proc = _start(cut, 2)
    ckpt = tmp_path / "cut_ck_0" / "checkpoint.pt"
    deadline = time.time() + 300
    while not ckpt.exists() and time.time() < deadline:  # the first periodic checkpoint: mid-epoch 1
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint before the deadline"
    os.kill(proc.pid, signal.SIGTERM)  # torchrun passes it on to both ranks
    _, err = proc.communicate(timeout=300)
    assert proc.returncode != 0
    stopped = json.loads((_out(tmp_path, "cut") / "interrupted.json").read_text())
    state = json.loads(torch.load(ckpt, weights_only=True)["state"])
    assert state["global_step"] == stopped["global_step"] > 0, err[-3000:]
    assert state["epoch"] == 0 and 0 < state["batch_in_epoch"] < 12  # stopped mid-epoch

    resumed = json.loads(cut.read_text())
    cut.write_text(json.dumps({**resumed, "delay": 0.0}))
    _run(cut, 2)
    a, b = _result(tmp_path, "straight"), _result(tmp_path, "cut")
    assert b["resumed_from_step"] == stopped["global_step"]
    assert a["history"] == b["history"]
    wa, wb = _weights(_out(tmp_path, "straight") / "model.pt"), _weights(_out(tmp_path, "cut") / "model.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not (tmp_path / "cut_ck_0").exists()  # the finished run cleaned its checkpoints


@pytest.mark.slow
@pytest.mark.integration
def test_gnn_with_an_uneven_number_of_graphs_per_rank_finishes(tmp_path, tiny_graphs_dir):
    # 7 graphs in batches of 3: global batches of 3, 3, 1 graphs; rank 0 takes 2, 2, 1 and rank 1 takes 1, 1, 0
    spec = {"model": "gnn", "graphs": str(tiny_graphs_dir), "n_train": 7, "cfg": {"dropout": 0.0}}
    _run(_spec(tmp_path, "gnn1", **spec), 1)
    _run(_spec(tmp_path, "gnn2", **spec), 2)
    one, two = _result(tmp_path, "gnn1"), _result(tmp_path, "gnn2")
    assert len(two["history"]) == 3
    _assert_close_histories(one["history"], two["history"], valid_pairs=4 * 4)
    assert _max_weight_gap(_out(tmp_path, "gnn1") / "model.pt", _out(tmp_path, "gnn2") / "model.pt") < ATOL


@pytest.mark.slow
@pytest.mark.integration
def test_a_checkpoint_resumes_on_another_world_size(tmp_path):
    # the checkpoint holds the global step and the order is global: each world size recomputes its shards
    _run(_spec(tmp_path, "ref", **EQUIVALENCE), 1)
    for name, first, then in (("two_then_one", 2, 1), ("one_then_two", 1, 2)):
        spec = _spec(tmp_path, name, stop=3, **EQUIVALENCE)
        proc = _start(spec, first)
        _, err = proc.communicate(timeout=600)
        assert proc.returncode != 0 and json.loads((_out(tmp_path, name) / "interrupted.json").read_text()) == {
            "global_step": 3
        }, err[-3000:]
        spec.write_text(json.dumps({**json.loads(spec.read_text()), "stop": None}))
        _run(spec, then)
        result = _result(tmp_path, name)
        assert result["resumed_from_step"] == 3, name
        _assert_close_histories(
            _result(tmp_path, "ref")["history"], result["history"], _tiny_valid_pairs(EQUIVALENCE["n_train"])
        )
        assert _max_weight_gap(_out(tmp_path, "ref") / "model.pt", _out(tmp_path, name) / "model.pt") < ATOL


@pytest.fixture(scope="module")
def stage_data(tmp_path_factory):
    """data/processed and data/graphs of a tiny stage: 8 train, 8 valid and 8 test functions, all distinct."""
    from streamguard.data.records import Record, write_records
    from streamguard.params import GraphParams, Params
    from streamguard.stages.graphs import run_graphs_stage

    root = tmp_path_factory.mktemp("stage")
    for split, extra in (("train", ""), ("valid", " int v = 1;"), ("test", " int t = 2;")):
        records = [Record(func=f.replace("{", "{" + extra, 1), target=1) for f in TINY_VULNERABLE_FUNCTIONS]
        records += [Record(func=f.replace("{", "{" + extra, 1), target=0) for f in TINY_SAFE_FUNCTIONS]
        write_records(root / "processed" / f"{split}.jsonl", records)
    run_graphs_stage(root / "processed", root / "graphs", Params(graph=GraphParams(workers=1, min_token_count=1)))
    return root / "processed", root / "graphs"


@pytest.mark.slow
@pytest.mark.integration
def test_streamguard_train_with_nproc_per_node_2_launches_torchrun_itself(tmp_path, stage_data):
    processed, graphs = stage_data
    gnn = {"hidden_size": 16, "num_layers": 2, "epochs": 2, "batch_size": 3, "device": "cpu", "nproc_per_node": 2}
    params = tmp_path / "params.yaml"
    params.write_text(json.dumps({"gnn": gnn}))  # JSON is YAML
    out = tmp_path / "models" / "gnn"
    cmd = [sys.executable, "-m", "streamguard.cli", "--params", str(params), "train", "gnn"]
    cmd += ["--processed", str(processed), "--graphs", str(graphs), "--out", str(out)]
    done = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    # one launch (the ranks see WORLD_SIZE and do not launch again), two ranks, one writer
    assert done.stderr.count("starting 2 training processes") == 1
    assert done.stderr.count("train gnn: 8 functions") == 1
    assert (out / "model.pt").exists() and (out / "run_info.json").exists()
    assert len((out / "predictions.jsonl").read_text().splitlines()) == 16  # valid + test
    assert not list((tmp_path / "checkpoints").rglob("*.pt"))  # finished: checkpoints cleaned


def test_every_item_of_a_global_batch_goes_to_exactly_one_rank():
    from streamguard.io.ranks import DistContext

    batch = [7, 3, 9, 1, 4]  # a short final batch: 5 items
    for world in (1, 2, 3, 8):
        shards = [DistContext(rank, world).shard(batch) for rank in range(world)]
        assert sorted(i for shard in shards for i in shard) == sorted(batch)
        assert max(map(len, shards)) - min(map(len, shards)) <= 1  # world 8: three ranks get none


def test_one_node_launches_standalone_and_several_pass_the_rendezvous_on(monkeypatch):
    from streamguard.training.launch import torchrun_args

    for name in ("NNODES", "NODE_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    argv = ["train", "gnn"]
    assert torchrun_args(2, argv) == ["--nproc_per_node", "2", "--standalone", "-m", "streamguard.cli", *argv]
    monkeypatch.setenv("NNODES", "2")
    monkeypatch.setenv("NODE_RANK", "1")
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.5")
    args = torchrun_args(4, argv)
    assert args[:10] == [
        "--nproc_per_node",
        "4",
        "--nnodes",
        "2",
        "--node_rank",
        "1",
        "--master_addr",
        "10.0.0.5",
        "--master_port",
        "29500",
    ]
    monkeypatch.delenv("MASTER_ADDR")
    with pytest.raises(StreamGuardError, match="NNODES=2 needs MASTER_ADDR"):
        torchrun_args(4, argv)
    monkeypatch.setenv("MASTER_ADDR", "10.0.0.5")
    monkeypatch.setenv("NODE_RANK", "2")
    with pytest.raises(StreamGuardError, match="NODE_RANK=2 but NNODES=2"):
        torchrun_args(4, argv)


def test_a_process_an_outer_launcher_started_never_launches_again(monkeypatch):
    from streamguard.params import Params
    from streamguard.training.launch import relaunch_stage

    params = Params()
    params.gnn = replace(params.gnn, nproc_per_node=2)
    monkeypatch.setenv("WORLD_SIZE", "2")  # as torchrun or SageMaker's torch_distributed sets it
    assert relaunch_stage("train", "gnn", params, ["train", "gnn"]) is None
    monkeypatch.delenv("WORLD_SIZE")
    assert relaunch_stage("train", "lexical", params, ["train", "lexical"]) is None  # one process always
