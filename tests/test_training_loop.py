"""The shared training loop: determinism, exact resume after SIGTERM, weighting, curves."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from streamguard.training.loop import sample_weights, train
from tiny_training import CFG, make_task

HERE = Path(__file__).parent


def _weights(path: Path) -> dict:
    return torch.load(path, weights_only=True)


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
    return subprocess.Popen([sys.executable, str(HERE / "tiny_training.py"), str(out), str(ckpt), str(delay)],
                            stderr=subprocess.PIPE, text=True)


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


def test_checkpoint_from_other_params_is_not_resumed(tmp_path):
    from dataclasses import replace

    from streamguard.training.loop import TrainingInterrupted

    try:
        train(make_task(), CFG, seed=7, out_dir=tmp_path / "o", checkpoint_dir=tmp_path / "ck", stop_after_steps=3)
    except TrainingInterrupted:
        pass
    other = replace(CFG, learning_rate=5e-4)
    result = train(make_task(), other, seed=7, out_dir=tmp_path / "o", checkpoint_dir=tmp_path / "ck")
    assert result.resumed_from_step == 0


def test_sample_weights_are_confidence_times_class_balance():
    w = sample_weights([1, 0, 0, 0], [0.5, 1.0, 1.0, 0.3])
    assert np.allclose(w, [0.5 * 2.0, 2 / 3, 2 / 3, 0.3 * 2 / 3])


def test_sampler_weighting_and_accumulation_train(tmp_path):
    from dataclasses import replace

    cfg = replace(CFG, weighting="sampler", grad_accum=2, epochs=1)
    result = train(make_task(), cfg, seed=1, out_dir=tmp_path / "s", checkpoint_dir=tmp_path / "cs")
    assert result.epochs_run == 1 and np.isfinite(result.history[0]["train_loss"])


def test_early_stopping_keeps_the_epoch_with_the_best_chosen_metric(tmp_path):
    from dataclasses import replace

    cfg = replace(CFG, epochs=3, patience=3, early_stopping_metric="mcc")
    result = train(make_task(), cfg, seed=3, out_dir=tmp_path / "m", checkpoint_dir=tmp_path / "cm")
    scores = [h["valid_mcc"] for h in result.history]
    assert result.best_epoch == 1 + scores.index(max(scores))
    assert result.best_valid_score == max(scores)
