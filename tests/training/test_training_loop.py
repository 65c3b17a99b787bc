"""The shared training loop: determinism, exact resume after SIGTERM, weighting, curves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TESTS
from tiny_training import CFG, make_task
from torch import nn

from streamguard.metrics import classification_summary
from streamguard.models.inference import predict_probs
from streamguard.params import TrainParams
from streamguard.training.checkpoints import atomic_torch_save
from streamguard.training.loop import (
    TrainingInterrupted,
    TrainingTask,
    TrainState,
    sample_weights,
    train,
)


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)


@pytest.mark.slow
def test_same_seed_same_metrics_and_weights(tmp_path):
    a = train(make_task(), CFG, seed=7, out_dir=tmp_path / "a", checkpoint_dir=tmp_path / "ca")
    b = train(make_task(), CFG, seed=7, out_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb")
    assert a.history == b.history
    wa, wb = _weights(tmp_path / "a" / "model.pt"), _weights(tmp_path / "b" / "model.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    c = train(make_task(), CFG, seed=8, out_dir=tmp_path / "c", checkpoint_dir=tmp_path / "cc")
    assert c.history != a.history  # the seed matters: the test can fail
    # dvclive wrote the curves dvc plots reads
    tsv = tmp_path / "a" / "live" / "plots" / "metrics" / "valid_f1.tsv"
    assert tsv.exists() and len(tsv.read_text().splitlines()) == 1 + len(a.history)


def _run(out: Path, ckpt: Path, delay: float) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(TESTS / "tiny_training.py"), str(out), str(ckpt), str(delay)],
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.slow
def test_sigterm_mid_epoch_then_resume_matches_uninterrupted(tmp_path):
    straight = _run(tmp_path / "straight", tmp_path / "ck_straight", 0.0)
    assert straight.wait(timeout=300) == 0, straight.stderr.read()

    proc = _run(tmp_path / "cut", tmp_path / "ck_cut", 0.05)
    ckpt = tmp_path / "ck_cut" / "checkpoint.pt"
    deadline = time.time() + 120
    while not ckpt.exists() and time.time() < deadline:  # first step checkpoint: mid-epoch 1
        time.sleep(0.05)
    assert ckpt.exists(), "no checkpoint before the deadline"
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=120) == 3, proc.stderr.read()
    state = json.loads(torch.load(ckpt, weights_only=True)["state"])
    stopped = json.loads((tmp_path / "cut" / "interrupted.json").read_text())
    # the checkpoint is the one written on the signal, not an older periodic one (every 5 steps)
    assert state["global_step"] == stopped["global_step"] > 0
    assert state["epoch"] == 0 and 0 < state["batch_in_epoch"] < 12  # stopped mid-epoch

    resumed = _run(tmp_path / "cut", tmp_path / "ck_cut", 0.0)
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()
    a = json.loads((tmp_path / "straight" / "result.json").read_text())
    b = json.loads((tmp_path / "cut" / "result.json").read_text())
    assert b["resumed_from_step"] > 0
    assert a["history"] == b["history"]
    wa, wb = _weights(tmp_path / "straight" / "model.pt"), _weights(tmp_path / "cut" / "model.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not (tmp_path / "ck_cut").exists()  # a finished run cleans its checkpoints


def _stop_at_step_3(tmp_path: Path, ckpt_dir: Path) -> None:
    with pytest.raises(TrainingInterrupted) as stopped:
        train(make_task(), CFG, seed=7, out_dir=tmp_path / "o", checkpoint_dir=ckpt_dir, stop_after_steps=3)
    assert stopped.value.global_step == 3 and (ckpt_dir / "checkpoint.pt").exists()


@pytest.mark.slow
def test_checkpoint_from_other_params_is_not_resumed(tmp_path):
    _stop_at_step_3(tmp_path, tmp_path / "same")
    _stop_at_step_3(tmp_path, tmp_path / "other")
    # positive control: the same params do resume from the checkpoint
    same = train(make_task(), CFG, seed=7, out_dir=tmp_path / "o", checkpoint_dir=tmp_path / "same")
    assert same.resumed_from_step == 3
    other = train(
        make_task(), replace(CFG, learning_rate=5e-4), seed=7, out_dir=tmp_path / "o", checkpoint_dir=tmp_path / "other"
    )
    assert other.resumed_from_step == 0


@pytest.mark.slow
@pytest.mark.parametrize("damage", ["truncated", "empty"])
def test_unreadable_checkpoint_is_set_aside_and_training_starts_fresh(tmp_path, capsys, damage):
    ckpt_dir = tmp_path / "ck"
    _stop_at_step_3(tmp_path, ckpt_dir)
    ckpt = ckpt_dir / "checkpoint.pt"
    damaged = ckpt.read_bytes()[: ckpt.stat().st_size // 2] if damage == "truncated" else b""
    ckpt.write_bytes(damaged)
    capsys.readouterr()
    result = train(make_task(), CFG, seed=7, out_dir=tmp_path / "o", checkpoint_dir=ckpt_dir)
    assert result.resumed_from_step == 0 and result.epochs_run == CFG.epochs
    assert (ckpt_dir / "checkpoint.pt.corrupt").read_bytes() == damaged  # kept for inspection
    assert not ckpt.exists()  # the finished run cleaned up after itself
    err = capsys.readouterr().err
    assert f"{ckpt} is unreadable" in err and "starting training from scratch" in err


class _Unpicklable:
    def __reduce__(self):
        raise RuntimeError("cannot pickle this")


def test_a_failed_save_leaves_the_previous_file_whole(tmp_path):
    path = tmp_path / "best.pt"
    atomic_torch_save({"w": torch.ones(3)}, path)
    with pytest.raises(RuntimeError, match="cannot pickle"):
        atomic_torch_save({"w": torch.zeros(3), "x": _Unpicklable()}, path)
    assert torch.equal(torch.load(path, weights_only=True)["w"], torch.ones(3))
    assert [p.name for p in tmp_path.iterdir()] == ["best.pt"]


def test_sample_weights_are_confidence_times_class_balance():
    w = sample_weights([1, 0, 0, 0], [0.5, 1.0, 1.0, 0.3])
    assert np.allclose(w, [0.5 * 2.0, 2 / 3, 2 / 3, 0.3 * 2 / 3])


@pytest.mark.slow
def test_sampler_weighting_and_accumulation_train(tmp_path):
    cfg = replace(CFG, weighting="sampler", grad_accum=2, epochs=1)
    result = train(make_task(), cfg, seed=1, out_dir=tmp_path / "s", checkpoint_dir=tmp_path / "cs")
    assert result.epochs_run == 1 and np.isfinite(result.history[0]["train_loss"])


@pytest.mark.slow
def test_early_stopping_keeps_the_epoch_with_the_best_chosen_metric(tmp_path):
    cfg = replace(CFG, epochs=3, patience=3, early_stopping_metric="mcc")
    result = train(make_task(), cfg, seed=3, out_dir=tmp_path / "m", checkpoint_dir=tmp_path / "cm")
    scores = [h["valid_mcc"] for h in result.history]
    assert result.best_epoch == 1 + scores.index(max(scores))
    assert result.best_valid_score == max(scores)


def _task_whose_valid_labels_are_flipped() -> TrainingTask:
    """Learning the training labels makes valid worse every epoch: early stopping must fire."""
    torch.manual_seed(0)
    x = torch.randn(64, 4)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).long().tolist()
    return TrainingTask(
        name="flipped",
        model=nn.Linear(4, 2),
        train_items=list(x),
        valid_items=list(x),
        train_labels=y,
        train_confidence=[1.0] * len(y),
        valid_labels=[1 - t for t in y],
        collate=torch.stack,
        forward=lambda model, batch, device: model(batch.to(device)),
        data_fingerprint="flipped",
    )


def test_early_stopping_stops_before_max_epochs_and_keeps_the_best_epochs_weights(tmp_path):
    cfg = replace(
        TrainParams(),
        epochs=12,
        patience=2,
        batch_size=16,
        learning_rate=0.05,
        warmup_ratio=0.0,
        checkpoint_every=0,
        early_stopping_metric="roc_auc",
        device="cpu",
    )
    task = _task_whose_valid_labels_are_flipped()
    result = train(task, cfg, seed=0, out_dir=tmp_path / "m", checkpoint_dir=tmp_path / "cm")
    scores = [h["valid_roc_auc"] for h in result.history]
    assert result.epochs_run == len(scores) == result.best_epoch + cfg.patience < cfg.epochs  # it really stopped
    assert result.best_epoch == 1 + scores.index(max(scores))
    # the weights left in the model and in model.pt are the best epoch's, not the last epoch's
    best, last = result.history[result.best_epoch - 1], result.history[-1]
    assert best["valid_loss"] != last["valid_loss"]
    saved = nn.Linear(4, 2)
    saved.load_state_dict(torch.load(tmp_path / "m" / "model.pt", weights_only=True))
    for model in (task.model, saved):
        probs = predict_probs(model, task.valid_items, task.collate, task.forward, torch.device("cpu"), 16)
        summary = classification_summary(np.asarray(task.valid_labels), probs)
        assert summary["loss"] == pytest.approx(best["valid_loss"], abs=1e-6)


@pytest.mark.slow
def test_validation_rounds_inside_epochs_resume_exactly_and_count_for_patience(tmp_path):
    cfg = replace(CFG, validate_every_steps=4)  # 12 steps an epoch, 2 epochs
    full = train(make_task(), cfg, seed=7, out_dir=tmp_path / "a", checkpoint_dir=tmp_path / "ca")
    # one round at each epoch's end, even where a round inside it would fall on the same step
    assert [(h["epoch"], h["step"]) for h in full.history] == [(1, 4), (1, 8), (1, 12), (2, 16), (2, 20), (2, 24)]
    tsv = tmp_path / "a" / "live" / "plots" / "metrics" / "valid_f1.tsv"
    assert len(tsv.read_text().splitlines()) == 1 + 6  # a curve point a round
    scores = [h["valid_mcc"] for h in full.history]
    assert full.best_step == full.history[scores.index(max(scores))]["step"]
    # stopped one step after the round at step 8, resumed: the same rounds, none repeated, the same weights
    with pytest.raises(TrainingInterrupted):
        train(make_task(), cfg, seed=7, out_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb", stop_after_steps=9)
    resumed = train(make_task(), cfg, seed=7, out_dir=tmp_path / "b", checkpoint_dir=tmp_path / "cb")
    assert resumed.resumed_from_step == 9 and resumed.history == full.history
    wa, wb = _weights(tmp_path / "a" / "model.pt"), _weights(tmp_path / "b" / "model.pt")
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    # the end of a step budget validates once, too
    budget = make_task()
    budget.max_steps = 20
    capped = train(budget, cfg, seed=7, out_dir=tmp_path / "c", checkpoint_dir=tmp_path / "cc")
    assert [h["step"] for h in capped.history] == [4, 8, 12, 16, 20]

    # patience counts rounds: a task that gets worse every step stops inside its first epoch
    flipped = replace(
        TrainParams(),
        epochs=12,
        patience=2,
        batch_size=8,  # 8 steps an epoch
        learning_rate=0.05,
        warmup_ratio=0.0,
        checkpoint_every=0,
        early_stopping_metric="roc_auc",
        device="cpu",
        validate_every_steps=1,
    )
    task = _task_whose_valid_labels_are_flipped()
    stopped = train(task, flipped, seed=0, out_dir=tmp_path / "f", checkpoint_dir=tmp_path / "cf")
    assert [h["step"] for h in stopped.history] == [1, 2, 3] and stopped.epochs_run == 1
    assert stopped.best_step == 1 and stopped.best_epoch == 1


# "state" entries of checkpoints the loop wrote: before any validation round, and after a mid-epoch one
SAVED_STATES = [
    '{"epoch": 0, "batch_in_epoch": 3, "global_step": 1, "best_score": -Infinity, "best_epoch": -1, "best_step": -1, '
    '"bad_epochs": 0, "history": [], "accum_loss": 16.610828161239624, "accum_weight": 24.0}',
    '{"epoch": 0, "batch_in_epoch": 12, "global_step": 4, "best_score": 0.0, "best_epoch": 1, "best_step": 2, '
    '"bad_epochs": 0, "history": [{"epoch": 1, "step": 2, "train_loss": 0.6938471719622612, "valid_loss": '
    '0.6939581632614136, "valid_f1": 0.6382978723404256, "valid_accuracy": 0.46875, "valid_mcc": 0.0, '
    '"valid_roc_auc": 0.4117647058823529}], "accum_loss": 33.46305227279663, "accum_weight": 48.0}',
]


@pytest.mark.parametrize("saved", SAVED_STATES)
def test_a_checkpoints_state_reads_into_train_state_and_writes_back_byte_for_byte(saved):
    state = TrainState.from_json(saved)
    assert state.to_json() == saved
    raw = json.loads(saved)
    assert (state.global_step, state.batch_in_epoch, state.best_step) == (
        raw["global_step"],
        raw["batch_in_epoch"],
        raw["best_step"],
    )


def test_a_fresh_train_state_is_the_start_of_a_run():
    assert TrainState().to_json() == (
        '{"epoch": 0, "batch_in_epoch": 0, "global_step": 0, "best_score": -Infinity, "best_epoch": -1, '
        '"best_step": -1, "bad_epochs": 0, "history": [], "accum_loss": 0.0, "accum_weight": 0.0}'
    )
